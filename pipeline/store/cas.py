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
from pathlib import Path

from pipeline.errors import FileSystemError, InputError, Location
from pipeline.fsutil import atomic_writer, file_sha256, hash_file, open_read, read_chunks
from pipeline.store.base import (
    StoredArtifact,
    cas_uri,
    check_sha256,
    check_size,
    expect_uri_digest,
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
        digest, size = hash_file(path)
        target = self.object_path(digest)
        if _intact(target, digest):
            return StoredArtifact(cas_uri(digest), digest, size)
        with atomic_writer(target, mode=OBJECT_MODE) as out, open_read(path) as source:
            copied = hashlib.sha256()
            for chunk in read_chunks(source):
                copied.update(chunk)
                out.write(chunk)
            if copied.hexdigest() != digest:
                raise InputError(
                    f"{path} changed while it was being stored",
                    location=Location(str(path)),
                    hint="store the artifact once it is completely written",
                )
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
        except OSError as error:
            raise FileSystemError("read", target, error) from None
        with handle:
            return write_verified(
                read_chunks(handle),
                dest,
                sha256=digest,
                size=size,
                source=f"stored object {target}",
                hint="the stored object is corrupted (or the manifest is wrong);"
                " storing the original artifact again repairs the store",
            )


def _intact(target: Path, digest: str) -> bool:
    try:
        return file_sha256(target) == digest
    except InputError:
        return False
