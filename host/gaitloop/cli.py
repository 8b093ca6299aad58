"""`gaitloop` command line: virtual boards, streaming, recordings, training and export.

Every user-facing error is a GaitloopError: `main` prints it as one line and exits 1; usage
mistakes (missing option, bad value, unknown command) are one line too, exit 2
(`gaitloop.cli_usage`).
"""

from __future__ import annotations

import importlib
import json
import signal
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from gaitloop.errors import GaitloopError

# Plain help (rich_markup_mode=None): no boxes, paragraphs rewrapped to the terminal; usage
# errors become one line in gaitloop.cli_usage.run (see main()).
app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)
train = typer.Typer(help="Train models (CSM templates, teacher, students).", no_args_is_help=True,
                    rich_markup_mode=None)
eval_ = typer.Typer(help="Evaluate models against the papers' metrics.", no_args_is_help=True,
                    rich_markup_mode=None)
app.add_typer(train, name="train")
app.add_typer(eval_, name="eval")


def _print_version(value: bool) -> None:
    if value:
        from gaitloop.cli_usage import version_text

        print(version_text())
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_print_version,
                                          help="Print the host, firmware and protocol versions and exit.")] = False,
) -> None:
    """gaitloop: firmware and host toolchain for wearable gait sensors.

    Every command has --help. Errors are one line on stderr and a non-zero exit (2 for a
    usage mistake).
    """

# Subsystems register their commands from their own modules (docs/architecture.md).
_PLUGINS: tuple[str, ...] = (
    "gaitloop.cli_csm",
    "gaitloop.cli_mgait",
    "gaitloop.cli_learn",
    "gaitloop.cli_data",
    "gaitloop.cli_update",
    "gaitloop.cli_ble",
    "gaitloop.cli_web",
    "gaitloop.cli_power",
)

console = Console(stderr=True)


#: `stream` gives up on a port that has sent no gaitloop frame for this long (a board boots and
#: answers HELLO in about a second; the wake-up after 1.5 s adds a soft reset)
NO_BOARD_S = 8.0


class Board(StrEnum):
    insole = "insole"
    knee = "knee"


class Side(StrEnum):
    left = "left"
    right = "right"


class OutFormat(StrEnum):
    live = "live"
    jsonl = "jsonl"


def _wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM; both end the command cleanly."""
    stop = {"now": False}

    def handler(_sig: int, _frm: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    while not stop["now"]:
        time.sleep(0.1)


@app.command()
def sim(
    data: Annotated[Path, typer.Option(help="Recording to replay (gaitpdb .txt for the insole; a mocap walk for the knee).")],
    board: Annotated[Board, typer.Option(help="Board kind.")] = Board.insole,
    side: Annotated[Side, typer.Option(help="Which foot/leg the board is on.")] = Side.left,
    speed: Annotated[float, typer.Option(help="Replay speed (1 = real time).")] = 1.0,
    fs: Annotated[Path | None, typer.Option(help="Board filesystem folder to keep (default: a temporary one).")] = None,
    device: Annotated[str | None, typer.Option(help="Device id the board announces.")] = None,
    loop: Annotated[bool, typer.Option(help="Start the recording again when it ends.")] = True,
    compile_mpy: Annotated[bool, typer.Option("--mpy/--no-mpy", help="Install the firmware as .mpy (mpy-cross) or as .py.")] = True,
    drop_rate: Annotated[float, typer.Option(help="Testing: fraction of board->host bytes dropped.")] = 0.0,
    flip_rate: Annotated[float, typer.Option(help="Testing: fraction of board->host bytes with a flipped bit.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Testing: seed of the fault injection.")] = 0,
    limp: Annotated[float, typer.Option(help="Knee sleeve: shorten the --side leg's steps by this fraction (0-0.6), for the asymmetry feedback.")] = 0.0,
    ble: Annotated[bool, typer.Option(help="Also serve the board's BLE link on a virtual BLE stack (bumble); prints `ble: NAME via TRANSPORT`.")] = False,
    ble_queue: Annotated[int | None, typer.Option(help="Testing: the BLE notify queue size (packets) before ENOMEM.")] = None,
    epoch_ms: Annotated[int | None, typer.Option(help="Wall-clock time (ms since 1970) at which the replay's first sample played: give the left and right boards of one walk the same value and they stay in step, as two feet do (default: the replay starts at boot).")] = None,
    key: Annotated[bool, typer.Option("--key/--no-key", help="Provision the board's update key from your master key, as `gaitloop flash` does, so `gaitloop push` works on it.")] = True,
    hal: Annotated[str, typer.Option(help="replay: the replay HAL; drivers: the board's real drivers on part models fed by the recording (docs/hardware.md).")] = "replay",
    profile: Annotated[str | None, typer.Option(help="With --hal drivers: the board profile (default picow-BOARD; see docs/hardware.md).")] = None,
) -> None:
    """Run a virtual board: the real firmware under MicroPython behind a pseudo-terminal.

    Prints `port: /dev/pts/N`; stream from it with `gaitloop stream --port ...`, or talk to its
    REPL with `mpremote connect PORT resume ...`. Runs until Ctrl-C or SIGTERM.
    """
    from gaitloop.sim.vboard import LinkFaults, VirtualBoard

    vb = VirtualBoard(board.value, side.value, data, speed=speed, fs_dir=fs, device=device,
                      loop=loop, compile_mpy=compile_mpy,
                      faults=LinkFaults(drop_rate, flip_rate, seed), limp=limp, ble=ble,
                      ble_queue=ble_queue, provision_key=key, replay_epoch_ms=epoch_ms,
                      hal=hal, profile=profile)
    try:
        port = vb.start()
        print(f"port: {port}", flush=True)
        print(f"fs: {vb.fs}", flush=True)
        if ble:
            print(f"ble: {vb.ble_name()} via {vb.ble_transport}", flush=True)
        _wait_for_signal()
    finally:
        vb.stop()
    if vb.error:
        raise GaitloopError(vb.error)


@app.command()
def stream(
    port: Annotated[list[str] | None, typer.Option(help="Serial port of a board (repeat for several boards).")] = None,
    ble: Annotated[list[str] | None, typer.Option(help="BLE board by name or address, NAME[@TRANSPORT] (repeat; mix with --port).")] = None,
    ble_transport: Annotated[str | None, typer.Option(help="bumble HCI transport for --ble (e.g. the `via` of `gaitloop sim --ble`); default: the system's adapter via bleak.")] = None,
    seconds: Annotated[float | None, typer.Option(help="Stop after this many seconds (default: until Ctrl-C).")] = None,
    record: Annotated[Path | None, typer.Option(help="Record the session to this file (crash-safe).")] = None,
    fmt: Annotated[OutFormat, typer.Option("--format", help="live: a table; jsonl: one JSON object per message.")] = OutFormat.live,
) -> None:
    """Stream live gait from boards: decode, count losses, show and record."""
    from gaitloop.link import open_link
    from gaitloop.record import Recorder, check_record_target
    from gaitloop.stream import StreamSession, jsonl_sink

    if seconds is not None and not seconds > 0:
        raise GaitloopError(f"--seconds must be positive, not {seconds:g}")
    if record is not None:
        check_record_target(record)
    specs = list(port or []) + [f"ble:{b.removeprefix('ble:')}" for b in ble or []]
    if not specs:
        from gaitloop.cli_usage import usage_error

        raise usage_error("give at least one board: --port PATH or --ble NAME")
    links = []
    try:
        for p in specs:
            links.append(open_link(p, ble_transport))
    except GaitloopError:
        for link in links:
            link.close()
        raise
    recorder = Recorder(record, {"ports": specs}) if record else None
    sinks = [jsonl_sink()] if fmt == OutFormat.jsonl else []
    from gaitloop.mgait.twoknee_live import LiveTwoSleeves  # a left and a right knee board: steps

    two_sleeves = LiveTwoSleeves(out=sys.stdout if fmt == OutFormat.jsonl else None)
    session = StreamSession(links, recorder, sinks + [two_sleeves])
    signal.signal(signal.SIGTERM, lambda *_: session.stop())
    try:
        if fmt == OutFormat.live:
            from gaitloop.live import LiveView, live_table

            with live_table(LiveView(session, extra=[two_sleeves.text]), Console()) as redraw:
                session.run(seconds, on_tick=redraw, require_board=NO_BOARD_S)
        else:
            session.run(seconds, require_board=NO_BOARD_S)
    except KeyboardInterrupt:
        session.close()
    two_sleeves.finish()  # the last two-sleeve step waits for ticks past it: read it now
    for ch in session.channels:
        s = ch.stats()
        console.print(
            f"{s['device'] or ch.link.name}: {s['samples']} samples, {s['events']} events, "
            f"{s['seq_gaps']} frame gaps, {s['sample_gaps']} samples missing, "
            f"{s['crc_errors']} CRC errors, {s['bad_frames']} bad frames"
        )
        h = ch.state.hello
        if h is not None and "error" in h.extra:
            console.print(f"[yellow]{s['device']}: processors failed to start: {h.extra['error']}[/]")
        if ch.decoder.text:
            console.print(f"[yellow]{ch.link.name} console text:[/]")
            for line in list(ch.decoder.text)[-8:]:
                console.print(f"  | {line}", highlight=False, markup=False)
    if two_sleeves.steps:
        console.print(two_sleeves.text())
    if record:
        console.print(f"recorded: {record}")


@app.command()
def flash(
    port: Annotated[str, typer.Option(help="Serial port of the board (MicroPython already on it).")],
    arch: Annotated[str, typer.Option(help="mpy-cross -march for viper code: host (virtual board), xtensawin (ESP32-S3), armv7emsp, ...")] = "host",
    config: Annotated[Path | None, typer.Option(help="A config.json to install with the firmware (board, side, device, calibration).")] = None,
    verify: Annotated[bool, typer.Option(help="Reboot and wait for the board's HELLO.")] = True,
    profile: Annotated[str | None, typer.Option(help="Board profile (docs/hardware.md): run on its drivers; sets --arch; refused on another MCU.")] = None,
    allow_frozen: Annotated[bool, typer.Option(help="On a board with gaitfw frozen into its image: install only main.py, the config and the update key (refused without it).")] = False,
) -> None:
    """Flash the gaitloop firmware: compile with mpy-cross, copy with mpremote, reboot, verify."""
    from gaitloop.flash import board_profile
    from gaitloop.flash import flash as do_flash

    if profile is not None:
        march = str(board_profile(profile)["march"])
        if arch == "host":
            arch = march
        elif arch != march:
            raise GaitloopError(f"--arch {arch} does not match profile {profile} (-march={march})")

    cfg = None
    if config is not None:
        try:
            cfg = json.loads(config.read_text())
        except (OSError, ValueError) as exc:
            raise GaitloopError(f"{config}: not a readable JSON config ({exc})") from None
        if not isinstance(cfg, dict):
            raise GaitloopError(f"{config}: the config must be a JSON object")
    err = Console(stderr=True)
    if err.is_terminal:  # a spinner with the current step; nothing extra when redirected
        with err.status("flashing") as status:
            summary = do_flash(port, arch=arch, config=cfg, verify=verify, profile=profile,
                               progress=lambda step: status.update(step + " ..."), allow_frozen=allow_frozen)
    else:
        summary = do_flash(port, arch=arch, config=cfg, verify=verify, profile=profile, allow_frozen=allow_frozen)
    print(json.dumps(summary, indent=1))


def _parse_settings(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise GaitloopError(f"--set takes KEY=VALUE, not {item!r}")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


@app.command()
def info(
    file: Annotated[Path, typer.Argument(help="A session file recorded by `gaitloop stream --record`.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Summarise a recording: duration, boards, samples, gaps."""
    from gaitloop.asymmetry import recording_asymmetry, summary_text
    from gaitloop.record import info as rec_info
    from gaitloop.record import read_recording

    recording = read_recording(file)
    summary = rec_info(recording)
    summary["left_right"] = recording_asymmetry(recording)  # two insoles: steps across boards
    from gaitloop.mgait.twoknee_live import recording_two_sleeves

    summary["two_sleeves"] = recording_two_sleeves(recording)  # two knee boards: same-instant steps
    if as_json:
        print(json.dumps(summary, indent=1))
        return
    out = Console()
    out.print(f"[bold]{summary['file']}[/]  {summary['duration_s']:.1f} s, {len(summary['boards'])} board(s)")
    for b in summary["boards"]:
        out.print(
            f"  {b['device']} ({b['kind']}, {b['side']}, {b['rate_hz']} Hz): {b['samples']} samples "
            f"= {b['sample_seconds']:.1f} s at {b['rate_hz']} Hz, {b['events']} events, "
            f"gaps: {b['seq_gaps']} frames / {b['sample_gaps']} samples, {b['crc_errors']} CRC errors"
        )
    if summary["left_right"]:
        out.print("  left/right on one timeline (median ms left | right, symmetry index): "
                  + summary_text(summary["left_right"]))
    ts = summary["two_sleeves"]
    if ts and ts.get("n_steps"):
        def num(v: float | None, unit: str) -> str:
            return "-" if v is None else f"{v:.3f} m" if unit == "m" else f"{v:.1f} %"

        out.print(f"  two sleeves on one timeline: {ts['n_steps']} steps, median L {num(ts['median_l_m'], 'm')} | "
                  f"R {num(ts['median_r_m'], 'm')}, median stride asymmetry {num(ts['median_asymmetry_pct'], '%')}"
                  + (f", {ts['n_rejected']} rejected (outside the board's min/max step)" if ts.get("n_rejected") else ""))
    if summary["corrupt_records"] or summary["truncated_tail"]:
        out.print(f"  [yellow]{summary['corrupt_records']} corrupt record(s); torn tail: {summary['truncated_tail']}[/]")
    for note in summary["notes"]:
        if "corrupt record" not in note:
            out.print(f"  [yellow]recovered: {note}[/]")


@app.command()
def export(
    file: Annotated[Path, typer.Argument(help="A session file, or a trained model checkpoint.")],
    csv: Annotated[Path | None, typer.Option(help="Session: write samples as CSV.")] = None,
    parquet: Annotated[Path | None, typer.Option(help="Session: write samples as Parquet.")] = None,
    events: Annotated[Path | None, typer.Option(help="Session: write events as CSV.")] = None,
    out: Annotated[Path | None, typer.Option(help="Model: output folder for ONNX / int8 / TFLite files.")] = None,
    device: Annotated[bool, typer.Option(help="Model: also write the on-board device format.")] = False,
    data: Annotated[Path | None, typer.Option(help="Model: data for int8 calibration and parity.")] = None,
) -> None:
    """Export a recorded session (--csv/--parquet/--events) or a trained model (--out DIR)."""
    if out is not None:
        if csv or parquet or events:
            raise GaitloopError("give either --out (model export) or --csv/--parquet/--events (session export)")
        try:
            from gaitloop.export.pipeline import export_model
        except ImportError as exc:
            raise GaitloopError(f"model export is not available: {exc}") from None
        report = export_model(file, out, device=device, data=data)
        print(json.dumps(report, indent=1, default=str))
        return
    if not (csv or parquet or events):
        raise GaitloopError("nothing to do: give --csv, --parquet or --events (or --out for a model)")
    from gaitloop.record import export as rec_export
    from gaitloop.record import read_recording

    rec = read_recording(file)
    for path in rec_export(rec, csv=csv, parquet=parquet, events_csv=events):
        console.print(f"wrote {path}")
    for note in rec.notes:
        console.print(f"[yellow]{file}: {note}[/]")


@app.command()
def demo(
    data: Annotated[Path | None, typer.Option(help="gaitpdb recording to walk on (default: the one shipped in data/).")] = None,
    seconds: Annotated[float, typer.Option(help="How long to stream.")] = 20.0,
    speed: Annotated[float, typer.Option(help="Replay speed of the virtual boards.")] = 2.0,
    out: Annotated[Path, typer.Option(help="Folder for the recording, exports and report.")] = Path("out/demo"),
    live: Annotated[bool, typer.Option(help="Show the live table while streaming.")] = True,
    knee_limp: Annotated[float, typer.Option(min=0.0, max=0.5, help="Simulated limp of the knee sleeve's walk "
                                             "(fraction the left steps shorten; 0: as captured).")] = 0.3,
    ble: Annotated[bool, typer.Option(help="Stream the two insoles over (virtual) BLE; the knee sleeve stays on serial.")] = True,
) -> None:
    """Virtual boards walk on real recorded data: streamed, fed back, recorded, reported."""
    from gaitloop.demo import run_demo

    run_demo(data=data, seconds=seconds, speed=speed, out=out, live=live, knee_limp=knee_limp, ble=ble)


@app.command()
def report(
    file: Annotated[Path, typer.Argument(help="A session file.")],
    out: Annotated[Path, typer.Option(help="Output folder for report.html, report.png, steps.csv and per-board plots.")] = Path("out/report"),
) -> None:
    """The gait report of a recorded session: HTML, a one-page PNG and a CSV of every step."""
    from gaitloop.outpaths import check_out_dir
    from gaitloop.record import read_recording
    from gaitloop.report import write_report

    check_out_dir(out)
    rec = read_recording(file)
    path = write_report(rec, out)
    console.print(f"report: {path}")
    for note in rec.notes:
        console.print(f"[yellow]{file}: {note}[/]")


def _load_plugins() -> None:
    for name in _PLUGINS:
        importlib.import_module(name).register(app, train, eval_)


_load_plugins()


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    # SIGTERM / SIGHUP end the command through its finally blocks (boards stopped, files
    # closed); commands that wait for a signal install their own handlers.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, _exit_on_signal)
    from gaitloop.cli_usage import run

    sys.exit(run(app))


if __name__ == "__main__":
    main()
