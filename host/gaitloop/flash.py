"""Flash a board: compile the firmware with mpy-cross, install it with mpremote, reboot, verify.

Why mpremote over the console rather than a bootloader: MicroPython boards already run a REPL
on USB; copying `.mpy` files over the raw REPL is how the firmware's Python part is installed
(the MicroPython runtime itself is flashed once, with the vendor's tool). `resume` keeps
mpremote from soft-resetting first, so a streaming app is interrupted with Ctrl-C instead.
The files go through the same install path as `gaitloop push` (`push.install_files`): each
lands as `NAME.new`, the board hashes them, and only if every SHA-256 matches are they renamed
into place (main.py after the modules, config.json last), so a corrupted or interrupted flash
leaves the previous firmware as it was. A Ctrl-D then soft-resets the board into the new
firmware, and the command waits for its HELLO to confirm the version and device that now run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from gaitloop.errors import BoardError
from gaitloop.messages import Hello
from gaitloop.sim.vboard import _tool, install_firmware


def stage_firmware(stage: Path, arch: str, config: dict[str, Any] | None) -> list[tuple[Path, str]]:
    """Lay out what goes on the board (lib/gaitfw/*.mpy, main.py, config.json) and return it
    as (local path, board name) in commit order: main.py only goes live once every module it
    imports has, and config.json last, as in a push."""
    modules = install_firmware(stage, compile_mpy=True, arch=arch)
    files = [(f, f.relative_to(stage).as_posix()) for f in modules]
    files.append((stage / "main.py", "main.py"))
    if config is not None:
        (stage / "config.json").write_text(json.dumps(config))
        files.append((stage / "config.json", "config.json"))
    return files


def _mpremote(port: str, *args: str, timeout: float = 120) -> str:
    proc = subprocess.run([_tool("mpremote"), "connect", port, "resume", *args],
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        raise BoardError(f"mpremote on {port} failed: {msg[-1] if msg else proc.returncode}")
    return proc.stdout


def wait_for_hello(port: str, timeout: float = 10.0) -> Hello:
    """Reboot the board into its app (Ctrl-D at the REPL) and wait for its HELLO."""
    from gaitloop.link import open_link
    from gaitloop.stream import StreamSession

    session = StreamSession([open_link(port)])
    ch = session.channels[0]
    try:
        ch.link.write(b"\x02\r\x04")  # leave a raw REPL (Ctrl-B), then soft reset (Ctrl-D)
        session.open()
        end = time.monotonic() + timeout
        asked = time.monotonic()
        while ch.state.hello is None and time.monotonic() < end:
            session.poll()
            if time.monotonic() - asked > 1.0:
                asked = time.monotonic()
                from gaitfw import protocol as P

                ch.send(P.CMD_HELLO)
    finally:
        session.close()
    if ch.state.hello is None:
        raise BoardError(f"{port}: no HELLO within {timeout:.0f} s after flashing")
    return ch.state.hello


def flash(port: str, arch: str = "host", config: dict[str, Any] | None = None,
          verify: bool = True) -> dict[str, Any]:
    """Install the firmware (and optionally a config) on the board on `port`, staged and
    hash-checked so a failed transfer changes nothing; reboot into it; return a summary."""
    # imported here: push builds on this module's mpremote and HELLO helpers
    from gaitloop.push import install_files
    from gaitloop.update import provision

    stage = Path(tempfile.mkdtemp(prefix="gaitloop-flash-"))
    try:
        # the update key, once (also the first word with the board: a silent port fails here)
        files = provision.stage_key(port, stage, config) + stage_firmware(stage, arch, config)
        install_files(port, files)
        out: dict[str, Any] = {"port": port, "arch": arch,
                               "files": len(files) - (config is not None)}
        if verify:
            hello = wait_for_hello(port)
            out.update(device=hello.device, kind=hello.kind, side=hello.side, fw=hello.fw)
            if "error" in hello.extra:
                out["error"] = hello.extra["error"]
        return out
    finally:
        shutil.rmtree(stage, ignore_errors=True)
