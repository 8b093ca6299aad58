"""The sessions page's data: recordings in the sessions folder, their summaries, and their
report and exports made by the same functions as `gaitloop report` / `gaitloop export`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gaitloop.asymmetry import recording_asymmetry
from gaitloop.errors import GaitloopError
from gaitloop.record import export, info, read_recording
from gaitloop.report import write_report

SUFFIX = ".glsession"


def session_path(folder: Path, name: str) -> Path:
    """The recording `name` in `folder`; a name with a path in it or unknown is an error
    (the page can never reach a file outside the sessions folder)."""
    if "/" in name or "\\" in name or name.startswith(".") or not name.endswith(SUFFIX):
        raise FileNotFoundError(name)
    p = folder / name
    if not p.is_file():
        raise FileNotFoundError(name)
    return p


def _steps(rec: Any, summary: dict[str, Any]) -> int:
    """Heel strikes of the insoles plus knee-sleeve steps: the steps the boards detected."""
    from gaitfw import events as ev

    n = 0
    for b in summary["boards"]:
        n += sum(1 for _, _, e in rec.events(b["link"]) if e.code in (ev.EV_HEEL_STRIKE, ev.EV_MG_STEP))
    return n


def summarize(path: Path) -> dict[str, Any]:
    """One row of the sessions table (duration, boards, steps, mean step length, asymmetry)."""
    from gaitfw import events as ev

    try:
        rec = read_recording(path)
        s = info(rec)
    except (GaitloopError, OSError, ValueError) as exc:
        return {"name": path.name, "error": str(exc)}
    step_mm = [e.a for b in s["boards"] for _, _, e in rec.events(b["link"]) if e.code == ev.EV_MG_STEP]
    asym = recording_asymmetry(rec)
    return {
        "name": path.name,
        "size": path.stat().st_size,
        "created": s["created"],
        "duration_s": s["duration_s"],
        "boards": [b["device"] or b["port"] for b in s["boards"]],
        "samples": sum(b["samples"] for b in s["boards"]),
        "steps": _steps(rec, s),
        "mean_step_m": round(sum(step_mm) / len(step_mm) / 1000.0, 3) if step_mm else None,
        "step_si_pct": asym["step"]["si_pct"] if asym else None,
        "stance_si_pct": asym["stance"]["si_pct"] if asym else None,
    }


def list_sessions(folder: Path) -> list[dict[str, Any]]:
    if not folder.is_dir():
        return []
    files = sorted(folder.glob(f"*{SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True)
    return [summarize(p) for p in files]


def report_dir(folder: Path, name: str) -> Path:
    return folder / (name[: -len(SUFFIX)] + ".report")


def build_report(folder: Path, name: str) -> list[str]:
    """Write (or reuse, when newer than the recording) the report and CSVs; return file names."""
    src = session_path(folder, name)
    out = report_dir(folder, name)
    html = out / "report.html"
    if not html.is_file() or html.stat().st_mtime < src.stat().st_mtime:
        rec = read_recording(src)
        write_report(rec, out)
        for old in out.glob("*.csv"):
            old.unlink()
        export(rec, csv=out / "samples.csv", events_csv=out / "events.csv")
    return sorted(p.name for p in out.iterdir() if p.suffix in (".html", ".png", ".csv"))
