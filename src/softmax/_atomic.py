"""Writing an output file atomically: a temporary file beside it, fsync, rename.

A crash, a full disk or an error half-way never leaves a half-written file
where a good one was, and an existing file is replaced only when asked.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "check_writable"]


def check_writable(path: str | os.PathLike[str], *, overwrite: bool) -> Path:
    """Fail early, before any work, if ``path`` cannot be written.

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is False.
    ValueError
        ``path`` is a directory, or its folder does not exist or is not writable.
    """
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"output path {str(p)!r} is a directory; give a file name")
    if p.exists() and not overwrite:
        raise FileExistsError(
            f"{str(p)!r} already exists; pass --force to overwrite it or choose another path"
        )
    parent = p.parent if str(p.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise ValueError(f"cannot write {str(p)!r}: {str(parent)!r} is a file, not a folder")
    if not parent.is_dir():
        raise ValueError(
            f"cannot write {str(p)!r}: folder {str(parent)!r} does not exist; create it first"
        )
    # os.access answers for the permission bits alone (root passes them all, and
    # read-only or virtual file systems are not asked): create the kind of
    # temporary file the atomic write will, and remove it.
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".probe", dir=parent)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ValueError(
            f"cannot write {str(p)!r}: folder {str(parent)!r} is not writable ({reason})"
        ) from None
    os.close(fd)
    os.unlink(probe)
    return p


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it to ``path``.

    On an exception the temporary file is removed and ``path`` is untouched.
    """
    p = check_writable(path, overwrite=overwrite)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent or ".")
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates the file private (0600); give it the usual permissions.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        if p.exists() and not overwrite:  # appeared while we were writing
            raise FileExistsError(
                f"{str(p)!r} already exists; pass --force to overwrite it or choose another path"
            )
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
