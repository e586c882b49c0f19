"""An uploaded package, checked before anything is written, and the files that record it.

`check_upload` reads the package safely and whole, verifies its signature under the trusted
revision's signing policy, and judges its licence and compatibility ranges with the release
gates' own checks; `candidate_files` are the release record (with the store URI), the
signature bundle, the evidence and the listing, as they are committed (and validated).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pipeline import layout
from pipeline.errors import GateError, InputError
from pipeline.market import listing_path
from pipeline.market.records import load_review
from pipeline.models.base import API_VERSION
from pipeline.models.listing import Listing
from pipeline.models.load import parse_document, validate_document
from pipeline.models.release import Release
from pipeline.packaging import inspect_package
from pipeline.policy.gates import ReleaseGates
from pipeline.promotion.publish import EVIDENCE_KINDS
from pipeline.signing.artifact import default_bundle_path
from pipeline.signing.bundle import MAX_BUNDLE_BYTES
from pipeline.signing.statement import check_release_names
from pipeline.signing.trust import TrustInputs
from pipeline.signing.verify import verify_bundle
from pipeline.snapshot import Loaded, Snapshot
from pipeline.yamlio import dump_yaml, parse_yaml

MAX_EVIDENCE_BYTES = 32 * 1024 * 1024
LISTING_DIR = "listing"
"""Screenshots and other listing files: beside listing.yaml, in releases/<plugin>/listing/."""
MAX_LISTING_FILE = 8 * 1024 * 1024


@dataclass(frozen=True)
class OfflineUpload:
    """An uploaded package, its signature bundle and listing, and who sent it."""

    package: Path
    by: str
    now: datetime
    bundle: Path | None = None
    listing: Path | None = None
    evidence: tuple[tuple[str, Path], ...] = ()
    """(kind, report) pairs; kind is coverage, tests or scans (the security report)."""


@dataclass(frozen=True)
class CheckedUpload:
    """An upload that passed its checks: the package, its signer and its release record."""

    plugin: str
    version: str
    sha256: str
    signer: str
    release: dict[str, object]
    """The release record, without the artifact's store URI (known once stored)."""
    bundle: bytes
    listing: bytes | None
    evidence: dict[str, bytes] = field(default_factory=dict)
    """Report files by their path in the release folder (evidence/<name>)."""
    listing_files: dict[str, bytes] = field(default_factory=dict)
    """The listing and its screenshots at their places in the repo (when one came)."""


def check_upload(snapshot: Snapshot, upload: OfflineUpload) -> CheckedUpload:
    """Verify an upload at the trusted revision; GateError/InputError say why not.

    Nothing is written: the package is read safely and whole, its signature verified under
    the signing policy, its compatibility ranges and licence judged by the release gates.
    """
    package = inspect_package(upload.package)
    manifest = package.manifest
    bundle_path = upload.bundle or default_bundle_path(upload.package)
    if not bundle_path.is_file():
        raise GateError(
            f"{upload.package.name} is unsigned: no signature bundle at {bundle_path}",
            hint="sign it (px-plugin sign) and upload the .sigstore.json with it (--bundle)",
        )
    bundle = bundle_path.read_bytes()[: MAX_BUNDLE_BYTES + 1]
    policies = snapshot.policies()
    verification = verify_bundle(
        bundle,
        digest=package.sha256,
        trust=TrustInputs(policy=policies.signing),
        now=upload.now,
        source=str(bundle_path),
    )
    check_release_names(verification.release, manifest.name, manifest.version)
    listing_raw = upload.listing.read_bytes() if upload.listing else None
    listing = _listing(snapshot, manifest.name, upload.listing, listing_raw)
    _check_not_released(snapshot, manifest.name, manifest.version, package.sha256)
    release: dict[str, object] = {
        "apiVersion": API_VERSION,
        "kind": "Release",
        "plugin": manifest.name,
        "version": manifest.version,
        "artifact": {
            "uri": "pending",
            "sha256": package.sha256,
            "size": package.size,
            "signature": f"{manifest.package_name}.sigstore.json",
        },
        "notes": "",
        "compatibility": dict(manifest.compatibility),
        "dependencies": dict(manifest.dependencies),
        "license": manifest.license,
        "channels": ["offline"],
        "rollback": {"playbook": f"Run `powerx rollback {manifest.name} --env <env> --reason`."},
        "contacts": [
            {
                "name": listing.vendor.name,
                "email": listing.vendor.email or listing.support.contact,
            }
        ],
    }
    evidence = _evidence(upload.evidence)
    named = _kinds(upload.evidence)
    release["evidence"] = {
        kind: [name for k, name in named if k == kind]
        for kind in EVIDENCE_KINDS
        if any(k == kind for k, _ in named)
    }
    _check_release_gates(snapshot, release, upload.now)
    return CheckedUpload(
        manifest.name,
        manifest.version,
        package.sha256,
        verification.signer,
        release,
        bundle,
        listing_raw,
        evidence,
        listing_files(upload.listing, manifest.name) if upload.listing else {},
    )


def _listing(snapshot: Snapshot, plugin: str, path: Path | None, raw: bytes | None) -> Listing:
    """The listing given with the upload, else the plugin's listing in the repo."""
    if path is not None and raw is not None:
        return parse_document(raw, str(path), Listing)
    loaded = snapshot.load(listing_path(plugin), Listing)
    if loaded is None:
        raise InputError(
            f"{plugin} has no listing in the repo ({listing_path(plugin)})",
            hint="upload its listing with the package: --listing FILE",
        )
    return loaded.model


def _check_not_released(snapshot: Snapshot, plugin: str, version: str, sha256: str) -> None:
    """A version released otherwise, or under a final review, is not replaced."""
    loaded = snapshot.release(plugin, version)
    if loaded is None or loaded.model.artifact.sha256 == sha256:
        return
    review = load_review(snapshot, plugin, version)
    if review is None or review.model.state in ("approved", "rejected"):
        raise InputError(
            f"{plugin}@{version} is already released with another artifact "
            f"(sha256:{loaded.model.artifact.sha256})",
            hint="released versions are locked: submit a new version",
        )


def _check_release_gates(snapshot: Snapshot, release: dict[str, object], now: datetime) -> None:
    """The licence and compatibility gates, as the release pipeline judges them."""
    path = "upload!release.yaml"
    doc = parse_yaml(dump_yaml(release).encode(), path)
    loaded = Loaded(validate_document(doc, Release), doc)
    gates = ReleaseGates(snapshot.policies(), snapshot, snapshot, loaded, now=now)
    failed = [g for g in (gates.licence(), *gates.compatibility()) if g.status == "fail"]
    if failed:
        raise GateError(
            "; ".join(f"{g.gate}: {g.found}: {g.message}" for g in failed),
            hint=failed[0].hint or "fix plugin.yaml, then pack and sign again",
        )


def _kinds(evidence: tuple[tuple[str, Path], ...]) -> list[tuple[str, str]]:
    return [(kind, f"evidence/{report.name}") for kind, report in evidence]


def _evidence(evidence: tuple[tuple[str, Path], ...]) -> dict[str, bytes]:
    """Every report read (and its kind checked) before anything is written."""
    files: dict[str, bytes] = {}
    for kind, report in evidence:
        if kind not in EVIDENCE_KINDS:
            raise InputError(
                f"unknown evidence kind {kind!r}", hint=f"use one of {', '.join(EVIDENCE_KINDS)}"
            )
        try:
            raw = report.read_bytes()
        except OSError as error:
            raise InputError(f"cannot read evidence {report}: {error.strerror}") from None
        if len(raw) > MAX_EVIDENCE_BYTES:
            raise InputError(f"{report} is larger than {MAX_EVIDENCE_BYTES} bytes")
        files[f"evidence/{report.name}"] = raw
    return files


def candidate_files(
    checked: CheckedUpload, uri: str, *, channel: str = "offline"
) -> dict[str, bytes]:
    """The files that record an upload: release record (pointing at `uri`), signature,
    evidence, and the listing when one came with it."""
    folder = layout.release_dir(checked.plugin, checked.version)
    artifact = dict(checked.release["artifact"])  # type: ignore[call-overload]
    release = {**checked.release, "artifact": {**artifact, "uri": uri}, "channels": [channel]}
    files = {
        layout.release_path(checked.plugin, checked.version): dump_yaml(release).encode(),
        f"{folder}/{artifact['signature']}": checked.bundle,
        **{f"{folder}/{name}": raw for name, raw in checked.evidence.items()},
    }
    files.update(checked.listing_files)
    return files


def listing_files(listing: Path, plugin: str) -> dict[str, bytes]:
    """A listing file and the files under listing/ beside it, at their places in the repo
    (releases/<plugin>/listing.yaml and releases/<plugin>/listing/...)."""
    files = {listing_path(plugin): listing.read_bytes()}
    folder = listing.parent / LISTING_DIR
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            if path.is_symlink():
                raise InputError(f"{path} is a link: put the file itself in {folder}")
            if path.is_file():
                if path.stat().st_size > MAX_LISTING_FILE:
                    raise InputError(f"{path} is larger than {MAX_LISTING_FILE} bytes")
                relative = path.relative_to(listing.parent).as_posix()
                files[f"releases/{plugin}/{relative}"] = path.read_bytes()
    return files
