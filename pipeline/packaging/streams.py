"""File-like wrappers that hash or count bytes as they stream past (never buffering a file)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import IO

COPY_BUFFER = 1024 * 1024
"""Bytes moved per read or write when streaming file contents."""

GZIP_LEVEL = 6
"""gzip's (and tar czf's) default compression level: a good speed/size balance."""


class HashingWriter:
    """Writes through to `target`, keeping the sha256 and the count of what was written."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        """Write `data`; returns its length."""
        self.hash.update(data)
        self.size += len(data)
        self.target.write(data)
        return len(data)


class HashingReader:
    """Reads from `source`, keeping the sha256 and count of what was read.

    `limit` is called with the running count after each read, and may raise to stop.
    """

    def __init__(self, source: IO[bytes], limit: Callable[[int], None] | None = None) -> None:
        self.source = source
        self.hash = hashlib.sha256()
        self.size = 0
        self._limit = limit

    def read(self, size: int = -1) -> bytes:
        """Read up to `size` bytes (all, when negative)."""
        data = self.source.read(size)
        self.hash.update(data)
        self.size += len(data)
        if self._limit is not None:
            self._limit(self.size)
        return data

    def drain(self) -> None:
        """Read (and hash, and count) everything that is left."""
        while self.read(COPY_BUFFER):
            pass
