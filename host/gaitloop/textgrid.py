"""Boxed tables as plain text lines, laid out in well under a millisecond.

Why not rich's `Table` here: the live terminal view is drawn on every frame that arrives, and
rich spends 5-20 ms of CPU laying out three small tables per draw (and ~4 ms just to place 22
lines of finished text through `Live`; `tools/bench/bench_stream_latency.py`). At 25 draws a
second that is a fifth of a core and still 40 ms between draws, so the table showed a sample
~100 ms after it left the board (p99). The view's tables are simple (one line per row, one
column that may fold), so this module lays them out with string operations and
`termscreen.TermScreen` writes only the lines that changed. The look follows rich's default
table (heavy header rule, light body, the title centred above), so the view reads as before.

A line is a pair (style, text): text has no control characters and is at most `width` cells;
style is "" or a rich style name ("bold", "dim", "italic") the screen maps to SGR codes.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len

Line = tuple[str, str]


@dataclass(frozen=True)
class Column:
    """name: header text; right: right-justified; min_width: never narrower (device names are
    never cut); fold: the column that wraps (word-wise) when the table is wider than the screen."""

    name: str
    right: bool = False
    min_width: int = 0
    fold: bool = False


def cells(text: str) -> int:
    """Terminal cells of `text` (ASCII is the common, cheap case)."""
    return len(text) if text.isascii() else cell_len(text)


def fit(text: str, width: int) -> str:
    """`text` cut to at most `width` cells (a line that wrapped would move every line below)."""
    if cells(text) <= width:
        return text
    out = []
    used = 0
    for ch in text:
        w = cells(ch)
        if used + w > width:
            break
        out.append(ch)
        used += w
    return "".join(out)


def pad(text: str, width: int, right: bool = False) -> str:
    gap = width - cells(text)
    if gap <= 0:
        return text
    return " " * gap + text if right else text + " " * gap


def wrap(text: str, width: int) -> list[str]:
    """Word-wrapped lines of `text` at `width` (words longer than a line are split)."""
    if cells(text) <= width:
        return [text]
    return textwrap.wrap(text, max(1, width), break_long_words=True, break_on_hyphens=False) or [""]


def paragraph(text: str, width: int, style: str = "") -> list[Line]:
    """A free line of text (a summary, the legend), wrapped to the screen's width."""
    return [(style, ln) for ln in wrap(text, width)]


def grid(title: str, columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int,
         header: bool = True, min_widths: list[int] | None = None) -> list[Line]:
    """The table as lines no wider than `width`: title, header (when `header`), rows, rule.

    Columns are as wide as their widest cell; if that is wider than `width`, the `fold`
    columns give up the difference (down to 8 cells) and their cells wrap over more lines.
    `min_widths`, when given, holds each column's width from the previous draw and is raised
    in place, so columns only grow while a view is live (a count gaining a digit does not
    shift every column to its right back and forth)."""
    n = len(columns)
    widths = [max(c.min_width, cells(c.name) if header else 0) for c in columns]
    for row in rows:
        for i, cell in enumerate(row):
            w = cells(cell)
            if w > widths[i]:
                widths[i] = w
    if min_widths is not None:
        if len(min_widths) != n:
            min_widths[:] = [0] * n
        for i in range(n):
            widths[i] = min_widths[i] = max(widths[i], min_widths[i])
    total = sum(widths) + 3 * n + 1
    if total > width:
        for i, c in enumerate(columns):
            if c.fold and total > width:
                cut = min(widths[i] - 8, total - width)
                if cut > 0:
                    widths[i] -= cut
                    total -= cut
    top, head_rule, body_top = ("┏", "┳", "┓"), ("┡", "╇", "┩"), ("┌", "┬", "┐")
    # lines are cut only when even the folded table is wider than the screen (the cut is
    # the slow part: box characters are not ASCII)
    cut = (lambda s: fit(s, width)) if total > width else (lambda s: s)
    out: list[Line] = []
    if title:
        out.append(("italic", cut(pad(" " * max(0, (total - cells(title)) // 2) + title, total))))

    def rule(left: str, mid: str, right: str, fill: str) -> str:
        return cut(left + mid.join(fill * (w + 2) for w in widths) + right)

    if header:
        out.append(("", rule(*top, "━")))
        out.append(("bold", cut("┃ " + " ┃ ".join(pad(c.name, w) for c, w in zip(columns, widths, strict=True))
                                + " ┃")))
        out.append(("", rule(*head_rule, "━")))
    else:
        out.append(("", rule(*body_top, "─")))
    folds = [c.fold for c in columns]
    rights = [c.right for c in columns]
    for row in rows:
        parts = [wrap(cell, widths[i]) if folds[i] else [fit(cell, widths[i])]
                 for i, cell in enumerate(row)]
        for k in range(max(len(p) for p in parts)):
            cols = [pad(p[k] if k < len(p) else "", widths[i], rights[i]) for i, p in enumerate(parts)]
            out.append(("", cut("│ " + " │ ".join(cols) + " │")))
    out.append(("", rule("└", "┴", "┘", "─")))
    return out
