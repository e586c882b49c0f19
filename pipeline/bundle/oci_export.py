"""`powerx export --to oci://HOST/REPO[:TAG]`: the signed bundle pushed as one OCI artifact.

The bundle is the same as a file bundle's (`prepare_export`: one plan, one index, one
signature); only where it is written differs. Each blob is streamed from its file (the
repo files from a scratch folder) and skipped when the registry already holds it, so a
push that was cut short continues where it stopped, and artifacts already in the registry
(pushed by `publish --store oci://`) are not sent again. The manifest, tagged last,
makes the bundle visible only once every blob is there.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pipeline.bundle.export import ExportRequest, PreparedExport, prepare_export
from pipeline.bundle.oci_layout import BundleRegistry, bundle_layers, encode_oci_manifest
from pipeline.bundle.progress import Progress, no_progress
from pipeline.store.oci.artifact import EMPTY_CONFIG, EMPTY_CONFIG_DIGEST
from pipeline.store.oci.client import OCI_MANIFEST


@dataclass(frozen=True)
class PushResult:
    """A pushed bundle: its index, the manifest's digest and tag, what was sent."""

    prepared: PreparedExport
    digest: str
    """The image manifest's sha256 (bare hex): `REPO@sha256:<digest>` pins the bundle."""
    tag: str
    size: int
    """Bytes of every layer (what a pull reads)."""
    sent: int
    """Bytes uploaded (layers the registry lacked)."""


def default_tag(prepared: PreparedExport) -> str:
    """The tag of a bundle pushed without one: its environment."""
    return prepared.manifest.environment


def push_bundle(
    request: ExportRequest,
    registry: BundleRegistry,
    tag: str | None,
    *,
    progress: Progress = no_progress,
) -> PushResult:
    """Prepare the export and push it; the manifest goes up (tagged) after every blob."""
    with tempfile.TemporaryDirectory(prefix="powerx-push-") as scratch:
        prepared = prepare_export(
            request, Path(scratch), present=lambda sha: registry.blob_exists(f"sha256:{sha}")
        )
        index_sha256 = prepared.digest
        layers = bundle_layers(
            prepared.manifest, index_sha256, len(prepared.raw), prepared.signature
        )
        sent = 0
        progress.start(sum(layer.size for layer in layers))
        head = {0: prepared.raw, 1: prepared.signature}
        _push(registry, _spill(Path(scratch), EMPTY_CONFIG), EMPTY_CONFIG_DIGEST, len(EMPTY_CONFIG))
        for number, layer in enumerate(layers):
            data = head.get(number, prepared.memory.get(layer.title))
            path = (
                _spill(Path(scratch), data)
                if data is not None
                else prepared.artifacts.get(layer.sha256)
            )
            if path is not None and _push(registry, path, layer.sha256, layer.size):
                sent += layer.size
            progress(layer.size)
    manifest = encode_oci_manifest(prepared.manifest, index_sha256, layers)
    chosen = tag or default_tag(prepared)
    digest = registry.put_manifest(manifest, OCI_MANIFEST, chosen)
    return PushResult(
        prepared,
        digest.removeprefix("sha256:"),
        chosen,
        sum(layer.size for layer in layers),
        sent,
    )


def _spill(scratch: Path, data: bytes) -> Path:
    """A small in-memory file written out once, named by its digest, to stream as a blob."""
    path = scratch / hashlib.sha256(data).hexdigest()
    if not path.exists():
        path.write_bytes(data)
    return path


def _push(registry: BundleRegistry, path: Path, sha256: str, size: int) -> bool:
    """Upload unless the registry holds the blob; whether it was uploaded."""
    digest = f"sha256:{sha256}"
    if registry.blob_exists(digest):
        return False
    registry.push_blob(path, digest, size)
    return True
