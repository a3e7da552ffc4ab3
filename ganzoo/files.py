"""Atomic file writes: the one way ganzoo writes a file that a crash must never leave half-written; and the check of
every file ganzoo reads (a regular file of sane size) before it is opened.

Every write goes to a temporary file in the target's folder, is flushed and fsynced, then renamed over the
target (``os.replace`` is atomic on POSIX and Windows); on any failure — a full disk, a read-only folder, an exception
of the writer callback, a Ctrl-C — the temporary file is removed and the old target is left untouched.
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import IO, Callable

__all__ = ["TMP_MARK", "atomic_write", "file_problem", "fsync_dir", "is_temporary", "os_fix", "os_reason"]

_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISDIR, "a folder"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))

#: Part of every temporary file's name (``.NAME.tmp<pid>``): what ``is_temporary`` recognises.
TMP_MARK = ".tmp"


def atomic_write(path: str | os.PathLike, data: bytes | str | Callable[[IO[bytes]], object], *,
                 fsync: bool = True) -> Path:
    """Write ``data`` (bytes, text as UTF-8, or a ``writer(binary_file)`` callback) to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise
    if fsync:
        fsync_dir(path.parent)
    return path


def is_temporary(path: Path) -> bool:
    """True for a temporary file that ``atomic_write`` leaves only when its process was killed mid-write."""
    name = path.name
    return name.startswith(".") and TMP_MARK in name and name.rsplit(TMP_MARK, 1)[1].isdigit()


def fsync_dir(folder: str | os.PathLike) -> None:
    """Make a rename inside ``folder`` durable (best effort: some file systems cannot fsync a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def os_reason(exc: OSError) -> str:
    """The short reason of an OS error ("No space left on device")."""
    return exc.strerror or str(exc) or type(exc).__name__


def os_fix(exc: OSError) -> str:
    """What the user can do about an OS error while writing into the output folder."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "Free disk space or pass another --out."
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return "Pass a writable --out folder."
    return "Check the folder and pass another --out if needed."


def file_problem(path: str | os.PathLike, max_bytes: int, st: os.stat_result | None = None) -> str:
    """Why ``path`` is not a file ganzoo should read ("" when it is a regular file of at most ``max_bytes``).

    Checked before opening: a FIFO or a device would block or never end, a huge file would fill the memory.
    ``st``: the file's stat when already taken (``os.fstat`` of an open file, against a swap after the check).
    """
    try:
        st = st or os.stat(path)
    except FileNotFoundError:
        return "it does not exist"
    except OSError as exc:
        return f"it cannot be read ({os_reason(exc)})"
    if not stat.S_ISREG(st.st_mode):
        return f"it is not a regular file ({next((k for test, k in _KINDS if test(st.st_mode)), 'not a file')})"
    if st.st_size > max_bytes:
        return f"it is {st.st_size:,} bytes, over the limit of {max_bytes:,}"
    return ""
