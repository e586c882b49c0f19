"""Reading a `.pxp` package safely: inspect it, or extract it, refusing anything dangerous.

The package is read once, as a stream. Every entry is checked before its bytes go anywhere:

* names, types, duplicates and the entry count go through the one archive-entry validator
  (`pipeline.packaging.entries`): relative names only, no links, devices or FIFOs;
* at most `max_bytes` of decompressed data, counted on
  the actual bytes coming out of gzip (headers are not trusted): a bomb stops early;
* a truncated or corrupt gzip or tar stream is refused.

After the stream, `checksums.txt` must list exactly the other files, with matching sha256,
and `plugin.yaml`, `sbom.cdx.json`, the entrypoint and declared notes/changelog must exist.
Extraction writes into a temporary folder beside `dest` and renames it into place only when
all of this holds, so on any error `dest` is untouched.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, cast

from pipeline.errors import InputError, Location
from pipeline.models.plugin import (
    CHECKSUMS_FILE,
    DIST_DIR,
    MANIFEST_FILE,
    SBOM_FILE,
    PluginManifest,
)
from pipeline.packaging.checksums import parse_checksums
from pipeline.packaging.entries import MAX_ENTRIES, EntryValidator, UnsafeEntry
from pipeline.packaging.manifest import parse_manifest
from pipeline.packaging.pack import PackedFile
from pipeline.packaging.streams import COPY_BUFFER, HashingReader
from pipeline.yamlio import MAX_YAML_BYTES

MAX_BYTES = 2 * 1024**3
"""Default limit on the decompressed size of a package."""

MAX_CHECKSUMS_BYTES = 32 * 1024 * 1024
"""Largest checksums.txt we hold in memory."""

_KEPT = {MANIFEST_FILE: MAX_YAML_BYTES, CHECKSUMS_FILE: MAX_CHECKSUMS_BYTES}
_CORRUPT = (gzip.BadGzipFile, EOFError, zlib.error, tarfile.TarError)


@dataclass(frozen=True)
class PackageInfo:
    """A verified package: its digest and size, manifest and files (extracted under `root`)."""

    path: Path
    sha256: str
    size: int
    manifest: PluginManifest
    files: tuple[PackedFile, ...]
    root: Path | None = None


def inspect_package(
    path: Path, *, max_bytes: int = MAX_BYTES, max_entries: int = MAX_ENTRIES
) -> PackageInfo:
    """Read and verify a package without writing anything."""
    return _Scan(path, None, max_bytes, max_entries).run()


def extract_package(
    path: Path, dest: Path, *, max_bytes: int = MAX_BYTES, max_entries: int = MAX_ENTRIES
) -> PackageInfo:
    """Verify a package and extract it to `dest` (which must not exist, or be empty)."""
    if dest.is_symlink() or (dest.exists() and (not dest.is_dir() or any(dest.iterdir()))):
        raise InputError(
            f"{dest} already exists and is not an empty folder",
            hint="extract into a new folder",
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        info = _Scan(path, work, max_bytes, max_entries).run()
        work.chmod(0o755)
        work.replace(dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return replace(info, root=dest)


@dataclass
class _Scan:
    """One pass over a package, optionally writing its files under `dest`."""

    path: Path
    dest: Path | None
    max_bytes: int
    max_entries: int
    files: dict[str, PackedFile] = field(default_factory=dict)
    kept: dict[str, bytes] = field(default_factory=dict)
    entries: EntryValidator = field(init=False)

    def __post_init__(self) -> None:
        self.entries = EntryValidator(self.max_entries)

    @property
    def where(self) -> Location:
        return Location(str(self.path))

    def run(self) -> PackageInfo:
        """Stream the package through the checks; the verified PackageInfo."""
        try:
            raw = self.path.open("rb")
        except OSError as error:
            raise InputError(
                f"cannot read package: {error.strerror}", location=self.where
            ) from None
        with raw:
            outer = HashingReader(raw)
            try:
                with gzip.GzipFile(fileobj=cast(IO[bytes], outer), mode="rb") as unzipped:
                    inner = HashingReader(cast(IO[bytes], unzipped), limit=self._guard)
                    with tarfile.open(
                        fileobj=cast(IO[bytes], inner), mode="r|", bufsize=COPY_BUFFER
                    ) as tar:
                        for member in tar:
                            self._entry(tar, member)
                    inner.drain()
                outer.drain()
            except _CORRUPT as error:
                raise InputError(
                    f"package is truncated or corrupt: {error}",
                    location=self.where,
                    hint="copy or download the package again",
                ) from None
        return self._verify(outer.hash.hexdigest(), outer.size)

    def _guard(self, size: int) -> None:
        if size > self.max_bytes:
            raise InputError(
                f"package expands to more than {self.max_bytes:,} bytes (a decompression bomb?)",
                location=self.where,
            )

    def _fail(self, message: str) -> InputError:
        return InputError(message, location=self.where)

    def _entry(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        try:
            name = self.entries.check(member)
        except UnsafeEntry as error:
            raise self._fail(str(error)) from None
        if member.isdir():
            if self.dest is not None:
                (self.dest / name).mkdir(parents=True, exist_ok=True)
        else:
            stream = tar.extractfile(member)
            assert stream is not None  # a regular file always has a stream
            self.files[name] = self._copy(stream, name, executable=bool(member.mode & 0o111))

    def _copy(self, stream: IO[bytes], name: str, *, executable: bool) -> PackedFile:
        """Hash (and write, when extracting) one file's bytes."""
        digest, size = hashlib.sha256(), 0
        limit = _KEPT.get(name)
        chunks: list[bytes] = []
        write: Callable[[bytes], object] | None = None
        handle = None
        if self.dest is not None:
            target = self.dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
            mode = 0o755 if executable else 0o644
            handle = os.fdopen(os.open(target, flags, mode), "wb")
            os.fchmod(handle.fileno(), mode)
            write = handle.write
        try:
            while chunk := stream.read(COPY_BUFFER):
                digest.update(chunk)
                size += len(chunk)
                if write is not None:
                    write(chunk)
                if limit is not None:
                    if size > limit:
                        raise self._fail(f"{name} is over {limit:,} bytes")
                    chunks.append(chunk)
        finally:
            if handle is not None:
                handle.close()
        if limit is not None:
            self.kept[name] = b"".join(chunks)
        return PackedFile(name, digest.hexdigest(), size)

    def _verify(self, sha256: str, size: int) -> PackageInfo:
        """Checksums, manifest and required files, once the whole stream was read."""
        for required in (MANIFEST_FILE, CHECKSUMS_FILE, SBOM_FILE):
            if required not in self.files:
                raise self._fail(f"package has no {required}")
        listed = parse_checksums(self.kept[CHECKSUMS_FILE], f"{self.path}!{CHECKSUMS_FILE}")
        for name, packed in self.files.items():
            if name == CHECKSUMS_FILE:
                continue
            if name not in listed:
                raise self._fail(f"entry {name!r} is not listed in {CHECKSUMS_FILE}")
            if listed[name] != packed.sha256:
                raise self._fail(
                    f"checksum mismatch for {name!r}: "
                    f"{CHECKSUMS_FILE} says {listed[name]}, the file has {packed.sha256}"
                )
        missing = sorted(listed.keys() - self.files.keys())
        if missing:
            raise self._fail(f"{CHECKSUMS_FILE} lists {missing[0]!r}, which is not in the package")
        _, manifest = parse_manifest(self.kept[MANIFEST_FILE], f"{self.path}!{MANIFEST_FILE}")
        for name in (f"{DIST_DIR}/{manifest.entrypoint}", *manifest.extra_files):
            if name not in self.files:
                raise self._fail(f"plugin.yaml names {name!r}, which is not in the package")
        return PackageInfo(
            path=self.path,
            sha256=sha256,
            size=size,
            manifest=manifest,
            files=tuple(self.files.values()),
        )


def read_package_manifest(path: Path, *, max_entries: int = 16) -> PluginManifest:
    """The `plugin.yaml` of a package, read from the head of the stream only.

    The packer writes `plugin.yaml` first, so naming a package (e.g. to sign it) costs a
    few KiB of decompression, not the whole file. This does not vouch for the package:
    `inspect_package` does.
    """
    try:
        with tarfile.open(path, "r|gz") as tar:
            for index, member in enumerate(tar):
                if index >= max_entries:
                    break
                if member.name == MANIFEST_FILE and member.isfile():
                    if member.size > MAX_YAML_BYTES:
                        break
                    stream = tar.extractfile(member)
                    assert stream is not None
                    return parse_manifest(stream.read(), f"{path}!{MANIFEST_FILE}")[1]
    except _CORRUPT as error:
        raise InputError(
            f"{path}: package is truncated or corrupt: {error}",
            hint="copy or download the package again",
        ) from None
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from None
    raise InputError(
        f"{path}: no {MANIFEST_FILE} at the head of the package",
        location=Location(str(path)),
        hint="make packages with px-plugin pack",
    )
