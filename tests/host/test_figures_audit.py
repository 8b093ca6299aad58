"""Every figure in README.md and docs/ is tied to a command (tools/figures_audit.py, issue 14):
a section stating figures names a command or has a row in docs/figures.md. Needs no dataset."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _audit():
    spec = importlib.util.spec_from_file_location("figures_audit", ROOT / "tools" / "figures_audit.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_docs_pass_the_audit():
    fa = _audit()
    assert fa.problems() == []
    assert fa.main([]) == 0


ROWS = """| page | section | kind | command or reason |
|---|---|---|---|
| docs/x.md | Listed | paper | the paper's Table 2 |
| docs/x.md | Gone | parameter | a rate |
| docs/x.md | Bad script | command | `tools/bench/bench_nothing.py` |
"""


def test_a_section_of_figures_without_command_or_row_is_flagged():
    fa = _audit()
    texts = {"docs/x.md": "# T\n\n## Measured\n\nIt takes 12.5 ms per sample.\n\n"
                          "## Scripted\n\n3.4x faster (`.venv/bin/python tools/bench/bench_csm.py`).\n\n"
                          "## Listed\n\nThe paper gives 93.3 %.\n\n## Bad script\n\n5 %\n\n"
                          "```\n# not a heading\n```\n"}
    bad = fa.problems(texts, ROWS)
    assert any("'Measured'" in b and "12.5 ms" in b for b in bad)  # no command, no row
    assert not any("'Scripted'" in b or "'Listed'" in b for b in bad)
    assert any("no section 'Gone'" in b for b in bad)  # a stale row
    assert any("bench_nothing.py, which does not exist" in b for b in bad)
    assert not any("not a heading" in b for b in bad)
    assert len(bad) == 3


def test_sections_skip_headings_inside_code_fences():
    fa = _audit()
    heads = [h for h, _ in fa.sections("intro\n# A\n```sh\n# comment\n```\n## B\ntext\n")]
    assert heads == ["(top)", "A", "B"]
