"""Bake models/csm_default.json into firmware/gaitfw/csm.py as the built-in default templates.

Why: a board without a template file (or with a corrupt one) must still detect gait, so the
firmware carries the shipped templates' integer form. Run after retraining:

    .venv/bin/python tools/csm_bake.py [models/csm_default.json]

tests/csm checks that the baked block equals the shipped JSON.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CSM = ROOT / "firmware" / "gaitfw" / "csm.py"
BLOCK = re.compile(r"(# BEGIN DEFAULT TEMPLATES[^\n]*\n)(.*?)(# END DEFAULT TEMPLATES)", re.S)


def render(d: dict) -> str:
    fx = d["fixed"]
    params = {k: int(v) for k, v in d.get("params", {}).items()}
    return (f"DEFAULT_ON = {fx['on']!r}\n"
            f"DEFAULT_OFF = {fx['off']!r}\n"
            f"DEFAULT_FILE_PARAMS = {params!r}\n")


def main(argv: list[str]) -> int:
    src = Path(argv[1]) if len(argv) > 1 else ROOT / "models" / "csm_default.json"
    d = json.loads(src.read_text())
    text = CSM.read_text()
    if not BLOCK.search(text):
        print(f"error: no DEFAULT TEMPLATES block in {CSM}", file=sys.stderr)
        return 2
    new = BLOCK.sub(lambda m: m.group(1) + render(d) + m.group(3), text)
    CSM.write_text(new)
    print(f"baked {src.name} into {CSM.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
