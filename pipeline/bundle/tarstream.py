"""The bundle's tar stream: a writer that hashes as it copies, and a reader that trusts nothing.

The reader applies the one archive-entry validator (`pipeline.packaging.entries`, the
same as for `.pxp` packages) to the outer bundle:

* entry names must be relative, without `..`, `\\` or control characters, and unique;
* only regular files (and folders, which are ignored) are accepted: symbolic and hard
  links, devices and FIFOs are refused;
* the decompressed stream is counted: before the manifest is verified at most
  `HEAD_LIMIT` bytes are read; afterwards the total is bounded by the sizes the signed
  manifest declares (plus tar headers), so a decompression bomb stops early;
* every entry after the manifest and its signature must be in the manifest's index with
  the same size, and its bytes must hash to the indexed sha256; nothing unlisted is written.

Bundles are plain tar (artifacts are already compressed); a gzip-compressed tar is read too.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, BinaryIO, cast

from pipeline.bundle.manifest import MANIFEST_NAME, MAX_MANIFEST_BYTES, SIGNATURE_NAME
from pipeline.bundle.progress import Progress, no_progress
from pipeline.errors import GateError, InputError, Location
from pipeline.models.bundle import BundleManifest
from pipeline.packaging.entries import EntryValidator, UnsafeEntry
from pipeline.signing.bundle import MAX_BUNDLE_BYTES

COPY_BUFFER = 1024 * 1024
HEAD_LIMIT = MAX_MANIFEST_BYTES + MAX_BUNDLE_BYTES + 64 * 1024
"""Decompressed bytes read before the manifest is verified."""
ENTRY_OVERHEAD = 3 * 512 + 1024
"""Tar bytes per entry besides its data (header, PAX header, padding), generously."""
_CORRUPT = (gzip.BadGzipFile, EOFError, zlib.error, tarfile.TarError)


class _HashingSource:
    """A file object `tarfile.addfile` reads from, hashing what passes."""

    def __init__(self, source: BinaryIO, progress: Progress) -> None:
        self.source = source
        self.hash = hashlib.sha256()
        self.progress = progress

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.hash.update(data)
        self.progress(len(data))
        return data


class BundleWriter:
    """Append entries to a tar stream with fixed metadata (the same inputs, the same bytes)."""

    def __init__(self, out: BinaryIO, *, mtime: int, progress: Progress = no_progress) -> None:
        self.tar = tarfile.open(  # noqa: SIM115  (closed by close())
            fileobj=out, mode="w", format=tarfile.PAX_FORMAT
        )
        self.tar.copybufsize = COPY_BUFFER  # type: ignore[attr-defined]  # (untyped in typeshed)
        self.mtime = mtime
        self.progress = progress

    def _info(self, name: str, size: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = size, self.mtime, 0o644
        info.uname = info.gname = ""
        return info

    def add_bytes(self, name: str, data: bytes) -> str:
        """Add a small file from memory; its sha256."""
        import io

        self.tar.addfile(self._info(name, len(data)), io.BytesIO(data))
        self.progress(len(data))
        return hashlib.sha256(data).hexdigest()

    def add_file(self, name: str, path: Path, *, size: int, sha256: str) -> None:
        """Stream a file in; GateError (and a broken output) if its bytes are not `sha256`."""
        with path.open("rb") as handle:
            source = _HashingSource(handle, self.progress)
            self.tar.addfile(self._info(name, size), cast(IO[bytes], source))
        if source.hash.hexdigest() != sha256:
            raise GateError(
                f"{path} does not hash to the release's sha256 {sha256}",
                location=Location(str(path)),
                hint="the stored artifact is damaged or not this release's; store it again",
            )

    def close(self) -> None:
        """Write the end-of-archive marker."""
        self.tar.close()


class _CountingReader:
    """Counts decompressed bytes and stops the stream past a limit."""

    def __init__(self, source: IO[bytes], where: Location) -> None:
        self.source = source
        self.size = 0
        self.limit = HEAD_LIMIT
        self.where = where

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.size += len(data)
        if self.size > self.limit:
            raise GateError(
                f"the bundle expands past {self.limit:,} bytes, more than its manifest declares"
                " (a decompression bomb?)",
                location=self.where,
            )
        return data


HeadCheck = Callable[[bytes, bytes], BundleManifest]
"""Verifies (manifest bytes, signature bytes) and returns the trusted manifest."""


@dataclass
class ScanResult:
    """A fully read bundle: its verified manifest and where each indexed file was written."""

    manifest: BundleManifest
    manifest_raw: bytes
    files: dict[str, Path] = field(default_factory=dict)


@dataclass
class BundleReader:
    """One pass over a bundle file, writing indexed entries under `dest` (which must exist)."""

    path: Path
    dest: Path
    head_check: HeadCheck
    progress: Progress = no_progress
    _head: dict[str, bytes] = field(default_factory=dict)
    _result: ScanResult | None = None
    _index: dict[str, tuple[str, int]] = field(default_factory=dict)
    _entries: EntryValidator = field(default_factory=EntryValidator)

    @property
    def where(self) -> Location:
        return Location(str(self.path))

    def run(self) -> ScanResult:
        """Read, check and write every entry; the verified result."""
        try:
            raw = self.path.open("rb")
        except OSError as error:
            raise InputError(f"cannot read bundle: {error.strerror}", location=self.where) from None
        with raw:
            compressed = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            try:
                if compressed:
                    with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                        return self._scan(_CountingReader(cast(IO[bytes], unzipped), self.where))
                return self._scan(_CountingReader(cast(IO[bytes], raw), self.where))
            except _CORRUPT as error:
                raise GateError(
                    f"the bundle is truncated or corrupt: {error}",
                    location=self.where,
                    hint="copy the bundle file again",
                ) from None

    def _scan(self, counted: _CountingReader) -> ScanResult:
        with tarfile.open(fileobj=cast(IO[bytes], counted), mode="r|", bufsize=COPY_BUFFER) as tar:
            for member in tar:
                self._entry(tar, member, counted)
        if self._result is None:
            raise GateError(
                f"the bundle holds no {MANIFEST_NAME} and {SIGNATURE_NAME}", location=self.where
            )
        missing = sorted(self._index.keys() - self._result.files.keys())
        if missing:
            raise GateError(
                f"the bundle lacks {len(missing)} file(s) its manifest lists, first {missing[0]}",
                location=self.where,
                hint="the bundle was truncated; copy it again",
            )
        return self._result

    def _fail(self, message: str) -> GateError:
        return GateError(message, location=self.where)

    def _entry(
        self, tar: tarfile.TarFile, member: tarfile.TarInfo, counted: _CountingReader
    ) -> None:
        try:
            name = self._entries.check(member)
        except UnsafeEntry as error:
            raise self._fail(str(error)) from None
        if member.isdir():
            return
        stream = tar.extractfile(member)
        assert stream is not None  # a regular file always has a stream
        if self._result is None:
            self._read_head(name, member, stream, counted)
        else:
            self._write(name, member, stream, self._result)

    def _read_head(
        self, name: str, member: tarfile.TarInfo, stream: IO[bytes], counted: _CountingReader
    ) -> None:
        expected = MANIFEST_NAME if not self._head else SIGNATURE_NAME
        if name != expected:
            raise self._fail(f"entry {name!r} comes where {expected} must be")
        limit = MAX_MANIFEST_BYTES if name == MANIFEST_NAME else MAX_BUNDLE_BYTES
        if member.size > limit:
            raise self._fail(f"{name} is {member.size:,} bytes, over the limit of {limit:,}")
        self._head[name] = stream.read(limit + 1)
        if name == SIGNATURE_NAME:
            raw = self._head[MANIFEST_NAME]
            manifest = self.head_check(raw, self._head[SIGNATURE_NAME])
            self._result = ScanResult(manifest, raw)
            self._index = {entry.path: (entry.sha256, entry.size) for entry in manifest.files}
            self.progress.start(manifest.total_size())
            declared = manifest.total_size() + ENTRY_OVERHEAD * (len(manifest.files) + 4)
            counted.limit = counted.size + declared + 10 * 1024

    def _write(
        self, name: str, member: tarfile.TarInfo, stream: IO[bytes], result: ScanResult
    ) -> None:
        if name not in self._index:
            raise self._fail(f"entry {name!r} is not listed in the signed manifest")
        if name in result.files:
            raise self._fail(f"entry {name!r} appears twice in the bundle")
        sha256, size = self._index[name]
        if member.size != size:
            raise self._fail(
                f"entry {name!r} is {member.size:,} bytes, the signed manifest says {size:,}"
            )
        target = self.dest / name
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
        digest = hashlib.sha256()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            handle = os.open(target, flags, 0o644)
        except OSError as error:  # e.g. a file where a folder of another entry must be
            raise self._fail(f"entry {name!r} cannot be written: {error.strerror}") from None
        written = 0
        with os.fdopen(handle, "wb") as out:
            while chunk := stream.read(COPY_BUFFER):
                written += len(chunk)
                if written > size:  # tarfile never does this; the rule holds regardless
                    raise self._fail(f"entry {name!r} streams more than its {size:,} bytes")
                digest.update(chunk)
                out.write(chunk)
                self.progress(len(chunk))
        if digest.hexdigest() != sha256:
            raise self._fail(
                f"checksum mismatch for {name}: the signed manifest says {sha256}, "
                f"the bundle holds {digest.hexdigest()}",
            )
        result.files[name] = target
