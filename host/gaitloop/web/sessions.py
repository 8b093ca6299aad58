"""The sessions page's data: recordings in the sessions folder, their summaries, and their
report and exports made by the same functions as `gaitloop report` / `gaitloop export`.

Why errors become one line here: the page shows a cut, damaged or foreign file as one clear
row or message (`error`), never a server error, so every failure of reading or reporting a
file is turned into a `GaitloopError` with one line of text."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from gaitloop.errors import GaitloopError
from gaitloop.record import export, info, read_recording
from gaitloop.report import write_report
from gaitloop.report_gait import SOURCE_NAMES, TWO, GaitData, gait_data, summary

log = logging.getLogger("gaitloop.serve")

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


def _steps(data: GaitData) -> int:
    """Steps the boards detected: the two-sleeve steps with a left and a right knee board (one
    per step; each board also reports every step by eq. 6), else the knee sleeve's steps when
    there is one (it sees both legs), else the insoles' stances (heel strike to toe off, one per
    step of that foot): never two sources added up."""
    two = sum(1 for r in data.steps if r["source"] == TWO and r["step_length_m"] is not None)
    if two:
        return two
    knee = sum(1 for r in data.steps if r["source"] == "knee" and r["step_length_m"] is not None)
    if knee:
        return knee
    return sum(len(v) for v in data.stances.values())


#: summaries by (file, mtime, size): the list is polled, a recording is read once
_CACHE: dict[tuple[str, int, int], dict[str, Any]] = {}


def summarize(path: Path) -> dict[str, Any]:
    """One row of the sessions table (duration, boards, steps, mean step length, asymmetry),
    from the same numbers as the report's summary table (`report_gait`). A file that cannot be
    read gives a row with `error` (one line); a recovered one a row with `note`."""
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _CACHE:
        for old in [k for k in _CACHE if k[0] == key[0]]:  # the same file, since changed
            del _CACHE[old]
        _CACHE[key] = _summarize(path)
    return _CACHE[key]


def _summarize(path: Path) -> dict[str, Any]:
    try:
        rec = read_recording(path)
        s = info(rec)
        data = gait_data(rec)
        rows = {(r["parameter"], r["source"]): r for r in summary(data)}
    except (GaitloopError, OSError, ValueError) as exc:
        return {"name": path.name, "error": one_line(exc).replace(f"{path}: ", "")}
    except Exception as exc:  # noqa: BLE001 - a file the parser chokes on is one line, never a 500
        log.exception("summary of %s", path)
        return {"name": path.name, "error": f"cannot be read ({type(exc).__name__}: {one_line(exc)})"}

    def get(param: str, source: str, key: str) -> float | None:
        v = rows.get((param, source), {}).get(key)
        return None if v is None else round(float(v), 3)

    step_src = SOURCE_NAMES[TWO] if ("Step length", SOURCE_NAMES[TWO]) in rows else "knee sleeve"
    return {
        "name": path.name,
        "size": path.stat().st_size,
        "created": s["created"],
        "duration_s": round(data.end_s, 1),
        "wall_s": s["duration_s"],
        "boards": [b["device"] or b["port"] for b in s["boards"]],
        "samples": sum(b["samples"] for b in s["boards"]),
        "steps": _steps(data),
        # two sleeves: their same-instant steps (one per step), else the knee sleeve's own
        "mean_step_m": get("Step length", step_src, "mean"),
        "step_length_asym_pct": get("Step length", step_src, "asym_pct"),
        "step_si_pct": get("Step time", "insoles", "asym_pct"),
        "stance_si_pct": get("Stance time", "insoles", "asym_pct"),
        "note": "; ".join(rec.notes + (["the file ends mid-record (cut off)"] if rec.truncated_tail else [])) or None,
        "lacks": data.lacks,
    }


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


def list_sessions(folder: Path) -> list[dict[str, Any]]:
    if not folder.is_dir():
        return []
    def mtime(p: Path) -> float:
        try:
            return p.stat().st_mtime
        except OSError:  # deleted while listing
            return 0.0

    out = []
    for p in sorted(folder.glob(f"*{SUFFIX}"), key=mtime, reverse=True):
        try:
            out.append(summarize(p))
        except OSError as exc:  # removed or unreadable between the listing and the read
            out.append({"name": p.name, "error": one_line(exc)})
    return out


def report_dir(folder: Path, name: str) -> Path:
    return folder / (name[: -len(SUFFIX)] + ".report")


def build_report(folder: Path, name: str) -> list[str]:
    """Write (or reuse, when newer than the recording) the report and CSVs; return file names.
    The report is `gaitloop report`'s own `write_report`; a file it cannot report raises a
    `GaitloopError` of one line."""
    src = session_path(folder, name)
    out = report_dir(folder, name)
    html = out / "report.html"
    if not html.is_file() or html.stat().st_mtime < src.stat().st_mtime:
        try:
            rec = read_recording(src)
            write_report(rec, out)
            for old in out.glob("*.csv"):
                if old.name != "steps.csv":
                    old.unlink()
            export(rec, csv=out / "samples.csv", events_csv=out / "events.csv")
        except GaitloopError as exc:
            raise GaitloopError(f"{name}: {one_line(exc)}") from exc
        except Exception as exc:  # noqa: BLE001 - one line on the page, the traceback in the log
            log.exception("report of %s", name)
            raise GaitloopError(f"{name}: no report could be made ({type(exc).__name__}: {one_line(exc)})") from exc
    return sorted(p.name for p in out.iterdir() if p.suffix in (".html", ".png", ".csv"))
