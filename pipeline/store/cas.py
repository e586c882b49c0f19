"""A content-addressed directory: `<root>/sha256/<aa>/<hex>`, objects read-only once stored.

Writes are atomic and safe when several processes store the same bytes at once: each writer
copies into its own temporary file in the object's folder, fsyncs it, makes it read-only
(0444) and renames it over the object name. A rename is atomic, and every writer renames
identical bytes, so readers only ever see a whole object. Temporary files are hidden
(`.<hex>.<random>.tmp`); a crashed writer may leave one behind, which is never read and is
safe to delete.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from pipeline.errors import InputError, Location
from pipeline.store.base import (
    COPY_BUFFER,
    StoredArtifact,
    cas_uri,
    check_sha256,
    check_size,
    expect_uri_digest,
    fsync_directory,
    object_key,
    parse_cas_uri,
    write_verified,
)

OBJECT_MODE = 0o444


class ContentAddressedDirectory:
    """An `ArtifactStore` in a local (or mounted) directory; URIs are `cas:sha256:<hex>`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()

    def __repr__(self) -> str:
        return f"ContentAddressedDirectory({str(self.root)!r})"

    def object_path(self, sha256: str) -> Path:
        """Where the object with this digest lives (whether or not it exists)."""
        return self.root / object_key(sha256)

    def exists(self, sha256: str) -> bool:
        """Whether an object with this digest is stored (its bytes are not re-checked)."""
        return self.object_path(sha256).is_file()

    def put(self, path: Path) -> StoredArtifact:
        """Store a file; a no-op when an intact object with the same bytes is already there.

        A stored object whose bytes were damaged is replaced (repaired) by the good copy.
        """
        digest, size = _hash_file(path)
        target = self.object_path(digest)
        if _intact(target, digest):
            return StoredArtifact(cas_uri(digest), digest, size)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{digest}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out, _open_source(path) as source:
                copied = hashlib.sha256()
                for chunk in _chunks(source):
                    copied.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
                os.fchmod(out.fileno(), OBJECT_MODE)
            if copied.hexdigest() != digest:
                raise InputError(
                    f"{path} changed while it was being stored",
                    location=Location(str(path)),
                    hint="store the artifact once it is completely written",
                )
            Path(tmp).replace(target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        fsync_directory(target.parent)
        return StoredArtifact(cas_uri(digest), digest, size)

    def fetch(self, uri: str, sha256: str, size: int, dest: Path) -> Path:
        """Copy the object `uri` (`cas:sha256:<hex>`) to `dest`, verifying digest and size."""
        digest, size = check_sha256(sha256), check_size(size)
        expect_uri_digest(parse_cas_uri(uri), digest, uri)
        target = self.object_path(digest)
        try:
            handle = target.open("rb")
        except FileNotFoundError:
            raise InputError(
                f"{uri} is not in the artifact store {self.root}",
                hint="store it first (powerx publish create --artifact FILE.pxp),"
                " or point at the store that holds it",
            ) from None
        with handle:
            return write_verified(
                _chunks(handle),
                dest,
                sha256=digest,
                size=size,
                source=f"stored object {target}",
                hint="the stored object is corrupted (or the manifest is wrong);"
                " storing the original artifact again repairs the store",
            )


def _open_source(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as error:
        raise InputError(
            f"cannot read {path}: {error.strerror}", location=Location(str(path))
        ) from None


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    while chunk := handle.read(COPY_BUFFER):
        yield chunk


def _hash_file(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with _open_source(path) as handle:
        for chunk in _chunks(handle):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _intact(target: Path, digest: str) -> bool:
    try:
        return _hash_file(target)[0] == digest
    except InputError:
        return False
