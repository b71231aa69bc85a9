"""Atomic file writes: a crash or a full disk never leaves a half-written file."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from typing import Any

__all__ = ["atomic_write_bytes"]


def atomic_write_bytes(path: Any, data: bytes, *, overwrite: bool = False) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory.

    The bytes go to a fresh temporary file next to ``path`` (same file system,
    so the final rename is atomic), are flushed and fsynced, and the file is
    then renamed over ``path``; the directory is fsynced too (best effort).
    On any failure the temporary file is removed and ``path`` is untouched.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False (checked atomically
        with a hard link where the file system supports it).
    IsADirectoryError
        If ``path`` is a directory.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "is a directory, not a file path", path)
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(errno.EEXIST, "file exists; pass overwrite=True to replace it", path)
    directory, base = os.path.split(os.path.abspath(path))
    tmp = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp")
    # O_EXCL: never follow or reuse an existing name; mode 0o666 lets the umask
    # give the file the permissions an ordinary open() would.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            _rename_no_clobber(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _rename_no_clobber(tmp: str, path: str) -> None:
    """Move ``tmp`` to ``path`` unless ``path`` appeared meanwhile."""
    try:
        os.link(tmp, path)  # fails with FileExistsError if path exists: no race
    except FileExistsError:
        raise FileExistsError(
            errno.EEXIST, "file exists; pass overwrite=True to replace it", path
        ) from None
    except OSError:
        # No hard links here (some network or FAT file systems): check, then rename.
        if os.path.lexists(path):
            raise FileExistsError(
                errno.EEXIST, "file exists; pass overwrite=True to replace it", path
            ) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def _fsync_directory(directory: str) -> None:
    """Persist the rename itself (POSIX); silently skipped where unsupported."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
