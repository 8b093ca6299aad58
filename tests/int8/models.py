"""The committed student artifacts the int8 tests run (written by tools/ship_student.py)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
NAME = "student_grf"
TFLITE = MODELS / f"{NAME}_int8.tflite"
GLDM = MODELS / f"{NAME}.gldm"
CARD = MODELS / f"{NAME}.card.json"


@cache
def card() -> dict:
    return json.loads(CARD.read_text())
