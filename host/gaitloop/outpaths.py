"""Writing the user's output files and folders without ever damaging what was there.

Why one helper: every writer (export, report, demo) used to open its target directly, so a
failed write left a half-written file, and pyarrow deleted the target (a device node, once) on
error. Here a file is written to a temporary file beside the target and renamed over it only
when complete; a failure removes the temporary file and nothing else. Targets that are not
regular files (directories, device nodes, sockets) are refused before anything is written.
Every failure is a DataError with one line naming the path.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from gaitloop.errors import DataError


def _why(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    if exc.errno in (errno.EROFS,):
        return "read-only file system"
    return exc.strerror or str(exc)


def _first_non_dir(path: Path) -> Path | None:
    """The first existing ancestor of `path` that is not a folder (a path through a file)."""
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            return parent
    return None


def check_file_target(path: str | Path) -> Path:
    """The real path a file would be written to, or a DataError saying why it cannot be.

    Symlinks are followed (the link stays, its target is replaced). The folder must exist:
    creating folders is left to the user, so a typo does not scatter new directories.
    """
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    blocker = _first_non_dir(path)
    if blocker is not None:
        raise DataError(f"{path}: {blocker} is not a folder")
    if not path.parent.is_dir():
        raise DataError(f"{path}: folder {path.parent} does not exist")
    try:
        st = path.stat()
    except FileNotFoundError:
        return path
    except OSError as exc:
        raise DataError(f"{path}: {_why(exc)}") from None
    if stat.S_ISDIR(st.st_mode):
        raise DataError(f"{path}: is a folder; give a file name")
    if not stat.S_ISREG(st.st_mode):
        raise DataError(f"{path}: not a regular file (a device or socket); refusing to replace it")
    return path


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it over `target` if the block succeeds.

    On any exception the temporary file is removed and `target` is left as it was; an OSError
    becomes a one-line DataError.
    """
    final = check_file_target(target)
    try:
        fd, tmp_name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".part")
    except OSError as exc:
        raise DataError(f"{final}: cannot write in {final.parent} ({_why(exc)})") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if final.exists():  # keep the permissions of the file being replaced
            os.chmod(tmp, stat.S_IMODE(final.stat().st_mode))
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, final)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(f"{final}: write failed ({_why(exc)}); nothing was changed") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(target: str | Path, data: bytes | str) -> Path:
    """Write bytes or text to `target` atomically; return the path written."""
    with atomic_path(target) as tmp:
        if isinstance(data, str):
            tmp.write_text(data)
        else:
            tmp.write_bytes(data)
    return Path(target)


def write_with(target: str | Path, writer: Callable[[Path], object]) -> Path:
    """Let `writer(tmp_path)` produce the file (e.g. pyarrow), then rename it into place."""
    with atomic_path(target) as tmp:
        writer(tmp)
    return Path(target)


def check_out_dir(path: str | Path) -> Path:
    """Fail now (DataError) if `path` could not become an output folder; create nothing."""
    path = Path(path)
    blocker = path if path.exists() and not path.is_dir() else _first_non_dir(path)
    if blocker is not None:
        what = "is a file" if blocker == path else f"goes through {blocker}, which is not a folder"
        raise DataError(f"{path}: cannot be an output folder ({what})")
    existing = next((p for p in (path, *path.parents) if p.exists()), Path("."))
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DataError(f"{path}: cannot create the output folder ({existing} is not writable)")
    return path


def ensure_out_dir(path: str | Path) -> Path:
    """Create the output folder `path` (and parents), or a DataError saying why it cannot be."""
    path = check_out_dir(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{path}: cannot create the output folder ({_why(exc)})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise DataError(f"{path}: output folder is not writable")
    return path
