"""A registry client for the OCI distribution spec, over httpx.

Why not the `oras` package (oras-py 0.2.43): it speaks through `requests`, a second HTTP
stack beside httpx; its monolithic upload reads the whole layer into memory
(`data=fd.read()`); its download writes straight to the destination file without checking
the digest, and cannot resume with a Range request; and it has no referrers support with
the tag-schema fallback. What we need of the spec is small, so it is spoken here directly.

Everything a registry sends is checked: blobs stream through `write_verified` (digest and
size checked before anything reaches the destination; an interrupted download resumes with
`Range` where the registry supports it, else the bytes already read are skipped), manifests
are read up to `MANIFEST_LIMIT` bytes and their digest is checked. Uploads are streamed in
chunks (`pipeline.store.oci.upload`); `push_file` hashes the file while it uploads it.
Authentication and transport rules: `pipeline.store.oci.auth` and `.transport`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pipeline.errors import GateError, InputError
from pipeline.fsutil import fs_errors, hash_file, open_read
from pipeline.store.base import check_sha256, write_verified
from pipeline.store.oci.auth import CredentialLookup
from pipeline.store.oci.reference import OciReference
from pipeline.store.oci.transport import RegistryTransport, TransportSettings
from pipeline.store.oci.upload import finish_upload, read_exactly, same_size, send_chunks

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST_TYPES = (
    OCI_MANIFEST,
    OCI_INDEX,
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MANIFEST_LIMIT = 4 * 1024 * 1024
"""The largest manifest read (distribution's own limit)."""
UPLOAD_CHUNK = 64 * 1024 * 1024
"""Bytes sent per `PATCH` of a chunked upload (each streamed 1 MiB at a time)."""


class ManifestNotFoundError(InputError):
    """The registry has no manifest under that tag or digest (exit 2)."""


class RegistryClient:
    """One repository of one registry: blobs, manifests, tags and referrers."""

    def __init__(
        self,
        reference: OciReference,
        *,
        credentials: CredentialLookup | None = None,
        ca_file: Path | None = None,
        settings: TransportSettings | None = None,
        upload_chunk: int = UPLOAD_CHUNK,
    ) -> None:
        self.reference = reference
        self.upload_chunk = upload_chunk
        self._transport = RegistryTransport(
            reference,
            credentials or CredentialLookup(None),
            ca_file=ca_file,
            settings=settings or TransportSettings(),
        )

    def __repr__(self) -> str:
        return f"RegistryClient({self.reference.repository_location()!r})"

    def close(self) -> None:
        """Close the connections."""
        self._transport.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # blobs

    def blob_exists(self, digest: str) -> bool:
        """Whether the repository holds the blob (HEAD)."""
        response = self._transport.request("HEAD", f"blobs/sha256:{check_sha256(digest)}")
        if response.status_code == 404:
            return False
        self._transport.expect(response, (200,), "look up a blob in")
        return True

    def push_blob(
        self, path: Path, digest: str, size: int, *, mount_from: str | None = None
    ) -> bool:
        """Upload a file as the blob `digest`; False when it was there already (or mounted).

        `mount_from` names another repository of the same registry that may hold the blob
        (a cross-repository mount costs no upload).
        """
        digest = check_sha256(digest)
        if self.blob_exists(digest):
            return False
        params = {"mount": f"sha256:{digest}", "from": mount_from} if mount_from else None
        started = self._transport.request("POST", "blobs/uploads/", push=True, params=params)
        if started.status_code == 201 and mount_from:
            return False
        self._transport.expect(started, (202,), "start an upload to")
        location = send_chunks(
            self._transport, self.upload_chunk, self._transport.location(started), path, size
        )[0]
        finish_upload(self._transport, location, digest)
        return True

    def push_file(self, path: Path) -> tuple[str, int, bool]:
        """Upload a file whose digest is not known yet: (digest, size, whether it was sent).

        The file is hashed on a thread of its own while it is uploaded (only the final
        `PUT ?digest=` needs the digest). As soon as the hash is known, the registry is
        asked whether it holds the blob already: if so, the upload is abandoned (`DELETE`)
        and nothing more is sent. The registry checks the digest of what it received.
        """
        with open_read(path) as handle, fs_errors("read", path):
            size = os.fstat(handle.fileno()).st_size
        with ThreadPoolExecutor(1, thread_name_prefix="push_file") as pool:
            hashed = pool.submit(hash_file, path)
            started = self._transport.request("POST", "blobs/uploads/", push=True)
            self._transport.expect(started, (202,), "start an upload to")

            def held_already() -> bool | None:
                if not hashed.done():
                    return None
                return self.blob_exists(same_size(hashed.result(), size, path))

            location, stopped = send_chunks(
                self._transport,
                self.upload_chunk,
                self._transport.location(started),
                path,
                size,
                held_already,
            )
            digest = same_size(hashed.result(), size, path)
        if stopped:
            self._transport.request("DELETE", location, push=True)  # best effort
            return digest, size, False
        finish_upload(self._transport, location, digest)
        return digest, size, True

    def push_bytes(self, data: bytes) -> str:
        """Upload a small blob held in memory (a config, a signature bundle); its digest."""
        digest = hashlib.sha256(data).hexdigest()
        if self.blob_exists(digest):
            return digest
        started = self._transport.request("POST", "blobs/uploads/", push=True)
        self._transport.expect(started, (202,), "start an upload to")
        done = self._transport.request(
            "PUT",
            self._transport.location(started),
            push=True,
            params={"digest": f"sha256:{digest}"},
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        self._transport.expect(done, (201,), "upload a blob to")
        return digest

    def pull_blob(self, digest: str, size: int, dest: Path, *, partial: Path | None = None) -> Path:
        """Download the blob to `dest`; GateError (and no file) unless digest and size match.

        With `partial`, the bytes received are also kept in that file, so a pull that gave
        up (the network, not the digest) continues from there the next time, with `Range`.
        The file is removed once the blob is verified, or refused.
        """
        digest = check_sha256(digest)
        offset = _partial_size(partial, size)
        chunks = self._transport.resumable_download(f"blobs/sha256:{digest}", size, offset)
        try:
            written = write_verified(
                chunks if partial is None else _kept_in(partial, offset, chunks),
                dest,
                sha256=digest,
                size=size,
                source=self.reference.with_digest(digest).display(),
                hint="the registry sent other bytes than the digest names",
            )
        except GateError:
            if partial is not None:
                partial.unlink(missing_ok=True)
            raise
        if partial is not None:
            partial.unlink(missing_ok=True)
        return written

    def read_blob(self, digest: str, max_bytes: int) -> bytes:
        """A small blob (a signature bundle) in memory, its digest checked."""
        digest = check_sha256(digest)
        body = self._transport.bounded_get(f"blobs/sha256:{digest}", max_bytes, {}, "blob")
        if hashlib.sha256(body).hexdigest() != digest:
            raise GateError(
                f"the registry sent other bytes for blob sha256:{digest}"
                f" in {self.reference.repository_location()}",
                hint="the registry (or something between) altered the blob",
            )
        return body

    # manifests

    def put_manifest(self, data: bytes, media_type: str, reference: str) -> str:
        """Store a manifest under a tag or a digest; returns its digest (bare hex)."""
        return self._put_manifest(data, media_type, reference)[0]

    def _put_manifest(self, data: bytes, media_type: str, reference: str) -> tuple[str, bool]:
        digest = hashlib.sha256(data).hexdigest()
        response = self._transport.request(
            "PUT",
            f"manifests/{_reference_path(reference)}",
            push=True,
            content=data,
            headers={"Content-Type": media_type},
        )
        self._transport.expect(response, (201,), "store a manifest in")
        answered = response.headers.get("Docker-Content-Digest")
        if answered and answered != f"sha256:{digest}":
            raise GateError(
                f"the registry stored the manifest as {answered}, not sha256:{digest}",
                hint="the registry rewrote the manifest; use a registry that keeps bytes",
            )
        return digest, "OCI-Subject" in response.headers

    def get_manifest(self, reference: str) -> tuple[bytes, str, str]:
        """(bytes, media type, digest) of the manifest under a tag or digest; digest checked."""
        path = f"manifests/{_reference_path(reference)}"
        headers = {"Accept": ", ".join(MANIFEST_TYPES)}
        response = self._transport.bounded_response(path, MANIFEST_LIMIT, headers, "manifest")
        if response is None:
            raise ManifestNotFoundError(
                f"no manifest {reference} in {self.reference.repository_location()}",
                hint="check the tag or digest, and the repository",
            )
        body, headers_in = response
        digest = hashlib.sha256(body).hexdigest()
        expected = _digest_of(reference) or headers_in.get("Docker-Content-Digest", "")
        if expected and check_sha256(expected) != digest:
            raise GateError(
                f"the manifest {reference} in {self.reference.repository_location()}"
                f" has sha256:{digest}, not {expected}",
                hint="the registry (or something between) altered the manifest",
            )
        media_type = headers_in.get("Content-Type", "").split(";")[0].strip()
        return body, media_type or str(_json(body).get("mediaType", "")), digest

    def manifest_digest(self, reference: str) -> str | None:
        """The digest of the manifest under a tag (HEAD), or None when there is none."""
        response = self._transport.request(
            "HEAD",
            f"manifests/{_reference_path(reference)}",
            headers={"Accept": ", ".join(MANIFEST_TYPES)},
        )
        if response.status_code == 404:
            return None
        self._transport.expect(response, (200,), "look up a manifest in")
        answered = response.headers.get("Docker-Content-Digest")
        if answered:
            return check_sha256(answered)
        return self.get_manifest(reference)[2]

    def delete_manifest(self, digest: str) -> bool:
        """Delete a manifest by digest; False when it was not there."""
        response = self._transport.request(
            "DELETE", f"manifests/sha256:{check_sha256(digest)}", push=True
        )
        if response.status_code == 404:
            return False
        if response.status_code == 405:
            raise InputError(
                f"{self.reference.repository_location()} does not allow deletes",
                hint="enable deletes on the registry (distribution: storage.delete.enabled)",
            )
        self._transport.expect(response, (202, 200), "delete a manifest in")
        return True

    # tags and referrers

    def tags(self) -> list[str]:
        """Every tag of the repository (following `Link` pagination); [] when it is empty."""
        found: list[str] = []
        path: str | None = "tags/list?n=1000"
        while path is not None:
            response = self._transport.bounded_response(path, MANIFEST_LIMIT, {}, "tag list")
            if response is None:
                return found
            body, headers = response
            found += [str(tag) for tag in _json(body).get("tags") or []]
            path = _next_link(headers.get("Link", ""))
        return found

    def list_repository_manifests(self) -> dict[str, str]:
        """Tag -> manifest digest for every tag (untagged manifests are not listed)."""
        listed = {tag: self.manifest_digest(tag) for tag in self.tags()}
        return {tag: digest for tag, digest in listed.items() if digest is not None}

    def referrers(self, digest: str, artifact_type: str | None = None) -> list[dict[str, Any]]:
        """Descriptors of the manifests whose `subject` is `digest` (optionally one type).

        Asks the referrers API; a registry without it (404) is read through the tag schema
        `sha256-<hex>`, the index clients maintain for such registries.
        """
        digest = check_sha256(digest)
        params = {"artifactType": artifact_type} if artifact_type else {}
        response = self._transport.bounded_response(
            f"referrers/sha256:{digest}", MANIFEST_LIMIT, {"Accept": OCI_INDEX}, "referrers", params
        )
        if response is not None:
            manifests = _json(response[0]).get("manifests") or []
        else:
            try:
                body = self.get_manifest(fallback_tag(digest))[0]
            except ManifestNotFoundError:
                return []
            manifests = _json(body).get("manifests") or []
        return [
            dict(item)
            for item in manifests
            if isinstance(item, dict)
            and (artifact_type is None or item.get("artifactType") == artifact_type)
        ]

    def put_referrer(self, data: bytes, media_type: str, subject_digest: str) -> str:
        """Store a manifest whose `subject` is `subject_digest`, findable either way.

        A registry with the referrers API acknowledges the subject (`OCI-Subject`); for one
        without, the descriptor is added to the tag-schema index `sha256-<hex>`.
        """
        own = f"sha256:{hashlib.sha256(data).hexdigest()}"
        digest, acknowledged = self._put_manifest(data, media_type, own)
        if acknowledged:
            return digest
        descriptor = {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}
        parsed = _json(data)
        for key in ("artifactType", "annotations"):
            if key in parsed:
                descriptor[key] = parsed[key]
        tag = fallback_tag(subject_digest)
        try:
            index = _json(self.get_manifest(tag)[0])
        except ManifestNotFoundError:
            index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
        manifests = [m for m in index.get("manifests") or [] if isinstance(m, dict)]
        if not any(m.get("digest") == descriptor["digest"] for m in manifests):
            index["manifests"] = [*manifests, descriptor]
            self.put_manifest(canonical_json(index), OCI_INDEX, tag)
        return digest


def fallback_tag(digest: str) -> str:
    """The referrers tag schema: `sha256-<hex>`."""
    return f"sha256-{check_sha256(digest)}"


def _partial_size(partial: Path | None, size: int) -> int:
    """How many bytes a kept partial download holds (0: none, or one longer than the blob)."""
    if partial is None:
        return 0
    try:
        held = partial.stat().st_size
    except FileNotFoundError:
        return 0
    if held > size:
        partial.unlink()
        return 0
    return held


def _kept_in(partial: Path, offset: int, received: Iterator[bytes]) -> Iterator[bytes]:
    """The first `offset` bytes of `partial`, then `received`, appended to `partial` too."""
    with fs_errors("write", partial):
        partial.parent.mkdir(parents=True, exist_ok=True)
        keep = partial.open("ab")
    with keep:
        if offset:
            with open_read(partial) as held:
                yield from read_exactly(held, offset, partial)
        for chunk in received:
            keep.write(chunk)
            keep.flush()
            yield chunk


def _reference_path(reference: str) -> str:
    """A tag as it is, a digest as `sha256:<hex>`."""
    digest = _digest_of(reference)
    return f"sha256:{digest}" if digest else reference


def _digest_of(reference: str) -> str | None:
    if reference.startswith("sha256:"):
        return check_sha256(reference)
    return None


def _json(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise GateError("the registry sent a document that is not JSON") from None
    if not isinstance(parsed, dict):
        raise GateError("the registry sent a JSON document that is not an object")
    return parsed


def canonical_json(document: dict[str, Any]) -> bytes:
    """Compact JSON with sorted keys: the same document gives the same bytes (and digest)."""
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def _next_link(header: str) -> str | None:
    for part in header.split(","):
        target, _, rel = part.partition(";")
        if 'rel="next"' in rel.replace(" ", ""):
            return target.strip().strip("<>")
    return None
