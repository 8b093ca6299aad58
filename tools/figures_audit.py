"""Audit: every figure in README.md and docs/*.md is tied to a command that prints it.

    .venv/bin/python tools/figures_audit.py           # problems, one per line; exit 1 if any
    .venv/bin/python tools/figures_audit.py --list    # every section with figures and its link

Why: issue 14 asks that a reader can regenerate every number in the docs. A page section
(the text under one heading) that states figures -- numbers with a unit, a percentage or a
ratio -- must either name a command in the section itself (a backticked `gaitloop ...`,
`.venv/bin/...`, `make ...`, `pytest ...`, `python -m ...` or a path under `tools/`), or
be listed in docs/figures.md with what its figures are: `command` (the command that prints
them, named there), `see` (another section that names it), `parameter` (design constants, not
measurements), `paper` (a paper's figures), `projection` (a written projection with its
assumption), or `not reproducible` (why, and what would be needed).

The check is per section, not per number: a section that names one command may still state a
figure that another command prints; the per-figure pins for the headline numbers are in
docs/results.json (tools/results.py). What this catches is a section of figures with no way
to regenerate them, and a docs/figures.md row that names a script that does not exist or a
section that is gone.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AUDIT = ROOT / "docs" / "figures.md"
KINDS = ("command", "see", "parameter", "paper", "projection", "not reproducible")

# a figure: a number followed by a unit, a percent sign or an "x" ratio
FIGURE = re.compile(r"(?<![\w./-])\d[\d ,]*\.?\d*\s?(?:%|x\b|ms\b|us\b|s\b|KB\b|MB\b|B/s|"
                    r"instructions\b|N\b|cm\b|Hz\b)")
COMMAND = re.compile(r"`[^`]*(?:gaitloop |\.venv/bin/|make |tools/|pytest|python -m)[^`]*`")
SCRIPT = re.compile(r"(?:tools|tests)/[\w/.-]+\.(?:py|sh)")
HEADING = re.compile(r"^(#{1,6}) +(.*?)\s*$", re.M)


def pages() -> list[Path]:
    return [ROOT / "README.md"] + sorted(p for p in (ROOT / "docs").glob("*.md") if p != AUDIT)


def sections(text: str) -> list[tuple[str, str]]:
    """(heading text, body) per section; the text before the first heading is '(top)'.
    Headings inside fenced code blocks are not headings."""
    out, head, body, fenced = [], "(top)", [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        m = None if fenced else HEADING.match(line)
        if m:
            out.append((head, "\n".join(body)))
            head, body = m.group(2), []
        else:
            body.append(line)
    out.append((head, "\n".join(body)))
    return out


def page_texts() -> dict[str, str]:
    """{path relative to the repository: text} of README.md and docs/*.md (not this audit)."""
    return {p.relative_to(ROOT).as_posix(): p.read_text() for p in pages()}


def unlinked(texts: dict[str, str] | None = None) -> list[tuple[str, str, list[str]]]:
    """(page, heading, figures) of every section that states figures but names no command."""
    found = []
    for page, text in (page_texts() if texts is None else texts).items():
        for head, body in sections(text):
            figs = [m.group(0).replace("\n", " ") for m in FIGURE.finditer(body)]
            if figs and not COMMAND.search(body):
                found.append((page, head, figs))
    return found


def audit_rows(text: str | None = None) -> dict[tuple[str, str], tuple[str, str]]:
    """docs/figures.md's table: {(page, heading): (kind, command or reason)}."""
    text = AUDIT.read_text() if text is None else text
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) != 4 or cells[0] in ("page", "") or set(cells[0]) <= {"-", ":"}:
            continue
        page, head, kind, why = cells
        rows[(page.strip("`"), head.replace("\\|", "|"))] = (kind, why)
    return rows


def problems(texts: dict[str, str] | None = None, audit_text: str | None = None) -> list[str]:
    """One line per section of figures without a command or a row, and per bad row."""
    texts = page_texts() if texts is None else texts
    rows = audit_rows(audit_text)
    bad = []
    for page, head, figs in unlinked(texts):
        if (page, head) not in rows:
            bad.append(f"{page} '{head}': figures ({', '.join(figs[:4])}) with no command in the "
                       f"section and no row in docs/figures.md")
    present = {(page, h) for page, text in texts.items() for h, _ in sections(text)}
    for (page, head), (kind, why) in rows.items():
        if (page, head) not in present:
            bad.append(f"docs/figures.md: no section '{head}' in {page} (renamed or removed?)")
        if kind not in KINDS:
            bad.append(f"docs/figures.md: '{head}' has kind {kind!r}, not one of {', '.join(KINDS)}")
        if not why:
            bad.append(f"docs/figures.md: '{head}' gives no command or reason")
        for path in SCRIPT.findall(why):
            if not (ROOT / path).exists():
                bad.append(f"docs/figures.md: '{head}' names {path}, which does not exist")
        if kind == "command" and not (COMMAND.search(why) or SCRIPT.search(why)):
            bad.append(f"docs/figures.md: '{head}' is of kind command but names none")
    return bad


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--list" in argv:
        rows = audit_rows()
        for page, head, figs in unlinked():
            kind, why = rows.get((page, head), ("MISSING", ""))
            print(f"{page} | {head} | {kind}: {why} | {', '.join(figs[:6])}")
        return 0
    bad = problems()
    for line in bad:
        print(f"figures_audit: {line}", file=sys.stderr)
    if not bad:
        print(f"figures_audit: every section with figures names a command or is listed in "
              f"docs/figures.md ({len(audit_rows())} rows)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
