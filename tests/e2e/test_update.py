"""Updates over the live link against virtual boards (the real firmware under MicroPython):
signed chunked pushes while the board streams, A/B slots, self-test, rollback, and every
refusal and interruption we could think of. docs/reliability.md lists the cases."""

from __future__ import annotations

import hashlib
import json
import os
import random
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gaitfw import manifest as M
from gaitfw import protocol as P
from gaitloop.errors import BoardError
from gaitloop.link import open_link
from gaitloop.record import Recorder, read_recording
from gaitloop.sim.vboard import VirtualBoard
from gaitloop.update import image, keys
from gaitloop.update.client import CHUNK, UpdateClient, UpdateRefused
from gaitloop.update.timeline import artifact_timeline

ROOT = Path(__file__).resolve().parents[2]
WALK = ROOT / "data" / "gaitpdb" / "GaCo01_01.txt"
KNEE_WALK = ROOT / "data" / "mocap" / "cmu" / "35_01.amc"
GRF = ROOT / "models" / "student_grf.gldm"
PHASE = ROOT / "models" / "student_phase_insole.gldm"
TEMPLATES = ROOT / "models" / "csm_default.json"


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gaitloop.cli", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=str(ROOT))


def keyed_board(tmp_path: Path, board: str = "insole", device: str | None = None,
                key_device: str | None = None, **kw) -> VirtualBoard:
    """A virtual board provisioned as `gaitloop flash` does (device.key on its filesystem)."""
    device = device or f"sim-{board}-left"
    kf = tmp_path / f"{device}.key"
    kf.write_bytes(keys.key_file(key_device or device))
    data = KNEE_WALK if board == "knee" else WALK
    return VirtualBoard(board, "left", data, speed=5, device=device,
                        files={"device.key": kf}, **kw)


def client(vb: VirtualBoard, recorder: Recorder | None = None) -> tuple[UpdateClient, dict]:
    c = UpdateClient(open_link(vb.port), recorder)
    return c, c.open()


def one_line_error(res: subprocess.CompletedProcess) -> str:
    assert res.returncode == 1, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    return lines[0]


# -- the working path ------------------------------------------------------------------------

def test_push_model_while_streaming_then_status_rollback_and_downgrade(tmp_path):
    with keyed_board(tmp_path) as vb:
        res = cli("push", "--port", vb.port, "--model", str(GRF), "--version", "10")
        assert res.returncode == 0, res.stderr
        out = json.loads(res.stdout)
        assert out["done"][0] == {"kind": "model", "slot": "a", "version": 10, "bytes": GRF.stat().st_size,
                                  "resumed_from": 0, "sent_to": GRF.stat().st_size}
        s = out["streamed_meanwhile"]  # the board streamed on during the transfer
        assert s["samples"] > 50 and s["sample_gaps"] == 0 and s["frame_gaps"] == 0, s
        assert s["resets"] == 0
        res = cli("status", "--port", vb.port, "--json")
        assert res.returncode == 0, res.stderr
        st = json.loads(res.stdout)
        assert st["model"]["slot"] == "a" and st["model"]["version"] == 10
        assert st["model"]["sha256"] == hashlib.sha256(GRF.read_bytes()).hexdigest()
        assert st["board"] == {"kind": "insole", "side": "left", "device": "sim-insole-left",
                               "device_id": "sim-insole-left", "keyed": True}
        assert st["firmware"] and st["calibration"]["slot"] is None
        # the pushed model runs on the stream, and the recording says which one produced it
        rec_path = tmp_path / "after.glsession"
        c, _ = client(vb, Recorder(rec_path, {}))
        try:
            for _ in range(5):  # a HELLO before the push (a loaded host may miss the first)
                if c.ch.state.hello is not None:
                    break
                c.request(P.CMD_HELLO)
            assert c.ch.state.hello.extra["artifacts"]["model"][0] == 10
            c.push(image.model(PHASE, version=11), keys.device_key("sim-insole-left"), "insole")
            t_end = time.monotonic() + 1.5
            while time.monotonic() < t_end:
                c.poll(0.05)
        finally:
            c.close()
        rec = read_recording(rec_path)
        names = [e.name for _, _, e in rec.events(0)]
        assert "student_grf" in names and "update_active" in names and "student_phase" in names
        i_switch = names.index("update_active")
        assert "student_grf" not in names[i_switch + 1:]  # the old model stopped at the switch
        timeline = artifact_timeline(rec, 0)
        assert [t["artifacts"]["model"][0] for t in timeline] == [10, 11], timeline
        assert timeline[1]["artifacts"]["model"][1] == hashlib.sha256(PHASE.read_bytes()).hexdigest()[:16]
        from gaitloop.record import info as rec_info

        assert rec_info(rec)["boards"][0]["artifacts"] == timeline  # `gaitloop info --json`
        # human status names both versions; rollback switches back on request
        res = cli("status", "--port", vb.port)
        assert "slot b  version 11" in res.stdout and "(previous: version 10)" in res.stdout, res.stdout
        res = cli("push", "--port", vb.port, "--rollback", "model")
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout)["done"] == [{"kind": "model", "slot": "a", "version": 10}]
        st = json.loads(cli("status", "--port", vb.port, "--json").stdout)
        assert st["model"]["slot"] == "a" and st["model"]["version"] == 10
        # a version lower than the active one is refused, in one line
        line = one_line_error(cli("push", "--port", vb.port, "--model", str(PHASE), "--version", "9"))
        assert "downgrade" in line and "version 9 is lower than the active model version 10" in line
        assert json.loads(cli("status", "--port", vb.port, "--json").stdout)["model"]["version"] == 10


def test_push_templates_calibration_and_settings(tmp_path):
    with keyed_board(tmp_path) as vb:
        cal = tmp_path / "cal.json"
        cal.write_text(json.dumps({"csm_params": {"min_range": 120}, "student_hop": 5}))
        res = cli("push", "--port", vb.port, "--templates", str(TEMPLATES), "--calibration",
                  str(cal), "--set", "device=pushed")
        assert res.returncode == 0, res.stderr
        out = json.loads(res.stdout)
        assert [d["kind"] for d in out["done"]] == ["templates", "calibration"]
        assert out["device"] == "pushed"
        st = out["status"]
        assert st["templates"]["sha256"] == hashlib.sha256(TEMPLATES.read_bytes()).hexdigest()
        assert st["calibration"]["slot"] == "a"
        # config.json got the setting, not the pushed calibration (that lives in its slot)
        cfg = json.loads((vb.fs / "config.json").read_text())
        assert cfg["device"] == "pushed" and "csm_params" not in cfg and "student_hop" not in cfg
        assert "csm_templates" not in cfg
        # knee keys on an insole: refused on the host before anything is sent, file named
        bad = tmp_path / "knee_cal.json"
        bad.write_text(json.dumps({"baseline_mm": 640}))
        line = one_line_error(cli("push", "--port", vb.port, "--calibration", str(bad)))
        assert str(bad) in line and "'baseline_mm' is not known to insole boards" in line
        # not a model: the file is named
        line = one_line_error(cli("push", "--port", vb.port, "--model", str(TEMPLATES)))
        assert str(TEMPLATES) in line and "not a device model" in line


def test_knee_takes_calibration_but_not_a_model(tmp_path):
    with keyed_board(tmp_path, "knee") as vb:
        cal = tmp_path / "knee.json"
        cal.write_text(json.dumps({"l1_mm": 400, "bias_cdeg": [10, 0, -10, 0]}))
        res = cli("push", "--port", vb.port, "--calibration", str(cal))
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout)["status"]["calibration"]["slot"] == "a"
        line = one_line_error(cli("push", "--port", vb.port, "--model", str(GRF)))
        assert "wrong target" in line and "a knee board does not take a model" in line


# -- refusals: wrong key, every manifest region, payload, board kind, format, self-test ------

def _manifest(key: bytes, payload: bytes, version: int = 5, kind: int = M.KIND_MODEL,
              board: int = M.BOARD_INSOLE, fmt: int = 2) -> bytes:
    return M.pack(key, kind, board, fmt, version, len(payload), hashlib.sha256(payload).digest())


def _send(c: UpdateClient, man: bytes, payload: bytes) -> dict:
    start = c.begin(man, "test image")
    c.send_data(payload, start, "test image")
    return c.end("test image")


def _bad_selftest_model() -> bytes:
    """The GRF student with its expected self-test output changed (CRC made valid again)."""
    import zlib

    b = bytearray(GRF.read_bytes())
    b[-4] ^= 0x01  # the expected int8 output (then 3 pad bytes)
    struct.pack_into("<I", b, 12, zlib.crc32(bytes(b[40:])) & 0xFFFFFFFF)
    return bytes(b)


REGIONS = {"magic": (0, 4), "manifest_version": (4, 5), "kind": (5, 6), "board": (6, 7),
           "format": (7, 8), "version": (8, 12), "length": (12, 16), "sha256": (16, 48),
           "tag": (48, 80)}


def test_every_refusal_leaves_the_active_version_running(tmp_path):
    rng = random.Random(5)
    payload = GRF.read_bytes()
    key = keys.device_key("sim-insole-left")
    outcomes: dict[str, str] = {}
    with keyed_board(tmp_path) as vb:
        c, info = client(vb)
        try:
            assert _send(c, _manifest(key, payload, 5), payload)["slot"] == "a"

            def refused(name: str, man: bytes, data: bytes = payload) -> int:
                with pytest.raises(UpdateRefused) as err:
                    _send(c, man, data)
                outcomes[name] = f"{P.ERR_NAMES[err.value.error]}: {err.value.reason}"
                return err.value.error

            assert refused("wrong key", _manifest(keys.device_key("other-board"), payload, 6)) == P.ERR_UPD_AUTH
            for region, (a, b) in REGIONS.items():  # one bit of each manifest region flipped
                for trial in range(3):
                    m = bytearray(_manifest(key, payload, 6))
                    m[rng.randrange(a, b)] ^= 1 << rng.randrange(8)
                    err = refused(f"manifest {region} #{trial}", bytes(m))
                    assert err in ((P.ERR_UPD_FORMAT,) if region in ("magic", "manifest_version")
                                   else (P.ERR_UPD_AUTH,)), (region, outcomes)
            for where in (0, len(payload) // 2, len(payload) - 1):  # payload changed in transit
                bad = bytearray(payload)
                bad[where] ^= 0x40
                assert refused(f"payload byte {where}", _manifest(key, payload, 6),
                               bytes(bad)) == P.ERR_UPD_VERIFY
            assert refused("payload cut short", _manifest(key, payload, 6),
                           payload[:-100]) == P.ERR_UPD_VERIFY
            assert refused("knee image", _manifest(key, payload, 6, board=M.BOARD_KNEE)) == P.ERR_UPD_TARGET
            assert refused("unknown format", _manifest(key, payload, 6, fmt=9)) == P.ERR_UPD_FORMAT
            assert refused("downgrade", _manifest(key, payload, 4)) == P.ERR_UPD_DOWNGRADE
            # flash that does not keep what was written: every byte arrived, the slot rots
            start = c.begin(_manifest(key, payload, 6), "rot")
            c.send_data(payload, start, "rot")
            slot_b = vb.fs / "upd" / "model.b"
            rotten = bytearray(slot_b.read_bytes())
            rotten[100] ^= 0x04
            slot_b.write_bytes(bytes(rotten))
            with pytest.raises(UpdateRefused, match="slot file does not read back as written"):
                c.end("rot")
            outcomes["slot rots on flash before END"] = "verification failed: slot file does not read back as written"
            bad_model = _bad_selftest_model()
            assert refused("self-test", _manifest(key, bad_model, 7), bad_model) == P.ERR_UPD_SELFTEST
            assert "1 of 1 outputs differ" in outcomes["self-test"]
            st = c.info()
            assert st["model"]["version"] == 5 and st["model"]["slot"] == "a"
            assert st["model"]["sha256"] == hashlib.sha256(payload).hexdigest()
            assert st["model"]["failed"] == "b" and st["model"]["pending"] is None
            samples_before = c.ch.state.samples
            t_end = time.monotonic() + 0.6
            while time.monotonic() < t_end:
                c.poll(0.05)
            assert c.ch.state.samples > samples_before  # still streaming
            assert c.ch.state.sample_gaps == 0
        finally:
            c.close()
    (tmp_path / "refusals.json").write_text(json.dumps(outcomes, indent=1))
    print(f"{len(outcomes)} refusal cases:", json.dumps(outcomes, indent=1))


# -- interruptions: cut at every chunk boundary and at random bytes; resume or restart ------

def test_transfer_cut_at_every_chunk_boundary_and_random_bytes_then_resumed(tmp_path):
    rng = random.Random(11)
    payload = PHASE.read_bytes()
    key = keys.device_key("sim-insole-left")
    man = _manifest(key, payload, 3)
    n_chunks = -(-len(payload) // CHUNK)
    resumed = 0
    with keyed_board(tmp_path) as vb:
        acked = 0
        for k in range(n_chunks):
            c, info = client(vb)  # a new host session each time, as after a cut cable
            try:
                if k:
                    assert info["transfer"]["offset"] == acked  # status shows the partial push
                start = c.begin(man, "cut test")
                assert start == acked, (k, start, acked)
                if k == 1:  # STATUS says a transfer is open
                    c.request(P.CMD_STATUS)
                    assert c.ch.state.last_status.flags & P.ST_UPDATING
                resumed += bool(start)
                acked = c.send_data(payload, start, "cut test", stop_at=(k + 1) * CHUNK)
                if acked < len(payload):
                    frame = c.ch.commands.encode(P.CMD_UPD_DATA, c.data_frame(payload, acked))
                    c.link.write(frame[: rng.randrange(2, len(frame) - 1)])  # cut mid-frame
            finally:
                c.close()
        assert acked == len(payload)
        c, info = client(vb)
        try:
            # every byte arrived across the cuts: END verifies and activates it
            assert c.begin(man, "cut test") == len(payload)
            assert c.end("cut test")["version"] == 3
            # a restart: a different image begun, cut, then the first one begun again
            man2 = _manifest(key, GRF.read_bytes(), 4)
            assert c.begin(man2, "restart") == 0
            got = c.send_data(GRF.read_bytes(), 0, "restart", stop_at=3 * CHUNK)
            assert got == 3 * CHUNK
            assert c.begin(man2, "restart") == 3 * CHUNK  # the same one resumes
            c.send_data(GRF.read_bytes(), got, "restart")
            assert c.end("restart")["version"] == 4
            st = c.info()
            assert st["model"]["version"] == 4 and st["transfer"] is None
            c.request(P.CMD_STATUS)
            assert not c.ch.state.last_status.flags & P.ST_UPDATING
            assert c.ch.state.sample_gaps == 0
        finally:
            c.close()
    assert resumed == n_chunks - 1
    print(f"cut at {n_chunks} chunk boundaries (+ a partial frame each), resumed {resumed} times")


# -- power loss: the MicroPython process killed while a slot is written and while it switches

def _kill_board(vb: VirtualBoard) -> None:
    """Power loss: SIGKILL the MicroPython process; the launcher boots it again."""
    restarts = vb.restarts
    vb._proc.kill()
    end = time.monotonic() + 10
    while vb.restarts == restarts and time.monotonic() < end:
        time.sleep(0.05)
    assert vb.restarts > restarts


def _wait_confirmed(c: UpdateClient, kind: str = "model", timeout: float = 15.0) -> None:
    """Until the board confirms the trial (5 s of board time: 1 s at 5x on an idle host)."""
    end = time.monotonic() + timeout
    while c.info()[kind]["trial"] is not None:
        assert time.monotonic() < end, "the trial was never confirmed"
        c.poll(0.2)


def test_power_loss_during_write_and_switch_then_board_boots_a_valid_version(tmp_path, monkeypatch):
    """SIGKILL of the MicroPython process at random bytes of the slot write, and within the
    new version's trial (right after END: verification, self-test, switch), then a reboot:
    the board runs the old version each time. Killed after the trial, it keeps the new one."""
    monkeypatch.setattr("gaitloop.sim.vboard._MAX_RESTARTS", 100)  # we cut the power on purpose
    rng = random.Random(3)
    key = keys.device_key("sim-insole-left")
    images = {5: GRF.read_bytes(), 6: PHASE.read_bytes()}
    sha = {v: hashlib.sha256(p).hexdigest() for v, p in images.items()}
    outcomes: dict[str, int] = {}
    with keyed_board(tmp_path) as vb:
        c, _ = client(vb)
        try:
            _send(c, _manifest(key, images[5], 5), images[5])
            _wait_confirmed(c)  # 5 s of board time: the trial passes, v5 is kept
        finally:
            c.close()
        for trial in range(8):
            c, _ = client(vb)
            try:
                during_write = trial % 2 == 0
                start = c.begin(_manifest(key, images[6], 6), "power test")
                if during_write:  # cut at a random byte count inside the slot write
                    stop = rng.randrange(start + 1, len(images[6]))
                    c.send_data(images[6], start, "power test", stop_at=stop)
                else:  # everything sent; the power goes while END verifies and switches, or
                    c.send_data(images[6], start, "power test")  # within the trial after it
                    c.send(P.CMD_UPD_END)
                    time.sleep(rng.uniform(0.0, 0.5))
            finally:
                c.close()
            _kill_board(vb)
            c, info = client(vb)
            try:
                m = info["model"]
                assert m["pending"] is None and m["trial"] is None and m["version"] == 5, info
                assert m["sha256"] == sha[5] and m["slot"] == "a"
                key_ = f"{'write' if during_write else 'switch or trial'} -> v{m['version']}"
                outcomes[key_] = outcomes.get(key_, 0) + 1
                if during_write:  # nothing in RAM after a reset, but the bytes are on flash:
                    assert info["transfer"] is None  # a push of the same image resumes
                    assert c.begin(_manifest(key, images[6], 6), "resume") > 0
                    c.abort()
            finally:
                c.close()
        c, _ = client(vb)
        try:
            seen: list[tuple[int, int]] = []  # what the CLI's progress bar is fed
            art = image.model(PHASE, version=6)
            assert c.push(art, key, "insole", progress=lambda n, t: seen.append((n, t)))["version"] == 6
            assert c.info()["model"]["sha256"] == sha[6]
            assert seen[-1] == (len(images[6]), len(images[6])) and len(seen) > 10
            assert [n for n, _ in seen] == sorted(n for n, _ in seen)
            _wait_confirmed(c)  # the trial passes
        finally:
            c.close()
        _kill_board(vb)  # power lost after the trial: the new version stays
        c, info = client(vb)
        try:
            assert info["model"]["version"] == 6 and info["model"]["sha256"] == sha[6]
            outcomes["after the trial -> v6"] = 1
        finally:
            c.close()
    print("power-loss outcomes:", outcomes)
    assert outcomes == {"write -> v5": 4, "switch or trial -> v5": 4, "after the trial -> v6": 1}


# -- a port with no board --------------------------------------------------------------------

def test_push_and_status_on_a_silent_port_fail_fast_in_one_line():
    master, slave = os.openpty()
    try:
        port = os.ttyname(slave)
        for args in (("push", "--port", port, "--model", str(GRF)), ("status", "--port", port)):
            t0 = time.monotonic()
            line = one_line_error(cli(*args, timeout=60))
            assert time.monotonic() - t0 < 20  # 4 s of waiting, plus the CLI's start on a loaded host
            assert "no gaitloop board answered within 4 s" in line, line
    finally:
        os.close(master)
        os.close(slave)


def test_push_without_provisioned_key_says_so(tmp_path):
    with VirtualBoard("insole", "left", WALK, speed=5) as vb:
        line = one_line_error(cli("push", "--port", vb.port, "--model", str(GRF)))
        assert "has no update key" in line and "gaitloop flash" in line


def test_client_refuses_with_board_error_on_unprovisioned_board(tmp_path):
    with VirtualBoard("insole", "left", WALK, speed=5) as vb:
        c, info = client(vb)
        try:
            assert info["board"]["keyed"] is False and info["board"]["device_id"] is None
            with pytest.raises(BoardError, match="no update key"):
                _send(c, _manifest(keys.device_key("x"), b"abc"), b"abc")
        finally:
            c.close()


# -- provisioning by flash -------------------------------------------------------------------

def test_flash_provisions_the_key_once_and_push_then_works(tmp_path):
    from gaitloop.flash import flash
    from gaitloop.update import provision

    master = Path(os.environ["GAITLOOP_KEY_FILE"])
    with VirtualBoard("insole", "left", WALK, speed=5, device="flashed-1") as vb:
        assert not (vb.fs / "device.key").exists()
        flash(vb.port)
        kf = (vb.fs / "device.key").read_bytes()
        assert M.key_file_bytes("flashed-1", keys.device_key("flashed-1")) == kf
        assert master.stat().st_mode & 0o777 == 0o600
        # a keyed board is not sent its key again
        assert provision.stage_key(vb.port, tmp_path, {"device": "other"}) == []
        res = cli("push", "--port", vb.port, "--model", str(GRF))
        assert res.returncode == 0, res.stderr
        assert kf.hex() not in res.stdout + res.stderr and keys.device_key("flashed-1").hex() not in res.stdout
        assert json.loads(res.stdout)["status"]["board"]["device_id"] == "flashed-1"


def test_master_key_readable_by_others_is_refused(tmp_path):
    from gaitloop.update.keys import KeyFileError, master_key

    p = tmp_path / "m.key"
    master_key(path=p)
    assert p.stat().st_mode & 0o777 == 0o600
    p.chmod(0o644)
    with pytest.raises(KeyFileError, match="accessible by others"):
        master_key(path=p)


def test_flash_on_a_silent_port_fails_in_one_line():
    master, slave = os.openpty()
    try:
        t0 = time.monotonic()
        line = one_line_error(cli("flash", "--port", os.ttyname(slave), timeout=90))
        assert time.monotonic() - t0 < 45  # 10 s of waiting, plus the CLI's start on a loaded host
        assert "no board answered on" in line and "within 10 s" in line
    finally:
        os.close(master)
        os.close(slave)
