"""Our OCI artifact layout: a `.pxp` as an image manifest v1.1, its signature as a referrer.

The package (`artifactType` `application/vnd.powerx.plugin.v1`):

    {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
     "artifactType": "application/vnd.powerx.plugin.v1",
     "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2, ...},
     "layers": [{"mediaType": "application/vnd.powerx.plugin.package.v1.tar+gzip",
                 "digest": "sha256:<the .pxp>", "size": N,
                 "annotations": {"org.opencontainers.image.title": "<name>-<version>.pxp"}}],
     "annotations": {"dev.powerx.plugin": NAME, "dev.powerx.version": VERSION,
                     "org.opencontainers.image.title": "<name>-<version>.pxp"}}

The signature, as cosign stores Sigstore bundles: a manifest with `subject` = the package
manifest, `artifactType` = the Sigstore bundle media type, the empty config, and the bundle
(`application/vnd.dev.sigstore.bundle.v0.3+json`) as its one layer. The package is tagged
`<plugin>-<version>` (`+` written `_`, as tags cannot hold `+`); the signature is found
through the referrers API or its tag-schema fallback, never by a tag of its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

from pipeline.errors import GateError, InputError
from pipeline.store.base import check_sha256
from pipeline.store.oci.client import OCI_MANIFEST, canonical_json

ARTIFACT_TYPE = "application/vnd.powerx.plugin.v1"
PACKAGE_LAYER_TYPE = "application/vnd.powerx.plugin.package.v1.tar+gzip"
SIGSTORE_BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
EMPTY_CONFIG_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_CONFIG = b"{}"
EMPTY_CONFIG_DIGEST = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
PLUGIN_ANNOTATION = "dev.powerx.plugin"
VERSION_ANNOTATION = "dev.powerx.version"
TITLE_ANNOTATION = "org.opencontainers.image.title"
MAX_BUNDLE_BYTES = 1024 * 1024
"""The largest signature bundle pulled (a Sigstore bundle is a few KiB)."""


@dataclass(frozen=True)
class Layer:
    """A blob a manifest names."""

    digest: str
    size: int
    media_type: str


def package_tag(plugin: str, version: str) -> str:
    """The tag of a package: `<plugin>-<version>` (`+` becomes `_`)."""
    return f"{plugin}-{version}".replace("+", "_")


def package_manifest(plugin: str, version: str, digest: str, size: int) -> bytes:
    """The image manifest of a `.pxp` whose bytes have `digest` and `size`."""
    title = f"{plugin}-{version}.pxp"
    return canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": ARTIFACT_TYPE,
            "config": empty_config(),
            "layers": [
                {
                    "mediaType": PACKAGE_LAYER_TYPE,
                    "digest": f"sha256:{check_sha256(digest)}",
                    "size": size,
                    "annotations": {TITLE_ANNOTATION: title},
                }
            ],
            "annotations": {
                PLUGIN_ANNOTATION: plugin,
                VERSION_ANNOTATION: version,
                TITLE_ANNOTATION: title,
            },
        }
    )


def signature_manifest(subject_digest: str, subject_size: int, bundle: bytes) -> bytes:
    """The referrer holding a Sigstore bundle for the package manifest `subject_digest`."""
    return canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": SIGSTORE_BUNDLE_TYPE,
            "config": empty_config(),
            "layers": [
                {
                    "mediaType": SIGSTORE_BUNDLE_TYPE,
                    "digest": f"sha256:{sha256(bundle).hexdigest()}",
                    "size": len(bundle),
                }
            ],
            "subject": {
                "mediaType": OCI_MANIFEST,
                "digest": f"sha256:{check_sha256(subject_digest)}",
                "size": subject_size,
            },
        }
    )


def package_layer(manifest: bytes, source: str) -> tuple[Layer, dict[str, str]]:
    """The package blob a manifest names, and its annotations (GateError if not ours)."""
    document = _document(manifest, source)
    if document.get("artifactType") != ARTIFACT_TYPE:
        raise GateError(
            f"{source} is not a PowerX package (artifactType"
            f" {document.get('artifactType')!r}, expected {ARTIFACT_TYPE})",
            hint="point at a package pushed by powerx publish create --store oci://...",
        )
    layer = _only_layer(document, PACKAGE_LAYER_TYPE, source)
    annotations = document.get("annotations")
    return layer, {str(k): str(v) for k, v in (annotations or {}).items()}


def bundle_layer(manifest: bytes, source: str) -> Layer:
    """The Sigstore bundle blob a signature referrer names (GateError if malformed)."""
    return _only_layer(_document(manifest, source), SIGSTORE_BUNDLE_TYPE, source)


def empty_config() -> dict[str, Any]:
    """The descriptor of the empty config `{}` every manifest of ours names."""
    return {
        "mediaType": EMPTY_CONFIG_TYPE,
        "digest": f"sha256:{EMPTY_CONFIG_DIGEST}",
        "size": len(EMPTY_CONFIG),
    }


def _only_layer(document: dict[str, Any], media_type: str, source: str) -> Layer:
    layers = document.get("layers")
    if not isinstance(layers, list) or len(layers) != 1 or not isinstance(layers[0], dict):
        raise GateError(f"{source} must name exactly one layer")
    layer = layers[0]
    size = layer.get("size")
    if layer.get("mediaType") != media_type or not isinstance(size, int) or size < 0:
        raise GateError(
            f"{source}: its layer is not a {media_type} with a size",
            hint="the manifest was not written by powerx",
        )
    try:
        digest = check_sha256(str(layer.get("digest", "")))
    except InputError:
        raise GateError(f"{source}: its layer has no sha256 digest") from None
    return Layer(digest, size, media_type)


def _document(manifest: bytes, source: str) -> dict[str, Any]:
    try:
        document = json.loads(manifest)
    except (ValueError, UnicodeDecodeError):
        raise GateError(f"{source} is not a JSON manifest") from None
    if not isinstance(document, dict) or document.get("mediaType") != OCI_MANIFEST:
        raise GateError(f"{source} is not an OCI image manifest")
    return document
