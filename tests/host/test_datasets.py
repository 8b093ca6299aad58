"""The dataset registry: checksums of the shipped files, fetch verification and cache layout.

No network here: `fetch` runs through its real urllib path on `file://` URLs of local copies,
and through an injected fetcher for a download that is cut short or corrupted.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gaitloop import datasets
from gaitloop.errors import DataError
from tests.conftest import ROOT, SHIPPED_CMU, SHIPPED_GAITPDB


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_registry_hashes_match_the_shipped_files():
    """The registry's SHA-256 of every file the repository ships is the real one."""
    checked = 0
    for name, shipped in (("gaitpdb", SHIPPED_GAITPDB), ("cmu", SHIPPED_CMU)):
        want = dict(datasets.get(name).files)
        for f in shipped.iterdir():
            rel = next((r for r in want if r.rsplit("/", 1)[-1] == f.name), None)
            if rel is not None:
                assert _sha(f) == want[rel], f
                checked += 1
    assert checked == 4  # two gaitpdb walks, the CMU skeleton and motion


def test_every_dataset_says_licence_and_source():
    for ds in datasets.DATASETS.values():
        assert ds.licence and ds.source and ds.subdir and ds.probe
        assert ds.fetchable == (ds.name in ("gaitpdb", "cmu"))
        if ds.fetchable:
            assert ds.base_url.startswith(("https://", "http://"))
            assert all(len(h) == 64 for _, h in ds.files)


def _mirror(tmp_path: Path) -> str:
    """A local 'server' holding the CMU files, as a file:// base URL."""
    srv = tmp_path / "srv"
    srv.mkdir()
    for f in ("35.asf", "35_01.amc"):
        shutil.copy(SHIPPED_CMU / f, srv / f)
    return srv.as_uri() + "/"


def test_fetch_verifies_and_lays_out_the_cache(tmp_path, monkeypatch):
    base = _mirror(tmp_path)
    cache = tmp_path / "cache"
    monkeypatch.setenv("GAITLOOP_CACHE", str(cache))
    monkeypatch.setenv("GAITLOOP_DATA", str(tmp_path / "nowhere"))
    assert datasets.locate("cmu") == SHIPPED_CMU  # the repository ships all of it
    folder = datasets.fetch("cmu", base_url=base)
    assert folder == cache / "mocap" / "cmu_gpmat"  # same layout as ../shared/data
    assert datasets.locate("cmu") == folder
    assert datasets.locate("gaitpdb") is None  # only 2 of its 20 walks are shipped
    assert datasets.verify("cmu", folder) == []
    assert not list(cache.rglob("*.part"))
    # a second fetch keeps verified files and downloads nothing
    calls = []
    datasets.fetch("cmu", fetcher=lambda url, out: calls.append(url), base_url=base)
    assert calls == []


def test_bad_hash_deletes_the_partial_download_and_keeps_good_files(tmp_path):
    base = _mirror(tmp_path)
    amc = Path(base.removeprefix("file://")) / "35_01.amc"
    amc.write_bytes(amc.read_bytes()[:-100])  # the server sends a cut file
    with pytest.raises(DataError, match=r"35_01.amc has SHA-256 .* partial download deleted"):
        datasets.fetch("cmu", dest=tmp_path / "cache", base_url=base)
    folder = tmp_path / "cache" / "mocap" / "cmu_gpmat"
    assert sorted(p.name for p in folder.iterdir()) == ["35.asf"]  # verified one kept, no .part


def test_failed_download_deletes_the_part(tmp_path):
    def broken(url, out):
        out.write(b"half a file")
        raise OSError("connection reset")

    with pytest.raises(DataError, match="download of .* failed .*partial file deleted"):
        datasets.fetch("cmu", dest=tmp_path, fetcher=broken)
    assert not list(tmp_path.rglob("*.part")) and not list(tmp_path.rglob("*.amc"))


def test_restricted_datasets_are_not_fetchable():
    with pytest.raises(DataError, match="cannot be downloaded.*get it from"):
        datasets.fetch("huang_gait_phase")
    with pytest.raises(DataError, match="unknown dataset"):
        datasets.get("nope")


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gaitloop.cli", *args], capture_output=True,
                          text=True, timeout=60, cwd=str(ROOT), env=env)


def test_data_command_lists_and_fetches(tmp_path):
    import os

    env = dict(os.environ, GAITLOOP_DATA=str(tmp_path / "none"), GAITLOOP_CACHE=str(tmp_path / "c"))
    r = _cli("data", env=env)
    assert r.returncode == 0, r.stderr
    for name in datasets.DATASETS:
        assert name in r.stdout
    assert "CC BY-NC 4.0" in r.stdout and "ODC-By 1.0" in r.stdout
    assert r.stdout.count("missing") == len(datasets.DATASETS) - 1  # the CMU walk is shipped
    assert str(SHIPPED_CMU) in r.stdout
    r = _cli("data", "fetch", "bandai_namco", env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "BandaiNamcoResearchInc" in r.stderr
