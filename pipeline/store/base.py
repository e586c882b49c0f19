"""The artifact store interface, the content URI, and the one verified-copy routine.

Release artifacts (`.pxp` files) are not kept in git: the release manifest records
`artifact.uri`, `sha256` and `size`, and an `ArtifactStore` holds the bytes.

Artifact URIs are *content* URIs, `cas:sha256:<64 lowercase hex>`: they name the bytes,
not a place. Where the bytes live (a directory, an HTTPS mirror, later an object store) is
configuration (`store_for(location)`), so a manifest stays valid when the store moves or is
mirrored. Every store lays objects out the same way, `sha256/<first 2 hex>/<full hex>`
under its root, like OCI layouts and git objects.

Every fetch goes through `write_verified`: bytes are streamed into a temporary file beside
the destination while their digest and size are computed, and the file is renamed into place
only once both match. A refused artifact never appears at the destination.
"""

from __future__ import annotations

import functools
import hashlib
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, cast, runtime_checkable

from pipeline.errors import GateError, InputError
from pipeline.fsutil import CHUNK, atomic_writer
from pipeline.fsutil import fsync_directory as fsync_directory  # re-exported
from pipeline.models.digest import parse_sha256

COPY_BUFFER = CHUNK
"""Bytes read and written per step when streaming an artifact (1 MiB)."""

PIPELINE_DEPTH = 8
"""Batches (about `COPY_BUFFER` each) queued between reading and hashing + writing."""

WRITEBACK_STEP = 16 * 1024 * 1024
"""Bytes written between two `_start_writeback` calls."""

CAS_PREFIX = "cas:sha256:"


@dataclass(frozen=True)
class StoredArtifact:
    """What the release manifest records about a stored artifact."""

    uri: str
    sha256: str
    size: int


@runtime_checkable
class ArtifactSource(Protocol):
    """Somewhere artifacts can be fetched from (and verified on the way)."""

    def fetch(self, uri: str, sha256: str, size: int, dest: Path) -> Path:
        """Copy the artifact `uri` to `dest`, refusing it unless its sha256 and size match."""
        ...

    def exists(self, sha256: str) -> bool:
        """Whether the source holds an object with this digest."""
        ...


@runtime_checkable
class ArtifactStore(ArtifactSource, Protocol):
    """An `ArtifactSource` that can also store artifacts."""

    def put(self, path: Path) -> StoredArtifact:
        """Store a file; storing the same bytes again is a no-op returning the same URI."""
        ...


def check_sha256(sha256: str) -> str:
    """A sha256 as 64 lowercase hex digits (an optional `sha256:` prefix is accepted)."""
    try:
        return parse_sha256(sha256)
    except ValueError as error:
        raise InputError(
            f"not a sha256 digest: {sha256!r}: {error}", hint="expected 64 lowercase hex digits"
        ) from None


def check_size(size: int) -> int:
    """A size in bytes: a non-negative integer."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise InputError(f"not an artifact size: {size!r}", hint="expected bytes, an integer >= 0")
    return size


def cas_uri(sha256: str) -> str:
    """The content URI of a digest: `cas:sha256:<hex>`."""
    return CAS_PREFIX + check_sha256(sha256)


def parse_cas_uri(uri: str) -> str:
    """The digest a `cas:sha256:<hex>` URI names (InputError for anything else)."""
    if not uri.startswith(CAS_PREFIX):
        raise InputError(
            f"not a content URI: {uri!r}", hint=f"expected {CAS_PREFIX}<64 lowercase hex digits>"
        )
    return check_sha256(uri.removeprefix(CAS_PREFIX))


def object_key(sha256: str) -> str:
    """Where an object lives below a store's root: `sha256/<aa>/<hex>`."""
    digest = check_sha256(sha256)
    return f"sha256/{digest[:2]}/{digest}"


def expect_uri_digest(uri_digest: str, sha256: str, uri: str) -> None:
    """Refuse a URI that names other bytes than the expected digest."""
    if uri_digest != sha256:
        raise InputError(
            f"{uri} names sha256 {uri_digest}, but sha256 {sha256} was expected",
            hint="the release manifest's artifact.uri and artifact.sha256 disagree",
        )


def write_verified(
    chunks: Iterable[bytes],
    dest: Path,
    *,
    sha256: str,
    size: int,
    source: str,
    hint: str | None = None,
    mode: int = 0o644,
) -> Path:
    """Stream `chunks` to `dest`; rename into place only if digest and size match.

    Reading stops as soon as more than `size` bytes arrive. On any failure the temporary
    file is removed and `dest` (if it existed) is left untouched. The bytes are hashed and
    written by a `_DigestingWriter` thread while the next ones are read.
    """
    with atomic_writer(dest, mode=mode, suffix=".part") as handle:
        writer = _DigestingWriter(handle)
        try:
            total = _feed(chunks, writer, size, source, hint)
        except BaseException:
            writer.stop()  # before the temporary file is closed and removed
            raise
        found = writer.finish()
        if total < size:
            raise GateError(
                f"{source} is {total:,} bytes, shorter than the expected {size:,}",
                hint=hint or "the artifact is truncated or not the one the manifest names",
            )
        if found != sha256:
            raise GateError(
                f"sha256 mismatch for {source}: expected {sha256}, found {found}",
                hint=hint or "the artifact is not the one the release manifest names",
            )
    return dest


def _feed(
    chunks: Iterable[bytes], writer: _DigestingWriter, size: int, source: str, hint: str | None
) -> int:
    """Hand `chunks` to `writer` in batches of about `COPY_BUFFER`; the byte count.

    The writer thread hashes and writes a chunk later: one that is not `bytes` (a buffer
    the caller may fill again) is copied first, so what is hashed is what is written.
    """
    total, batched = 0, 0
    batch: list[bytes] = []
    for chunk in chunks:
        total += len(chunk)
        if total > size:
            raise GateError(
                f"{source} is longer than the expected {size:,} bytes",
                hint=hint or "the artifact is not the one the release manifest names",
            )
        batch.append(chunk if type(chunk) is bytes else bytes(chunk))  # a buffer reused later
        batched += len(chunk)
        if batched >= COPY_BUFFER:
            writer.send(batch)
            batch, batched = [], 0
    writer.send(batch)
    return total


class _DigestingWriter:
    """Hashes and writes batches of chunks on a thread of its own.

    `hashlib` (for buffers over 2 KiB) and file writes release the GIL, so the thread that
    reads (a socket, a file) keeps going meanwhile. At most `PIPELINE_DEPTH` batches wait:
    memory stays flat. A write error is raised by the next `send` or by `finish`. Every
    `WRITEBACK_STEP` bytes, the disk is asked to start writing them (`_start_writeback`),
    so that the fsync before the rename finds little left to do.
    """

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self._digest = hashlib.sha256()
        self._batches: queue.Queue[list[bytes] | None] = queue.Queue(PIPELINE_DEPTH)
        self._error: BaseException | None = None
        self._written = self._flushed = 0
        self._thread = threading.Thread(target=self._run, name="write_verified", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (batch := self._batches.get()) is not None:
            if self._error is not None:
                continue  # drain, so that `send` never blocks on a failed writer
            try:
                for chunk in batch:
                    self._digest.update(chunk)
                    self._handle.write(chunk)
                    self._written += len(chunk)
                if self._written - self._flushed >= WRITEBACK_STEP:
                    _start_writeback(self._handle.fileno(), self._flushed, self._written)
                    self._flushed = self._written
            except BaseException as error:  # re-raised in the calling thread
                self._error = error

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def send(self, batch: list[bytes]) -> None:
        """Queue a batch (waits while `PIPELINE_DEPTH` are queued)."""
        self._raise_error()
        if batch:
            self._batches.put(batch)

    def stop(self) -> None:
        """Wait until the batches queued are written (or dropped after an error)."""
        if self._thread.is_alive():
            self._batches.put(None)
            self._thread.join()

    def finish(self) -> str:
        """Wait until every batch is written; the sha256 (hex) of what was written."""
        self.stop()
        self._raise_error()
        return self._digest.hexdigest()


@functools.cache
def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """Linux's `sync_file_range(2)` (not in `os`), or None where there is none."""
    import ctypes  # here: only large writes need it, and it costs 2 ms to import

    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
    function.restype = ctypes.c_int
    return cast(Callable[[int, int, int, int], int], function)


def _start_writeback(fd: int, start: int, end: int) -> None:
    """Start writing bytes `start`..`end` of `fd` to disk, without waiting.

    Only a head start (`SYNC_FILE_RANGE_WRITE`): durability still comes from the fsync
    `atomic_writer` does before the rename, which also reports any write error.
    """
    function = _sync_file_range()
    if function is not None:
        function(fd, start, end - start, _SYNC_FILE_RANGE_WRITE)


_SYNC_FILE_RANGE_WRITE = 2
