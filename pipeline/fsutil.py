"""Small file-system helpers: the one atomic writer, the one file hasher, the one file lock.

Every write is atomic (a temporary file beside the target, fsynced, renamed into place,
the folder fsynced), and every failure on the way is a `FileSystemError` (exit 2) naming
the path and the operation; a failed write leaves no temporary file behind.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from pipeline.errors import FileSystemError

CHUNK = 1024 * 1024
"""Bytes read per step when hashing or copying a file (1 MiB)."""


@contextmanager
def fs_errors(operation: str, path: Path | str) -> Iterator[None]:
    """Turn an OSError raised inside into a `FileSystemError` for `operation` on `path`."""
    try:
        yield
    except OSError as error:
        raise FileSystemError(operation, path, error) from error


def make_dirs(path: Path) -> Path:
    """`mkdir -p path`; a FileSystemError naming the folder that could not be created."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError as error:  # a file (or a dangling link) where the folder should be
        raise FileSystemError("create directory", path, error) from error
    except OSError as error:
        raise FileSystemError("create directory", error.filename or path, error) from error
    return path


@contextmanager
def atomic_writer(path: Path, *, mode: int = 0o644, suffix: str = ".tmp") -> Iterator[BinaryIO]:
    """A binary handle whose bytes replace `path` atomically when the block ends normally.

    The bytes go to `.<name>.<random><suffix>` beside `path`; on any exception (raised by the
    caller to refuse what it wrote, too) that file is removed and `path` is left untouched.
    """
    folder = make_dirs(path.parent)
    with fs_errors("write", path):  # its temporary file, beside it
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=folder)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            with fs_errors("write", path):
                os.fchmod(handle.fileno(), mode)
            yield handle
            with fs_errors("write", path):
                handle.flush()
                os.fsync(handle.fileno())
        with fs_errors("replace", path):
            tmp.replace(path)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        if isinstance(error, OSError) and error.filename is None:  # the caller's write failed
            raise FileSystemError("write", path, error) from error
        raise
    with fs_errors("write", path):
        fsync_directory(folder)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never half."""
    with atomic_writer(path, mode=mode) as handle:
        handle.write(data)


def fsync_directory(path: Path) -> None:
    """Make a rename in `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_read(path: Path) -> BinaryIO:
    """`path` opened for binary reading; a FileSystemError when it cannot be."""
    with fs_errors("read", path):
        return path.open("rb")


def read_chunks(handle: BinaryIO) -> Iterator[bytes]:
    """The bytes of an open file, `CHUNK` at a time."""
    while chunk := handle.read(CHUNK):
        yield chunk


def hash_file(path: Path) -> tuple[str, int]:
    """(sha256 hex, size in bytes) of a file, read in chunks (artifacts can be large)."""
    digest, size = hashlib.sha256(), 0
    with open_read(path) as handle, fs_errors("read", path):
        for chunk in read_chunks(handle):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def file_sha256(path: Path) -> str:
    """The sha256 (hex) of a file, read in chunks."""
    return hash_file(path)[0]


@contextmanager
def file_lock(
    path: Path, *, mode: int = 0o644, on_wait: Callable[[], None] | None = None
) -> Iterator[None]:
    """Hold an exclusive lock on the file `path` (created when absent), across processes.

    When another process holds it, `on_wait` (if given) is called once, then this one
    waits. Closing the descriptor releases the lock, also when the process dies.
    """
    with fs_errors("open the lock file", path):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, mode)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
