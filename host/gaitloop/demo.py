"""The demo: virtual boards walk on real recorded data, stream, feed back, record and report.

Two insoles (left and right foot of one shipped gaitpdb walk) run the real firmware under
MicroPython behind pseudo-terminals: CSM gait events plus the shipped int8 GRF student; a
knee sleeve (a shipped CMU walk through the sensor model) adds MGait steps and feedback.
The host streams the insoles over BLE (a virtual BLE stack, bumble) and the knee sleeve over
serial, records the session crash-safely, exports it, and
writes an HTML report.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

from rich.console import Console

from gaitloop.data.gaitpdb import insole_forces, load_gaitpdb
from gaitloop.errors import GaitloopError
from gaitloop.eventview import kinds_text
from gaitloop.inputs import check_input_file
from gaitloop.link import open_link
from gaitloop.outpaths import check_file_target, check_out_dir, ensure_out_dir
from gaitloop.record import Recorder, export, info, read_recording
from gaitloop.report import write_report
from gaitloop.sim.vboard import VirtualBoard
from gaitloop.stream import StreamSession

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_WALK = ROOT / "data" / "gaitpdb" / "GaCo01_01.txt"
DEFAULT_KNEE_WALK = ROOT / "data" / "mocap"


def _knee_walk() -> Path | None:
    """A shipped mocap walk for the knee sleeve, if the knee replay source is installed."""
    try:
        import gaitloop.sim.knee_source  # noqa: F401
    except ImportError:
        return None
    if not DEFAULT_KNEE_WALK.is_dir():
        return None
    for pattern in ("*.amc", "*.bvh", "*.trc"):
        found = sorted(DEFAULT_KNEE_WALK.rglob(pattern))
        if found:
            return found[0]
    return None


#: Feedback events of the knee sleeve, listed by name in the summary (rare, so never in a top-N)
FEEDBACK_EVENTS = ("mg_buzzer_on", "mg_buzzer_off", "mg_led_on", "mg_led_off", "mg_speed_trend")



def demo_boards(walk: Path, speed: float, knee_limp: float = 0.3, ble: bool = True) -> list[VirtualBoard]:
    """The demo's virtual boards (not started): two insoles on `walk` (over BLE when `ble`),
    and the knee sleeve on a shipped mocap walk when its replay source is installed."""
    student = ROOT / "models" / "student_grf.gldm"
    extra = {"files": {"student.gldm": student}, "config": {"student": "student.gldm"}} \
        if student.is_file() else {}
    epoch_ms = time.time_ns() // 1_000_000  # both feet replay one walk from this instant on
    boards = [
        VirtualBoard("insole", "left", walk, speed=speed, device="insole-L", ble=ble,
                     replay_epoch_ms=epoch_ms, **extra),
        VirtualBoard("insole", "right", walk, speed=speed, device="insole-R", ble=ble,
                     replay_epoch_ms=epoch_ms, **extra),
    ]
    knee = _knee_walk()
    if knee is not None:
        boards.append(VirtualBoard("knee", "left", knee, speed=speed, device="knee-sleeve", limp=knee_limp))
    return boards


def start_demo_links(boards: list[VirtualBoard], console: Console) -> list:
    """Start `boards` and open a link to each (BLE for the insoles, serial for the knee), as
    `gaitloop demo` and `gaitloop serve --demo` both stream them. The caller stops the boards."""
    specs = []
    for vb in boards:
        port = vb.start()
        if vb.ble:  # the insoles stream over BLE, as in a shoe
            specs.append(f"ble:{vb.ble_name()}@{vb.ble_transport}")
            console.print(f"  {vb.device}: firmware under MicroPython, BLE {specs[-1][4:]}")
        else:
            specs.append(port)
            console.print(f"  {vb.device}: firmware under MicroPython on {vb.port}")
    time.sleep(0.5)
    links = []
    try:
        for spec in specs:
            links.append(open_link(spec))
    except GaitloopError:
        for link in links:
            link.close()
        raise
    return links

def run_demo(data: Path | None, seconds: float, speed: float, out: Path, live: bool,
             knee_limp: float = 0.3, ble: bool = True) -> dict:
    console = Console()
    # every argument is checked before a board boots (a bad one fails in a second, not later)
    if not seconds > 0:
        raise GaitloopError(f"--seconds must be positive, not {seconds:g}")
    if not speed > 0:
        raise GaitloopError(f"--speed must be positive, not {speed:g}")
    walk = check_input_file(Path(data) if data else DEFAULT_WALK, "gaitpdb recording")
    insole_forces(load_gaitpdb(walk), "left")  # parse now: a bad file is one line, no boards
    if out.is_dir():
        for name in ("session.glsession", "samples.csv", "events.csv"):
            check_file_target(out / name)
    check_out_dir(out / "report")
    ensure_out_dir(out)
    boards = demo_boards(walk, speed, knee_limp, ble)
    knee = _knee_walk()
    console.print(f"[bold]gaitloop demo[/]: {len(boards)} virtual boards walking on {walk.name}"
                  + (f" and {knee.name}" if knee else "") + f" at {speed:g}x")
    if knee is not None and knee_limp > 0:
        console.print(f"  knee sleeve: the captured walk with a simulated limp (left steps ~{knee_limp:.0%} "
                      "shorter), so the asymmetry buzzer has something to catch")
    session_path = out / "session.glsession"
    try:
        links = start_demo_links(boards, console)
        recorder = Recorder(session_path, {"demo": True, "walk": walk.name}, overwrite=True)
        session = StreamSession(links, recorder)
        if live and sys.stdout.isatty():
            from gaitloop.live import LiveView, live_table

            with live_table(LiveView(session), console) as redraw:
                session.run(seconds, on_tick=redraw)
        else:
            t0 = time.monotonic()

            def progress() -> None:
                if time.monotonic() - progress.last >= 5:
                    progress.last = time.monotonic()
                    total = sum(ch.state.samples for ch in session.channels)
                    console.print(f"  {time.monotonic() - t0:5.1f} s: {total} samples streamed")

            progress.last = t0
            session.run(seconds, on_tick=progress)
    finally:
        for vb in boards:
            vb.stop()
    rec = read_recording(session_path)
    summary = info(rec)
    files = export(rec, csv=out / "samples.csv", events_csv=out / "events.csv")
    report = write_report(rec, out / "report")
    console.print(f"\nrecorded {session_path}")
    for b in summary["boards"]:
        evs = Counter(e.name for _, _, e in rec.events(b["link"]))
        walked = b["samples"] / b["rate_hz"] if b["rate_hz"] else 0.0  # samples / rate
        console.print(
            f"  {b['device']}: {b['samples']} samples ({walked:.1f} s of walking), "
            f"{b['seq_gaps']} gaps, {b['crc_errors']} CRC errors; events: {kinds_text(evs)}"
        )
        fed_back = [f"{e.name} at {t / 1000:.1f} s" for t, _, e in rec.events(b["link"]) if e.name in FEEDBACK_EVENTS]
        if fed_back:
            more = len(fed_back) - 6
            console.print(f"    feedback: {', '.join(fed_back[:6])}"
                          + (f" and {more} more (events CSV)" if more > 0 else ""))
    for f in files:
        console.print(f"  exported {f}")
    console.print(f"  report {report}")
    return summary
