"""An offline bundle as one OCI artifact: what `powerx export --to oci://` pushes and
`powerx plugin import --offline --from oci://` reads.

One image manifest (v1.1) with `artifactType` `application/vnd.powerx.offline-bundle.v1`,
the empty config, and one layer per bundle entry, in the bundle file's order:

| layer | media type | `org.opencontainers.image.title` |
|-------|------------|----------------------------------|
| 1 | `application/vnd.powerx.bundle.index.v1+json` | `bundle.json` (the signed index) |
| 2 | `application/vnd.dev.sigstore.bundle.v0.3+json` | `bundle.json.sigstore.json` |
| 3.. | `application/vnd.powerx.bundle.file.v1` | the entry path, e.g. `artifacts/...` |

A layer's digest is the sha256 of the file itself, the same sha256 the signed index names,
so a registry deduplicates artifacts shared by bundles and with the `oci://` artifact store.
The manifest itself is not trusted: an import reads the two head layers, verifies the
index's signature, and then pulls every file by the digest the signed index gives.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pipeline.bundle.manifest import MANIFEST_NAME, MAX_MANIFEST_BYTES, SIGNATURE_NAME
from pipeline.errors import GateError, InputError
from pipeline.jsonio import load_json
from pipeline.models.bundle import BundleManifest
from pipeline.models.digest import parse_sha256
from pipeline.store.oci.artifact import (
    MAX_BUNDLE_BYTES,
    SIGSTORE_BUNDLE_TYPE,
    TITLE_ANNOTATION,
    empty_config,
)
from pipeline.store.oci.client import MANIFEST_LIMIT, OCI_MANIFEST, canonical_json

BUNDLE_ARTIFACT_TYPE = "application/vnd.powerx.offline-bundle.v1"
INDEX_MEDIA_TYPE = "application/vnd.powerx.bundle.index.v1+json"
FILE_MEDIA_TYPE = "application/vnd.powerx.bundle.file.v1"
CREATED = "org.opencontainers.image.created"
ENVIRONMENT = "io.powerx.bundle.environment"
SEQUENCE = "io.powerx.bundle.sequence"
INDEX_DIGEST = "io.powerx.bundle.digest"


@dataclass(frozen=True)
class Layer:
    """One layer: its media type, sha256 (bare hex), size and title (the bundle path)."""

    media_type: str
    sha256: str
    size: int
    title: str

    def descriptor(self) -> dict[str, Any]:
        """The layer as an OCI descriptor."""
        return {
            "mediaType": self.media_type,
            "digest": f"sha256:{self.sha256}",
            "size": self.size,
            "annotations": {TITLE_ANNOTATION: self.title},
        }


def bundle_layers(
    manifest: BundleManifest, index_sha256: str, index_size: int, signature: bytes
) -> list[Layer]:
    """The layers of a bundle, in order: index, signature, then every indexed file."""
    return [
        Layer(INDEX_MEDIA_TYPE, index_sha256, index_size, MANIFEST_NAME),
        Layer(
            SIGSTORE_BUNDLE_TYPE,
            hashlib.sha256(signature).hexdigest(),
            len(signature),
            SIGNATURE_NAME,
        ),
        *(Layer(FILE_MEDIA_TYPE, f.sha256, f.size, f.path) for f in manifest.files),
    ]


def encode_oci_manifest(manifest: BundleManifest, index_sha256: str, layers: list[Layer]) -> bytes:
    """The image manifest of a bundle (compact JSON, keys sorted: the same bundle gives
    the same bytes, hence the same digest)."""
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": BUNDLE_ARTIFACT_TYPE,
        "config": empty_config(),
        "layers": [layer.descriptor() for layer in layers],
        "annotations": {
            CREATED: manifest.created.isoformat(),
            ENVIRONMENT: manifest.environment,
            SEQUENCE: str(manifest.sequence),
            INDEX_DIGEST: f"sha256:{index_sha256}",
        },
    }
    return canonical_json(document)


@dataclass(frozen=True)
class BundleArtifact:
    """A bundle's image manifest as read from a registry (not trusted: the head layers are
    checked by the signature, the files by the signed index)."""

    index: Layer
    signature: Layer
    files: dict[str, Layer]
    """The file layers by title."""


def parse_oci_manifest(data: bytes, where: str) -> BundleArtifact:
    """Read a bundle's image manifest; GateError when it is not one (or is malformed)."""
    try:
        document = load_json(data, where, max_bytes=MANIFEST_LIMIT, what="registry manifest")
    except InputError as error:
        raise GateError(f"{where}: {error.message}") from None
    if not isinstance(document, dict) or document.get("artifactType") != BUNDLE_ARTIFACT_TYPE:
        found = document.get("artifactType") if isinstance(document, dict) else None
        raise GateError(
            f"{where} is not an offline bundle (artifactType {found!r}, "
            f"expected {BUNDLE_ARTIFACT_TYPE})",
            hint="name the tag or digest `powerx export --to` printed",
        )
    layers = [_layer(item, where) for item in _list(document.get("layers"), where)]
    if len(layers) < 2 or [layer.title for layer in layers[:2]] != [
        MANIFEST_NAME,
        SIGNATURE_NAME,
    ]:
        raise GateError(f"{where} does not start with {MANIFEST_NAME} and {SIGNATURE_NAME}")
    index, signature = layers[0], layers[1]
    if index.size > MAX_MANIFEST_BYTES or signature.size > MAX_BUNDLE_BYTES:
        raise GateError(f"{where}: {MANIFEST_NAME} or its signature is over the size limit")
    files: dict[str, Layer] = {}
    for layer in layers[2:]:
        if layer.title in files:
            raise GateError(f"{where}: entry {layer.title!r} appears twice in the bundle")
        files[layer.title] = layer
    return BundleArtifact(index, signature, files)


def check_against_index(artifact: BundleArtifact, manifest: BundleManifest, where: str) -> None:
    """Every layer is an entry of the signed index with its digest and size, and every
    entry has its layer: the registry's listing adds, drops or swaps nothing."""
    listed = {entry.path: entry for entry in manifest.files}
    for title, layer in artifact.files.items():
        entry = listed.get(title)
        if entry is None:
            raise GateError(f"{where}: entry {title!r} is not listed in the signed manifest")
        if (layer.sha256, layer.size) != (entry.sha256, entry.size):
            raise GateError(
                f"{where}: entry {title!r} is sha256:{layer.sha256} ({layer.size:,} bytes), "
                f"the signed manifest says sha256:{entry.sha256} ({entry.size:,} bytes)"
            )
    missing = sorted(listed.keys() - artifact.files.keys())
    if missing:
        raise GateError(
            f"{where} lacks {len(missing)} file(s) its signed manifest lists, first {missing[0]}",
            hint="push the bundle again (powerx export --to oci://...)",
        )


def _list(value: object, where: str) -> list[object]:
    if not isinstance(value, list):
        raise GateError(f"{where}: the manifest has no layers")
    return value


def _layer(item: object, where: str) -> Layer:
    if not isinstance(item, dict):
        raise GateError(f"{where}: a layer is not an object")
    annotations = item.get("annotations")
    title = annotations.get(TITLE_ANNOTATION) if isinstance(annotations, dict) else None
    digest, size, media_type = item.get("digest"), item.get("size"), item.get("mediaType")
    if not isinstance(title, str) or not isinstance(media_type, str):
        raise GateError(f"{where}: a layer has no title or media type")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise GateError(f"{where}: layer {title!r} has no valid size")
    try:
        sha256 = parse_sha256(str(digest))
    except ValueError:
        raise GateError(f"{where}: layer {title!r} has no sha256 digest") from None
    return Layer(media_type, sha256, size, title)


class BundleRegistry(Protocol):
    """What bundles need of a registry client (`pipeline.store.oci.client.RegistryClient`)."""

    def blob_exists(self, digest: str) -> bool:
        """Whether the repository holds the blob."""
        ...

    def push_blob(self, path: Path, digest: str, size: int) -> Any:
        """Upload a file as a blob (streamed)."""
        ...

    def pull_blob(self, digest: str, size: int, dest: Path, *, partial: Path | None = None) -> Any:
        """Download a blob into `dest`, verified; `partial` keeps the bytes received so far,
        so a pull that gave up continues there next time."""
        ...

    def put_manifest(self, data: bytes, media_type: str, reference: str) -> str:
        """Store a manifest under a tag; its digest."""
        ...

    def get_manifest(self, reference: str) -> tuple[bytes, str, str]:
        """(bytes, media type, digest) of the manifest a tag or digest names."""
        ...
