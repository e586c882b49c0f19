"""The registry side of `powerx export --to oci://...` and
`powerx plugin import --offline --from oci://...`: opening the registry, and what is said."""

from __future__ import annotations

from pathlib import Path

from pipeline.bundle.export import ExportRequest
from pipeline.bundle.import_request import Pause
from pipeline.bundle.oci_export import push_bundle
from pipeline.bundle.oci_import import RegistryScanner
from pipeline.cli.vocabulary import emit
from pipeline.errors import InputError
from pipeline.models.bundle import BundleManifest
from pipeline.store.oci.reference import OciReference
from pipeline.store.oci.store import RegistryAccess


def export_to_registry(
    request: ExportRequest, location: str, access: RegistryAccess, output_format: str
) -> int:
    """Push the export to `location` (`oci://HOST/REPO[:TAG]`) and say where it is."""
    reference = OciReference.parse(location)
    if reference.digest is not None:
        raise InputError(
            f"{location}: a bundle is pushed under a tag, not a digest",
            hint=f"e.g. --to {reference.repository_location()}:{request.environment}",
        )
    with access.client(reference) as registry:
        result = push_bundle(request, registry, reference.tag)
    manifest = result.prepared.manifest
    included = [release for release in manifest.releases if release.included]
    tagged = reference.with_tag(result.tag).display()
    pinned = reference.with_digest(result.digest).display()
    kind = "incremental" if manifest.since is not None else "full"
    lines = [
        f"exported {manifest.environment} ({kind}) to {tagged}: {result.size:,} bytes in "
        f"{len(manifest.files) + 2} layers ({result.sent:,} sent, the rest already there), "
        f"{len(included)} of {len(manifest.releases)} release(s) included",
        f"  sequence {manifest.sequence}, expires {manifest.expires.isoformat()}",
        f"  bundle digest sha256:{result.prepared.digest}",
        f"  pinned: {pinned}",
    ]
    lines += release_lines(manifest)
    data = {
        "environment": manifest.environment,
        "kind": kind,
        "to": tagged,
        "pinned": pinned,
        "size": result.size,
        "sent": result.sent,
        "sequence": manifest.sequence,
        "expires": manifest.expires.isoformat(),
        "digest": f"sha256:{result.prepared.digest}",
        "releases": [
            {
                "plugin": release.plugin,
                "version": release.version,
                "role": release.role,
                "included": release.included,
            }
            for release in manifest.releases
        ],
        "warnings": list(result.prepared.warnings),
    }
    emit(output_format, data, "".join(f"{line}\n" for line in lines))
    return 0


def registry_scanner(
    location: str, access: RegistryAccess, store: Path, pause: Pause
) -> RegistryScanner:
    """The import's reader for the bundle at `location` (a tag or a digest)."""
    reference = OciReference.parse(location)
    if reference.digest is not None:
        wanted = f"sha256:{reference.digest}"
    elif reference.tag is not None:
        wanted = reference.tag
    else:
        raise InputError(
            f"{location} names no tag or digest",
            hint=f"e.g. --from {reference.repository_location()}:prod (the tag export printed)",
        )
    return RegistryScanner(access.client(reference), wanted, reference.display(), store, pause)


def pull_summary(scanner: RegistryScanner) -> str:
    """What the pull fetched, and what an earlier, interrupted pull had already verified."""
    count = scanner.count
    return (
        f"pulled {count.pulled_blobs} blob(s) ({count.pulled_bytes:,} bytes) from "
        f"{scanner.where}; {count.reused_blobs} ({count.reused_bytes:,} bytes) were already "
        "here, verified by an earlier pull"
    )


def release_lines(manifest: BundleManifest) -> list[str]:
    """One line per release of an exported bundle: `+` carried, `=` left to the site."""
    return [
        f"  {'+' if r.included else '='} {r.plugin}@{r.version} ({r.role})"
        for r in manifest.releases
    ]
