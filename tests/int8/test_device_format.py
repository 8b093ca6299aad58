"""Device model files: round trip, and fuzzing of both parsers (host and firmware).

Truncated or corrupted files must give one clear error, never a crash or a wrong model; files
with a valid CRC but nonsense fields (hand-made, or a writer bug) must be rejected by the
structural checks or else run without touching memory outside the model's buffers.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from gaitloop.export.device_format import (
    HEADER,
    DeviceModelError,
    pack,
    read_device_model,
    write_device_model,
)
from tests.conftest import run_micropython
from tests.int8.models import GLDM, TFLITE, card


def test_committed_model_parses():
    dm = read_device_model(GLDM)
    meta = card()["meta"]
    assert dm.task == meta["task"]
    assert dm.window == meta["window"] == 40
    assert dm.in_channels == len(meta["channels"])
    assert dm.n_out == 1 if dm.task == "grf" else len(meta["classes"])
    assert [o["opcode"] for o in dm.ops].count(1) == 3  # three conv layers
    assert pack(dm) == GLDM.read_bytes()  # read -> pack is the identity


def test_writer_reproduces_committed_file(tmp_path):
    meta = card()["meta"]
    out = write_device_model(TFLITE, tmp_path / "m.gldm", meta, card()["count_scale"])
    assert out.read_bytes() == GLDM.read_bytes()


def test_writer_rejects_non_tflite(tmp_path):
    bad = tmp_path / "x.tflite"
    bad.write_bytes(b"not a flatbuffer at all" * 4)
    with pytest.raises(DeviceModelError):
        write_device_model(bad, tmp_path / "m.gldm")
    with pytest.raises(DeviceModelError):
        write_device_model(tmp_path / "missing.tflite", tmp_path / "m.gldm")


def _with_crc(blob: bytearray) -> bytes:
    struct.pack_into("<I", blob, 12, zlib.crc32(bytes(blob[HEADER.size:])) & 0xFFFFFFFF)
    return bytes(blob)


def _mutants(blob: bytes, seed: int = 3) -> tuple[list[bytes], list[bytes]]:
    """(corrupted files: truncations, bit flips; CRC-valid files with nonsense fields)."""
    rng = np.random.default_rng(seed)
    bad = [blob[:n] for n in (0, 3, 4, 20, 39, 40, 41, 100, len(blob) // 2, len(blob) - 1)]
    bad.append(blob + b"\0")
    for _ in range(60):
        b = bytearray(blob)
        i = int(rng.integers(0, len(b)))
        b[i] ^= 1 << int(rng.integers(0, 8))
        bad.append(bytes(b))
    dm = read_device_model(blob)
    n_io = 4 * (4 + 3 * dm.in_channels)
    table = HEADER.size + n_io
    tricky = []
    values = [0, 1, -1, 2, 7, 40, 127, 128, 255, 256, 320, 1000, 65535, 2**31 - 1, -(2**31)]
    for _ in range(120):
        b = bytearray(blob)
        if rng.random() < 0.8:  # one field of one op record
            word = table + 4 * int(rng.integers(0, 16 * len(dm.ops)))
        else:  # an io word (zero points, output scale, normalisation)
            word = HEADER.size + 4 * int(rng.integers(0, n_io // 4))
        struct.pack_into("<i", b, word, int(rng.choice(values)))
        tricky.append(_with_crc(b))
    return bad, tricky


def test_host_parser_fuzz():
    blob = GLDM.read_bytes()
    bad, tricky = _mutants(blob)
    for b in bad:
        if b == blob:
            continue
        with pytest.raises(DeviceModelError):
            read_device_model(b)
    n_ok = 0
    for b in tricky:
        try:
            read_device_model(b)
            n_ok += 1
        except DeviceModelError:
            pass
    assert n_ok < len(tricky)  # the structural checks do reject


@pytest.mark.micropython
def test_firmware_parser_fuzz_agrees_and_never_crashes(tmp_path):
    blob = GLDM.read_bytes()
    bad, tricky = _mutants(blob)
    files = []
    for i, b in enumerate(bad + tricky):
        p = tmp_path / f"m{i}.gldm"
        p.write_bytes(b)
        files.append(str(p))
    code = f"""
import json
from gaitfw.devmodel import Model, DevModelError
res = []
for path in json.loads('{json.dumps(files)}'):
    try:
        m = Model(path)
    except DevModelError:
        res.append('E')
        continue
    except Exception as e:
        res.append('X:' + type(e).__name__ + ':' + str(e))
        continue
    try:
        for i in range(len(m.inp)):
            m.inp[i] = (i * 29) % 256 - 128
        m.invoke()
        res.append('O')
    except Exception as e:
        res.append('X:invoke:' + type(e).__name__)
print(json.dumps(res))
"""
    res = json.loads(run_micropython(code, timeout=300).strip().splitlines()[-1])
    crashes = [r for r in res if r.startswith("X")]
    assert not crashes, crashes[:5]
    host = []
    for b in bad + tricky:
        try:
            read_device_model(b)
            host.append("O")
        except DeviceModelError:
            host.append("E")
    # corrupted files: all rejected by the board; CRC-valid ones: same verdict as the host
    assert all(r == "E" for r, b in zip(res[: len(bad)], bad, strict=True) if b != blob)
    assert res[len(bad):] == host[len(bad):]


@pytest.mark.micropython
def test_firmware_rejects_missing_file():
    out = run_micropython(
        "from gaitfw.devmodel import Model, DevModelError\n"
        "try:\n    Model('/nonexistent/model.gldm')\nexcept DevModelError as e:\n    print('ERR', e)\n"
    )
    assert "ERR device model: cannot read" in out


def test_model_files_exist():
    for p in (GLDM, TFLITE):
        assert Path(p).is_file() and Path(p).stat().st_size > 1000
