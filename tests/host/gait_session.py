"""A synthetic session with known gait numbers, written by the real Recorder from frames built
by the firmware's FrameWriter: two insoles and a knee sleeve (or any subset), host time = board
time, so the report's numbers can be recomputed by hand from the lists returned here."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from gaitfw import events as E
from gaitfw import protocol as P
from gaitfw.boards import knee
from gaitloop.messages import frame_from_decoded
from gaitloop.record import Recorder

RATE = 100
SECONDS = 14.0
HOST0 = 1_000_000.0

#: per insole: heel strikes (s), stance (ms) of the cycle each opens, stride (ms) each closes
INSOLE = {
    "left": {"hs": [1.0, 2.2, 3.38, 4.6, 5.8, 7.02, 8.2, 9.4, 10.6, 11.8],
             "stance": [700, 720, 680, 710, 690, 730, 670, 700, 705, 0]},
    "right": {"hs": [1.6, 2.8, 4.0, 5.2, 6.42, 7.6, 8.8, 10.0, 11.22, 12.4],
              "stance": [760, 740, 780, 750, 770, 745, 765, 755, 750, 0]},
}
#: knee sleeve: (t s, front leg 0 left / 1 right, step length mm, step ms)
KNEE_STEPS = [(1.1 + 0.6 * k, k % 2, (430 + 7 * (k % 3)) if k % 2 == 0 else (640 - 5 * (k % 4)), 600)
              for k in range(18)]
KNEE_ASYM = [(2.3 + 1.2 * k, v) for k, v in enumerate([3900, 4050, 3800, 4120, 3990, 4010, 3870, 4100])]
KNEE_SPEED = [(7.0 + 1.2 * k, 880 + 10 * k, 1000 + 5 * k) for k in range(5)]  # mm/s, spm x10
FEEDBACK = [(4.0, E.EV_MG_BUZZ, 4120, 1), (6.5, E.EV_MG_BUZZ_OFF, 3000, 0),
            (8.0, E.EV_MG_LED, 480, 560), (10.0, E.EV_MG_LED_OFF, 550, 560),
            (11.0, E.EV_MG_SPEED_TREND, 820, 1250)]


class _Board:
    def __init__(self, rec: Recorder, link: int, hello: dict) -> None:
        self.rec, self.link, self.w = rec, link, P.FrameWriter()
        rec.add_link(link, {"port": f"/dev/pts/{link}"})
        self.nch = len(hello["channels"])
        self.put(P.MSG_HELLO, 0, json.dumps(hello).encode())

    def put(self, kind: int, t_ms: int, payload: bytes) -> None:
        self.w.frame(kind, t_ms, payload)
        frame = frame_from_decoded(bytes(self.w.raw[: P.HEADER_LEN + len(payload) + P.CRC_LEN]))
        self.rec.add_frame(self.link, frame, HOST0 + t_ms / 1000.0)

    def samples(self, first: int, rows: np.ndarray) -> None:
        payload = struct.pack("<IBB", first, self.nch, len(rows)) + rows.astype("<i2").tobytes()
        self.put(P.MSG_SAMPLES, first * 1000 // RATE, payload)

    def event(self, t_s: float, code: int, side: int, a: int, b: int) -> None:
        self.put(P.MSG_EVENT, int(round(t_s * 1000)), struct.pack("<BBii", code, side, a, b))


def _hello(device: str, kind: str, side: str, channels, units, scale) -> dict:
    return {"device": device, "kind": kind, "side": side, "fw": "0.1.0", "proto": 1, "rate": RATE,
            "channels": list(channels), "units": list(units), "scale": list(scale)}


def insole_events(side: str) -> list[tuple[float, int, int, int]]:
    """(t s, code, a, b) of one insole: heel strike (a swing ms, b stride ms), toe off (a stance)."""
    d = INSOLE[side]
    out = []
    for k, (t, st) in enumerate(zip(d["hs"], d["stance"], strict=True)):
        if k:
            stride = round((t - d["hs"][k - 1]) * 1000)
            swing = stride - d["stance"][k - 1]
            out.append((t, E.EV_HEEL_STRIKE, swing, stride))
        else:
            out.append((t, E.EV_HEEL_STRIKE, 0, 0))
        if st:
            out.append((t + st / 1000.0, E.EV_TOE_OFF, st, 0))
    return sorted(out)


def write_gait_session(path: Path, insoles: tuple[str, ...] = ("left", "right"), with_knee: bool = True,
                       cut_bytes: int = 0) -> Path:
    """Write the session (every board from board time 0); `cut_bytes` cuts the file's tail off
    afterwards, as a recorder killed mid-write leaves it."""
    n = int(SECONDS * RATE)
    with Recorder(path) as rec:
        boards: list[tuple[_Board, np.ndarray, list]] = []
        for link, side in enumerate(insoles):
            b = _Board(rec, link, _hello(f"insole-{side[0].upper()}", "insole", side, ("heel", "ball"),
                                         ("N", "N"), (0.1, 0.1)))
            heel = np.zeros(n)
            ball = np.zeros(n)
            d = INSOLE[side]
            for t, st in zip(d["hs"], d["stance"], strict=True):
                i0, i1 = int(t * RATE), int((t + (st or 700) / 1000.0) * RATE)
                k = np.arange(i0, min(i1, n))
                x = (k - i0) / max(1, i1 - i0)
                heel[k] = 6000 * np.sin(np.pi * np.clip(x / 0.6, 0, 1))
                ball[k] = 5000 * np.sin(np.pi * np.clip((x - 0.3) / 0.7, 0, 1))
            evs = [(t, c, 0 if side == "left" else 1, a, bb) for t, c, a, bb in insole_events(side)]
            boards.append((b, np.stack([heel, ball], axis=1), evs))
        if with_knee:
            kb = _Board(rec, len(insoles), _hello("knee-sleeve", "knee", "left", knee.CHANNELS, knee.UNITS, knee.SCALE))
            rows = np.zeros((n, len(knee.CHANNELS)))
            ph = np.sin(2 * np.pi * np.arange(n) / 120.0)
            rows[:, 0] = rows[:, 7] = 2500 + 2000 * ph
            rows[:, 3] = rows[:, 10] = 4096
            evs = [(t, E.EV_MG_STEP, side, mm, ms) for t, side, mm, ms in KNEE_STEPS]
            evs += [(t, E.EV_MG_ASYM, 2, v, k) for k, (t, v) in enumerate(KNEE_ASYM)]
            evs += [(t, E.EV_MG_SPEED, 2, mm_s, spm) for t, mm_s, spm in KNEE_SPEED]
            evs += [(t, c, 2, a, bb) for t, c, a, bb in FEEDBACK]
            boards.append((kb, rows, sorted(evs)))
        for first in range(0, n, 10):
            for b, rows, evs in boards:
                b.samples(first, rows[first:first + 10])
                while evs and evs[0][0] * RATE < first + 10:
                    t, c, side, a, bb = evs.pop(0)
                    b.event(t, c, side, a, bb)
    if cut_bytes:
        data = path.read_bytes()
        path.write_bytes(data[:-cut_bytes])
    return path
