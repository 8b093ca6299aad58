"""Event fields as a person reads them: physical units, no placeholder fields, flags by name.

Why here: the board sends each EVENT as two int32 fields whose fixed-point meaning is in the
field name of `gaitfw.events.NAMES` (`stance_ms`, `alpha_f_cdeg`, `cadence_x100`,
`force_dN`, and `unused` where a code needs only one value). The live table, the report and
the terminal summary all show events, so they read the names through this one module.
"""

from __future__ import annotations

from gaitloop.flags import flag_text
from gaitloop.messages import Event

#: field names that carry no information (the events table pads one-value codes with them)
HIDDEN_FIELDS = frozenset({"unused"})

#: (event, field) pairs holding STATUS bit masks (`foot.ST_*`, `protocol.ST_*`)
FLAG_FIELDS = frozenset({("insole_status", "flags"), ("insole_status", "changed"),
                         ("sensor_fault", "flags")})

# fixed-point multipliers, then unit suffixes: (suffix, unit, scale of one count)
_MULTIPLIERS = (("_x1000", 1e-3), ("_x100", 1e-2), ("_x10", 1e-1))
_UNITS = (("_mm_s", "mm/s", 1.0), ("_cdeg", "deg", 0.01), ("_dN", "N", 0.1),
          ("_pct", "%", 1.0), ("_spm", "steps/min", 1.0), ("_ms", "ms", 1.0), ("_mm", "mm", 1.0))
_IMPLIED_UNITS = {"cadence": "steps/min", "speed": "mm/s"}
_ABBREV = {"hs": "heel strike"}


def shown_fields(ev: Event) -> dict[str, int]:
    """The event's named fields without placeholders (`unused`)."""
    return {k: v for k, v in ev.fields().items() if k not in HIDDEN_FIELDS}


def scaled(field: str, value: int) -> tuple[str, float, str]:
    """(label, value in physical units, unit): `cadence_x100`, 10512 -> ('cadence', 105.12,
    'steps/min'); `alpha_f_cdeg`, 1234 -> ('alpha_f', 12.34, 'deg')."""
    if field.startswith("ms_since_"):  # ms_since_hs: time since heel strike
        what = field[len("ms_since_"):]
        return f"since {_ABBREV.get(what, what)}", float(value), "ms"
    scale = 1.0
    label = field
    for suffix, mult in _MULTIPLIERS:
        if label.endswith(suffix):
            label, scale = label[: -len(suffix)], mult
            break
    unit = ""
    for suffix, u, s in _UNITS:
        if label.endswith(suffix) and len(label) > len(suffix):
            label, unit, scale = label[: -len(suffix)], u, scale * s
            break
    unit = unit or _IMPLIED_UNITS.get(label, "")
    return label, value * scale, unit


def _number(x: float) -> str:
    if x == int(x) and abs(x) < 1e9:
        return str(int(x))
    return f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}"


#: fields holding a code, by name (from the comments in gaitfw/events.py)
CODED_FIELDS = {
    ("mg_step_lost", "reason"): {1: "timeout", 2: "resync"},
    ("mg_step_rejected", "reason"): {1: "saturated", 2: "dropout", 3: "out of range"},
    ("student_model", "state"): {0: "loaded", 1: "file missing", 2: "invalid"},
    ("csm_sensor", "sensor"): {0: "heel", 1: "ball"},
    ("csm_sensor", "state"): {0: "off", 1: "on"},
    ("config", "defaulted"): {0: "loaded", 1: "defaults used"},
}

#: fields for debugging the board, left out of glance views (kept in exports)
DIAGNOSTIC_FIELDS = frozenset({"raw_int8", "stride_index", "margin", "ram_bytes"})


def field_text(event_name: str, field: str, value: int) -> str:
    """One field as `label value unit`, flags and codes by name: 'stance 620 ms',
    'flags missing,guard', 'reason timeout'."""
    if (event_name, field) in FLAG_FIELDS:
        return f"{field} {flag_text(value)}"
    coded = CODED_FIELDS.get((event_name, field))
    if coded is not None:
        return f"{field} {coded.get(value, value)}"
    label, x, unit = scaled(field, value)
    return f"{label} {_number(x)}" + (f" {unit}" if unit else "")


def event_text(ev: Event, diagnostics: bool = True) -> str:
    """The shown fields of an event, comma separated (without diagnostic ones if asked)."""
    return ", ".join(field_text(ev.name, k, v) for k, v in shown_fields(ev).items()
                     if diagnostics or k not in DIAGNOSTIC_FIELDS)


SIDES = {0: "left", 1: "right", 2: "both"}


def side_text(side: int) -> str:
    return SIDES.get(side, str(side))


def kinds_text(counts: dict[str, int], limit: int = 6) -> str:
    """'a x40, b x3 and 2 more kinds (5 events): c, d': the most frequent kinds with counts,
    then every kind left out named, so a short summary never drops one silently."""
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"{k} x{v}" for k, v in ranked[:limit])
    rest = ranked[limit:]
    if not rest:
        return shown or "none"
    n = sum(v for _, v in rest)
    return (f"{shown} and {len(rest)} more kind{'s' if len(rest) > 1 else ''} ({n} event{'s' if n > 1 else ''}): "
            + ", ".join(k for k, _ in rest))
