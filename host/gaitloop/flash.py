"""Flash a board: compile the firmware with mpy-cross, copy it with mpremote, reboot, verify.

Why mpremote over the console rather than a bootloader: MicroPython boards already run a REPL
on USB; copying `.mpy` files over the raw REPL is how the firmware's Python part is installed
(the MicroPython runtime itself is flashed once, with the vendor's tool). `resume` keeps
mpremote from soft-resetting first, so a streaming app is interrupted with Ctrl-C instead.
After copying, a Ctrl-D soft-resets the board into the new firmware, and the command waits
for its HELLO to confirm the version and device that now run.
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


def stage_firmware(stage: Path, arch: str, config: dict[str, Any] | None) -> list[Path]:
    """Lay out what goes on the board: main.py, lib/gaitfw/*.mpy, config.json."""
    files = install_firmware(stage, compile_mpy=True, arch=arch)
    if config is not None:
        (stage / "config.json").write_text(json.dumps(config))
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


def _check_copied(port: str, stage: Path, files: list[Path]) -> None:
    """Every compiled file is where the board will import it from."""
    by_dir: dict[Path, set[str]] = {}
    for f in files:
        by_dir.setdefault(f.parent.relative_to(stage), set()).add(f.name)
    for rel, names in sorted(by_dir.items()):
        listing = _mpremote(port, "fs", "ls", f":{rel.as_posix()}")
        present = {ln.split()[-1] for ln in listing.splitlines()[1:] if ln.strip()}
        missing = sorted(names - present)
        if missing:
            raise BoardError(f"{port}: not on the board after copying: {rel}/{', '.join(missing)}")


def flash(port: str, arch: str = "host", config: dict[str, Any] | None = None,
          verify: bool = True) -> dict[str, Any]:
    """Copy the firmware (and optionally a config) to the board on `port`; return a summary."""
    stage = Path(tempfile.mkdtemp(prefix="gaitloop-flash-"))
    try:
        files = stage_firmware(stage, arch, config)
        # `cp -r DIR :DEST/` puts DIR inside an existing DEST, so make sure :lib exists first
        args: list[str] = ["exec", "import os\ntry:\n os.mkdir('lib')\nexcept OSError:\n pass",
                           "+", "fs", "cp", "-r", str(stage / "lib" / "gaitfw"), ":lib/", "+",
                           "fs", "cp", str(stage / "main.py"), ":main.py"]
        if config is not None:
            args += ["+", "fs", "cp", str(stage / "config.json"), ":config.json"]
        _mpremote(port, *args)
        _check_copied(port, stage, files)
        out: dict[str, Any] = {"port": port, "arch": arch, "files": len(files) + 1}
        if verify:
            hello = wait_for_hello(port)
            out.update(device=hello.device, kind=hello.kind, side=hello.side, fw=hello.fw)
            if "error" in hello.extra:
                out["error"] = hello.extra["error"]
        return out
    finally:
        shutil.rmtree(stage, ignore_errors=True)
