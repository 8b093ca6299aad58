"""One start-and-teardown for the web tests and the serve benchmark: virtual boards, the real
`gaitloop serve` CLI on a free port, and (optionally) Debian's chromium driven by Playwright.

Why one context manager: every browser test and `tools/bench/bench_serve_latency.py` repeated
the same nested try/finally (start boards, start serve, launch the browser; close the browser,
stop serve, stop the boards), and a copy that forgot one step left a MicroPython board or a
serve process running after a failed test. `serving(...)` does it once, in that order, and
tears down in reverse whatever was started, whatever failed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
WALK = ROOT / "data" / "gaitpdb" / "GaCo01_01.txt"
VIEWPORT = {"width": 1200, "height": 900}


def chromium() -> str:
    """Debian's chromium (the registry's browser download is not reachable here); skipped
    without it, a failure in CI."""
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs Debian's chromium)")
        pytest.skip("chromium not installed: apt-get install chromium to run the browser tests")
    pytest.importorskip("playwright")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(args: list[str], timeout: float = 60.0) -> tuple[subprocess.Popen, str]:
    """`gaitloop serve ARGS` as a process; returns it and its URL once /api/status answers."""
    exe = Path(sys.executable).with_name("gaitloop")
    proc = subprocess.Popen([str(exe), "serve", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if line.startswith("serving: "):
            url = line.split(" ", 1)[1].strip()
            for _ in range(100):  # the line comes just before uvicorn binds
                try:
                    urllib.request.urlopen(url.split("?")[0] + "api/status", timeout=2)
                    return proc, url
                except OSError:
                    time.sleep(0.1)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    proc.wait(5)
    raise AssertionError(f"serve did not start: {proc.stderr.read()[-2000:]}")


def stop_serve(proc: subprocess.Popen) -> None:
    """SIGTERM (uvicorn's shut-down, the recording closed), killed after 15 s."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@dataclass
class Served:
    """What `serving` started: the serve process, its URL (with the token when there is one),
    the board ports, and the browser and its first page when one was asked for."""

    proc: subprocess.Popen
    url: str
    ports: list[str]
    browser: Any = None
    page: Any = None
    _pages: list[Any] = field(default_factory=list)

    @property
    def base(self) -> str:
        """The URL without its query (`.../`): for API requests."""
        return self.url.split("?")[0]

    def new_page(self, timeout_ms: float = 45000) -> Any:
        """Another page of the browser on the live page (goto done)."""
        page = self.browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(timeout_ms)
        page.goto(self.url)
        self._pages.append(page)
        return page

    def stderr(self) -> str:
        """The server's stderr: only after the `with` block (the process has ended)."""
        return self.proc.stderr.read()


@contextmanager
def serving(boards: list[Any], sessions: Path | None, *args: str, browser: bool = False,
            live_page: bool = True, timeout: float = 60.0, page_timeout_ms: float = 45000) -> Iterator[Served]:
    """Start `boards` (VirtualBoards), `gaitloop serve --listen 127.0.0.1:<free> --port <each>
    [--sessions DIR] ARGS`, and with `browser` chromium (with `live_page`: one page open on the
    live page, `.page`).
    On exit, whatever happened: the browser closes, serve stops (SIGTERM), the boards stop."""
    with ExitStack() as stack:
        ports = []
        for b in boards:
            stack.callback(b.stop)  # registered before start: a board that half-started is stopped
            ports.append(b.start())
        exe = chromium() if browser else None
        cli = ["--listen", f"127.0.0.1:{free_port()}", *[a for p in ports for a in ("--port", p)]]
        if sessions is not None:
            cli += ["--sessions", str(sessions)]
        proc, url = start_serve([*cli, *args], timeout=timeout)
        stack.callback(stop_serve, proc)
        served = Served(proc, url, ports)
        if exe is not None:
            from playwright.sync_api import sync_playwright

            pw = stack.enter_context(sync_playwright())
            served.browser = pw.chromium.launch(executable_path=exe, args=["--no-sandbox"])
            stack.callback(served.browser.close)
            if live_page:
                served.page = served.new_page(page_timeout_ms)
        yield served


def still_drawing(page: Any, ms: float = 1000) -> bool:
    """Whether the live page took new points within `ms` (after a board write, say)."""
    n0 = page.evaluate("window.gaitloop.points")
    page.wait_for_timeout(ms)
    return page.evaluate("window.gaitloop.points") > n0
