"""Reading a file given on the command line, without ever hanging on it.

A FIFO blocks its reader until a writer comes and a device may never end, so the file is
opened without blocking and checked with `fstat` before anything is read (checking the path
first and opening it after would leave a moment in which it could be swapped).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path


class UnreadableFile(ValueError):
    """Not a regular file, too large, or not readable; the message says which."""


_KINDS: tuple[tuple[Callable[[int], bool], str], ...] = (
    (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"))


def read_regular_file(path: str | Path, max_bytes: int | None = None) -> bytes:
    """The bytes of a regular file (of at most `max_bytes`, if given)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise UnreadableFile(f"cannot read: {exc.strerror}") from None
    except ValueError:  # a NUL in the path
        raise UnreadableFile("cannot read: not a valid path") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise UnreadableFile(f"expected a regular file, found {file_kind(mode)}")
        with open(fd, "rb", closefd=False) as file:
            data = file.read() if max_bytes is None else file.read(max_bytes + 1)
    except OSError as exc:
        raise UnreadableFile(f"cannot read: {exc.strerror}") from None
    finally:
        os.close(fd)
    if max_bytes is not None and len(data) > max_bytes:
        raise UnreadableFile(f"larger than {max_bytes // 2**20} MiB")
    return data


def file_kind(mode: int) -> str:
    return next((name for is_kind, name in _KINDS if is_kind(mode)), "a special file")
