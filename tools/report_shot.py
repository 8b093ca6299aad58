"""The README's report picture: the gait-lab page of a session (`gaitloop report`'s own
`build_lab_report`), drawn small and saved as a palette PNG under 150 KB.

    gaitloop demo --no-live --seconds 30 --speed 4 --out out/demo
    python tools/report_shot.py out/demo/session.glsession docs/img/report.png

Why a palette: the page is flat colours and text, so 128 colours keep it readable at a
third of the size of the full-colour PNG that `gaitloop report` writes.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from PIL import Image

from gaitloop.outpaths import write_atomic
from gaitloop.record import read_recording
from gaitloop.report_fig import figure_png
from gaitloop.report_lab import build_lab_report

LIMIT = 150_000


def main(session: str, out: str, dpi: int = 80) -> int:
    lab = build_lab_report(read_recording(session))
    img = Image.open(io.BytesIO(figure_png(lab.figure, dpi=dpi))).convert("RGB")
    buf = io.BytesIO()
    img.quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(buf, "PNG", optimize=True)
    data = buf.getvalue()
    if len(data) > LIMIT:
        print(f"{out}: {len(data)} bytes, over {LIMIT}; try a lower dpi", file=sys.stderr)
        return 1
    write_atomic(Path(out), data)
    print(f"{out}: {img.width}x{img.height}, {len(data)} bytes")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: python tools/report_shot.py SESSION.glsession OUT.png", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
