"""What the CLI prints: plain help for every command, one-line usage errors, --version.

Runs the real command tree in-process through `gaitloop.cli_usage.run` (what `main()` calls),
plus one subprocess run of the installed entry point so the wiring itself is covered.
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata

import pytest

from gaitfw import protocol
from gaitfw.app import FW_VERSION
from gaitloop.cli import app
from gaitloop.cli_usage import build_command, run

BOX = re.compile("[\u2500-\u257f]")  # box-drawing block


def _command_paths(cmd, prefix=()):
    yield prefix
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _command_paths(sub, (*prefix, name))


ALL_COMMANDS = list(_command_paths(build_command(app)))


def _run(capsys, argv):
    rc = run(app, argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_the_tree_has_the_documented_commands():
    names = {" ".join(p) for p in ALL_COMMANDS}
    assert {"", "sim", "stream", "report", "train", "eval", "eval mgait"} <= names


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda p: " ".join(p) or "gaitloop")
def test_help_is_plain_text(capsys, path):
    rc, out, err = _run(capsys, [*path, "--help"])
    assert rc == 0 and err == ""
    assert out.startswith(f"Usage: gaitloop {' '.join(path)}".rstrip())
    assert "<bool>" not in out
    assert "<list[" not in out
    assert not BOX.search(out), BOX.search(out)
    assert "{" not in out.splitlines()[0]  # usage line: FILE, not {file}
    assert "/work/" not in out and "/home/" not in out  # no checkout paths in defaults
    assert not re.search(r"\d\.\d{5,}", out)  # no 0.3333333333333333 defaults


def test_command_lists_keep_whole_first_paragraphs(capsys):
    # click's default cut "Fit l1, l2, d5 (bounded batch LS, eq. 8), ..." at "eq."
    _rc, out, _ = _run(capsys, ["--help"])
    listing = " ".join(out.split("Commands:")[1].split())
    assert "Fit l1, l2, d5 (bounded batch LS, eq. 8), the angle biases and an RLS reference." in listing
    assert "..." not in listing


def test_docstring_paragraphs_are_rewrapped_not_cut(capsys):
    # the sim docstring wraps "its\nREPL" mid-sentence; the help must join such lines
    _rc, out, _ = _run(capsys, ["sim", "--help"])
    assert "or talk to its REPL with" in " ".join(out.split())
    assert not any(line.rstrip().endswith("its") for line in out.splitlines())


def test_repeatable_option_shows_its_element_type(capsys):
    _rc, out, _ = _run(capsys, ["stream", "--help"])
    assert re.search(r"--port <str>\s+Serial port", out)
    _rc, out, _ = _run(capsys, ["calibrate", "--help"])
    assert "--data <path>" in out and "Repeatable." in out


USAGE_ERRORS = {
    "missing option": ["stream"],
    "missing argument": ["info"],
    "bad number": ["sim", "--data", "x.txt", "--speed", "fast"],
    "bad choice": ["sim", "--data", "x.txt", "--board", "wrist"],
    "out of range": ["demo", "--knee-limp", "0.9"],
    "unknown command": ["strem"],
    "unknown subcommand": ["train", "nothing"],
    "unknown option": ["report", "x.glsession", "--outdir", "r"],
    "extra argument": ["info", "a.glsession", "b.glsession"],
    "option without value": ["stream", "--port"],
}


@pytest.mark.parametrize("argv", USAGE_ERRORS.values(), ids=USAGE_ERRORS.keys())
def test_usage_error_is_one_line_exit_2(capsys, argv):
    rc, out, err = _run(capsys, argv)
    assert rc == 2
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("error: ")
    assert f"'gaitloop {argv[0]}" in err or "'gaitloop --help'" in err  # where to read more
    assert not BOX.search(err)


def test_unknown_command_suggests_the_near_one(capsys):
    _rc, _out, err = _run(capsys, ["strem"])
    assert "stream" in err


def test_command_error_is_one_line_exit_1(capsys, tmp_path):
    rc, out, err = _run(capsys, ["info", str(tmp_path / "none.glsession")])
    assert rc == 1 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1, err


def test_no_command_prints_help(capsys):
    rc, out, err = _run(capsys, [])
    assert rc == 0 and err == ""
    assert out.startswith("Usage: gaitloop") and "Commands:" in out


def test_version(capsys):
    rc, out, err = _run(capsys, ["--version"])
    assert rc == 0 and err == ""
    assert out == f"gaitloop {metadata.version('gaitloop')} (firmware {FW_VERSION}, protocol {protocol.VERSION})\n"
    assert out.startswith("gaitloop 0.1.0 ")


def test_entry_point_wires_the_one_line_errors():
    proc = subprocess.run([sys.executable, "-c", "from gaitloop.cli import main; main()", "stream"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == ("error: give at least one board: --port PATH or --ble NAME "
                           "(see 'gaitloop stream --help')\n")
