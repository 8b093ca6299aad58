"""Registry of the datasets gaitloop reads: licence, where to get each, and checksums.

Why a registry: the project ships only what it may redistribute (two gaitpdb recordings and a
CMU walk in `data/`). Everything else is found at `GAITLOOP_DATA` (default `../shared/data`
beside the clone) or, for the public sets, fetched into a cache and verified by SHA-256, so a
fresh clone knows what it is missing, why, and where it comes from. The tests use the same
registry to skip (or, with `GAITLOOP_REQUIRE_DATA=1`, fail) when a dataset is absent.

Layout: a dataset lives in `<root>/<subdir>/` with the same relative paths whether `<root>`
is the shared data folder or the cache (`<cache>/<subdir>/`), so code never cares which.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from gaitloop.errors import DataError

REPO = Path(__file__).resolve().parents[2]

#: `fetcher(url, out)` copies the bytes at `url` into the open binary file `out`.
Fetcher = Callable[[str, BinaryIO], None]


@dataclass(frozen=True)
class Dataset:
    """One dataset: what it is, whether we may redistribute it, where it comes from."""

    name: str
    title: str
    licence: str
    source: str  # where a user gets it (a URL, or who to ask)
    subdir: str  # folder under GAITLOOP_DATA (and under the cache)
    probe: str  # a relative path whose presence means the dataset is there
    redistributable: bool = False
    base_url: str = ""  # fetchable datasets: base URL the file names are appended to
    files: tuple[tuple[str, str], ...] = ()  # (relative path, SHA-256) of fetchable files
    shipped: str = ""  # repo folder holding a shipped subset, if any

    @property
    def fetchable(self) -> bool:
        return bool(self.base_url and self.files)


GAITPDB_FILES: tuple[tuple[str, str], ...] = (
    ("data/GaCo01_01.txt", "81bcedc0f72c1c6804d7830627431a6c1b76e9ddb42de0cf1ae2f418848c13a4"),
    ("data/GaCo02_01.txt", "8e36793cbe901f5fd1f14af2e553353978f2a997b2121b41dcc0e05b8c64d87f"),
    ("data/GaCo03_01.txt", "ca21dadbd47f5f56ac37ea6cf3067d0f98e8936bb2830396aa3c5b0d387db216"),
    ("data/GaCo04_01.txt", "26993b245b8af95d54260d58eeca5bf6763b7a31a27d765c0956f25c80deb470"),
    ("data/GaPt03_01.txt", "e2e55fb21fa64392eaa924005c5615ce1fac690d7d52f078404ec3ff7e2c7f3d"),
    ("data/GaPt04_01.txt", "5f3ea1b726cc054823c683f6de7efe56e872b229ad513a639d84316c361a2af7"),
    ("data/GaPt05_01.txt", "4533db4bf6f2ba2e7b8f475b6e056c88cddc6af763e6f39fd7a2091358b68462"),
    ("data/GaPt06_01.txt", "ded3967657ea4c3d070ad416eb83e21fdb7f19ed879e2fdc4416a42d5047408f"),
    ("data/JuCo01_01.txt", "64e3af984dc5fce5878ec832d751ac9c76d3813b51768044956d7af3934aa42f"),
    ("data/JuCo02_01.txt", "80d7381d1d7e5862a5372e283950147f0cf1d81f51cb5000109b8d50ff802c80"),
    ("data/JuCo03_01.txt", "99bd8864223111c93f55e2e048e7c3ffb92cd710d6f7b9ec9356300b36afa15c"),
    ("data/JuPt01_01.txt", "888d6082218d1e6283e2dcf4e19075306b121aaa0be4959e57e281479f974ebd"),
    ("data/JuPt02_01.txt", "854f977350fc0414066b08c9c4e277c0d497cca4042211e65fcd555d55e32369"),
    ("data/JuPt03_01.txt", "ef222560957b8ffb382efbffcc62d572b144991f8397ba884f7e8ebaf5fe93cb"),
    ("data/SiCo01_01.txt", "d9c72a50215bdbf335435dca8cb2d5e2231811ea925b057132a8d7841704115a"),
    ("data/SiCo03_01.txt", "05eb583e8895e46e8d8c0f539f660a387d89b1fe94a4109755680e5df4ffeb8e"),
    ("data/SiCo04_01.txt", "77c022be5151808a629bb93cb8ac0c0d772611a476d63df8f400d5672ed88d70"),
    ("data/SiPt02_01.txt", "39254445f705605353dbd74b44db361a3a97df023061737a6c081a295a56c636"),
    ("data/SiPt04_01.txt", "35ebe7b05b4b8d05d0385842dfc49e5b20bd398040beb78cacfb320177d89d00"),
    ("data/SiPt05_01.txt", "70cce29daef575a3f8a20471e0f9cd4c03ff5d7b82c916fa97dc95b9be6acf4d"),
    ("format.txt", "8a91a8c4181e790474f247b59c8189d6af915fd5af45178a8b355c69a884bff6"),
    ("demographics.txt", "ebe5e3c5c3055023b876225d3eb067a9351693e28ce47fa678872ead8284f643"),
)

DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            name="gaitpdb",
            title="PhysioNet Gait in Parkinson's Disease 1.0.0 (20 usual walks, GRF insoles)",
            licence="ODC-By 1.0",
            source="https://physionet.org/content/gaitpdb/1.0.0/",
            subdir="gaitpdb",
            probe="data/JuCo01_01.txt",
            redistributable=True,
            base_url="https://physionet.org/files/gaitpdb/1.0.0/",
            files=GAITPDB_FILES,
            shipped="data/gaitpdb",
        ),
        Dataset(
            name="cmu",
            title="CMU Graphics Lab mocap, subject 35 trial 01 (walk), ASF + AMC",
            licence="CMU mocap terms (free for research and products, no resale)",
            source="http://mocap.cs.cmu.edu/ (subject 35)",
            subdir="mocap/cmu_gpmat",
            probe="35_01.amc",
            redistributable=True,
            base_url="http://mocap.cs.cmu.edu/subjects/35/",
            files=(
                ("35.asf", "2a8e2eda3c0d7d828566b2a9a8ab36b2b8b3864110574e8b73c8f069fded416c"),
                ("35_01.amc", "0743f4ea48e7e199cd56b2810b5ce81f8ede08d32ff79aa4e363c44cc4fe33aa"),
            ),
            shipped="data/mocap/cmu",
        ),
        Dataset(
            name="huang_gait_phase",
            title="Huang et al. CSM gait-phase recordings (heel/ball insoles, IMU figures)",
            licence="none stated; shared by the authors for research, not redistributable",
            source="the CSM paper's authors (Curve Similarity Model gait-phase work)",
            subdir="huang_gait_phase",
            probe="events_and_forces",
        ),
        Dataset(
            name="bandai_namco",
            title="Bandai-Namco Research Motion dataset 1 and 2 (BVH walks in styles)",
            licence="CC BY-NC 4.0 (non-commercial; never shipped)",
            source="https://github.com/BandaiNamcoResearchInc/Bandai-Namco-Research-Motiondataset",
            subdir="mocap/bandai_namco",
            probe="dataset-2/data",
        ),
        Dataset(
            name="opensim_walk",
            title="OpenSim subject01_walk1 treadmill trial (markers, IK angles, force plates)",
            licence="no licence file in its source repository; not redistributed",
            source="https://github.com/opensim-org/opensim-models",
            subdir="mocap/opensim_models",
            probe="subject01_walk1.trc",
        ),
    )
}


def get(name: str) -> Dataset:
    """The registry entry for `name`, or a DataError listing the known names."""
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r} (known: {', '.join(DATASETS)})") from None


def data_root() -> Path:
    """GAITLOOP_DATA, else ../shared/data beside the clone."""
    env = os.environ.get("GAITLOOP_DATA")
    return Path(env).expanduser() if env else REPO.parent / "shared" / "data"


def cache_dir() -> Path:
    """Where `gaitloop data fetch` puts downloads: GAITLOOP_CACHE, else the XDG cache."""
    env = os.environ.get("GAITLOOP_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "gaitloop" / "data"


def candidates(ds: Dataset) -> list[Path]:
    """Folders where `ds` may live, in the order they are tried."""
    return [data_root() / ds.subdir, cache_dir() / ds.subdir]


def shipped_complete(ds: Dataset) -> Path | None:
    """The repository's own copy when it holds every registered file (the CMU walk does)."""
    if not (ds.shipped and ds.files):
        return None
    folder = REPO / ds.shipped
    return folder if all((folder / rel).is_file() for rel, _ in ds.files) else None


def locate(name: str) -> Path | None:
    """The folder holding dataset `name` (shared data first, then the cache), or None."""
    ds = get(name)
    for folder in candidates(ds):
        if (folder / ds.probe).exists():
            return folder
    return shipped_complete(ds)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def urllib_fetcher(url: str, out: BinaryIO, timeout: float = 60.0) -> None:
    """Stream `url` into `out` with the standard library (also handles file:// URLs)."""
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (registry URLs)
        shutil.copyfileobj(resp, out, 1 << 20)


def fetch(
    name: str,
    dest: Path | None = None,
    fetcher: Fetcher = urllib_fetcher,
    base_url: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Download a public dataset into `<dest>/<subdir>/`, verifying every file's SHA-256.

    Files already present with the right hash are kept. A download goes to `<file>.part`
    and is renamed only once its hash matches; on a mismatch or a failed download the part
    is deleted and a DataError says which file and why, so the cache never holds a file
    that does not verify.
    """
    ds = get(name)
    if not ds.fetchable:
        raise DataError(f"{name} cannot be downloaded ({ds.licence}); get it from {ds.source}")
    folder = (dest if dest is not None else cache_dir()) / ds.subdir
    base = ds.base_url if base_url is None else base_url
    for rel, want in ds.files:
        target = folder / rel
        if target.is_file() and sha256_file(target) == want:
            continue
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(f"cannot create {target.parent}: {exc.strerror}") from None
        part = target.with_name(target.name + ".part")
        url = base + rel.rsplit("/", 1)[-1]
        if progress:
            progress(f"{name}: {rel}")
        try:
            with open(part, "wb") as out:
                fetcher(url, out)
        except (OSError, ValueError) as exc:
            part.unlink(missing_ok=True)
            raise DataError(f"{name}: download of {url} failed ({exc}); partial file deleted") from None
        got = sha256_file(part)
        if got != want:
            part.unlink(missing_ok=True)
            raise DataError(
                f"{name}: {rel} has SHA-256 {got[:12]}..., expected {want[:12]}...; "
                "partial download deleted"
            )
        os.replace(part, target)
    return folder


@dataclass(frozen=True)
class Status:
    dataset: Dataset
    folder: Path | None  # where it was found, None if absent

    @property
    def present(self) -> bool:
        return self.folder is not None


def status(names: Iterable[str] | None = None) -> list[Status]:
    """Presence of each registered dataset (or of `names`)."""
    return [Status(get(n), locate(n)) for n in (names if names is not None else DATASETS)]


def verify(name: str, folder: Path) -> list[str]:
    """Relative paths of `name`'s registered files that are missing or fail their SHA-256."""
    bad = []
    for rel, want in get(name).files:
        p = folder / rel
        if not p.is_file() or sha256_file(p) != want:
            bad.append(rel)
    return bad
