"""A block of lines kept at the bottom of a terminal, rewritten in place line by line.

Why not rich's `Live`: it lays out and rewrites the whole block on every refresh (~4 ms of
CPU for 22 finished lines here), and the live view redraws on every frame that arrives. Only
a few lines change per frame (the clock, a board's sample count, its latest values), so this
writes just those: cursor up to the block's top, then per line either the new text or a bare
newline, in one `write`. Output that other code prints while the block is up (a warning, a
reconnect notice) goes above the block, as with `Live`: `sys.stdout` / `sys.stderr` are
proxied while the screen is open (a BLE stack's thread may print: writes are serialised).
"""

from __future__ import annotations

import shutil
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from gaitloop.textgrid import Line, fit

_SGR = {"": "", "bold": "\x1b[1m", "dim": "\x1b[2m", "italic": "\x1b[3m"}
_RESET = "\x1b[0m"
_HIDE_CURSOR, _SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"
_CLEAR_LINE, _CLEAR_DOWN = "\x1b[2K", "\x1b[J"


class TermScreen:
    """`draw(lines)` shows `lines` (from `textgrid`) in place of the previous block.

    The cursor rests at the start of the line below the block. Lines are cut to the terminal's
    width (a wrapped line would throw every later line off by one) and the block to its height
    less one (the cursor cannot move above the screen's top), the last line saying how many
    lines are not shown."""

    def __init__(self, out: TextIO, size: Callable[[], tuple[int, int]] | None = None,
                 styles: bool = True) -> None:
        self.out = out
        self.size = size or (lambda: tuple(shutil.get_terminal_size()))  # type: ignore[return-value]
        self.styles = styles
        self._shown: list[str] = []  # the block as written, one string per terminal row
        self._last: Sequence[Line] = ()
        self.writes = 0  # draws that wrote anything
        self.bytes = 0
        self._lock = threading.RLock()  # the session's thread draws; any thread may print

    def _rows(self, lines: Sequence[Line]) -> list[str]:
        cols, height = self.size()
        room = max(1, height - 1)
        if len(lines) > room:
            hidden = len(lines) - room + 1
            lines = [*lines[:room - 1], ("dim", f"... {hidden} more lines (a taller terminal shows them)")]
        rows = []
        for style, text in lines:
            text = fit(text, cols)
            rows.append(_SGR[style] + text + _RESET if style and self.styles else text)
        return rows

    def draw(self, lines: Sequence[Line]) -> None:
        with self._lock:
            self._draw(lines)

    def _draw(self, lines: Sequence[Line]) -> None:
        self._last = lines
        rows = self._rows(lines)
        old = self._shown
        if rows == old:
            return
        parts = [f"\x1b[{len(old)}A\r" if old else "\r"]
        for i, row in enumerate(rows):
            parts.append("\n" if i < len(old) and old[i] == row else _CLEAR_LINE + row + "\n")
        if len(rows) < len(old):
            parts.append(_CLEAR_DOWN)
        data = "".join(parts)
        self._write(data)
        self._shown = rows
        self.writes += 1
        self.bytes += len(data)

    def _write(self, data: str) -> None:
        self.out.write(data)
        self.out.flush()

    def clear(self) -> None:
        """Erase the block (the cursor goes to where its top was)."""
        with self._lock:
            if self._shown:
                self._write(f"\x1b[{len(self._shown)}A\r" + _CLEAR_DOWN)
                self._shown = []

    def above(self, text: str) -> None:
        """Print `text` (whole lines) above the block, then put the block back."""
        with self._lock:
            self.clear()
            self._write(text)
            self._draw(self._last)

    def open(self) -> None:
        self._write(_HIDE_CURSOR)

    def close(self) -> None:
        """Leave the last block on the screen, the cursor below it and visible."""
        self._write(_SHOW_CURSOR)


class _Proxy:
    """sys.stdout / sys.stderr while a screen is up: whole lines go above the block."""

    def __init__(self, screen: TermScreen, real: TextIO) -> None:
        self._screen, self._real, self._buf = screen, real, ""

    def write(self, text: str) -> int:
        with self._screen._lock:
            self._buf += text
            if "\n" in self._buf:
                done, _, self._buf = self._buf.rpartition("\n")
                self._screen.above(done + "\n")
        return len(text)

    def flush(self) -> None:
        pass

    def release(self) -> None:
        if self._buf:
            self._screen.above(self._buf + "\n")
            self._buf = ""

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding ... of the real stream
        return getattr(self._real, name)


class screen_open:
    """`with screen_open(screen): ...`: hides the cursor and routes prints above the block;
    on exit (also on Ctrl-C) leaves the last block on screen and restores both."""

    def __init__(self, screen: TermScreen) -> None:
        self.screen = screen
        self._saved: tuple[Any, Any] | None = None

    def __enter__(self) -> TermScreen:
        self.screen.open()
        self._saved = (sys.stdout, sys.stderr)
        sys.stdout = _Proxy(self.screen, self._saved[0])  # type: ignore[assignment]
        sys.stderr = _Proxy(self.screen, self._saved[1])  # type: ignore[assignment]
        return self.screen

    def __exit__(self, *exc: object) -> None:
        assert self._saved is not None
        proxies = (sys.stdout, sys.stderr)
        sys.stdout, sys.stderr = self._saved
        for p in proxies:
            if isinstance(p, _Proxy):
                p.release()
        self.screen.close()
