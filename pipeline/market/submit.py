"""Submissions to the Marketplace: online (a released version) and offline (an uploaded .pxp).

Online: the release record `releases/<plugin>/<version>/release.yaml` is on the base branch
and its artifact in the store. Offline: the uploaded package is verified before anything
is written (a safe, whole package; its signature under the base branch's signing policy;
its compatibility ranges and licence, by the release gates' own checks), stored, and its
full version metadata (release record and signature bundle, and the listing when given)
committed with the review record, in one commit. A refused upload is logged for audit
(`upload_log`). Both run the validator, whose report the submission records.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pipeline import layout
from pipeline.errors import GateError, InputError, PowerXError
from pipeline.gitrepo import GitRepo
from pipeline.market import listing_path, review_path
from pipeline.market.findings import ValidationReport
from pipeline.market.records import load_review
from pipeline.market.review import Submission, Transitioned, TransitionRequest, transition
from pipeline.market.upload_log import UploadAttempt, record_upload
from pipeline.models.base import API_VERSION
from pipeline.models.listing import Listing
from pipeline.models.load import parse_document, validate_document
from pipeline.models.release import Release
from pipeline.packaging import inspect_package
from pipeline.policy.gates import ReleaseGates
from pipeline.signing.artifact import default_bundle_path
from pipeline.signing.bundle import MAX_BUNDLE_BYTES
from pipeline.signing.statement import check_release_names
from pipeline.signing.trust import TrustInputs
from pipeline.signing.verify import verify_bundle
from pipeline.snapshot import Loaded, Snapshot
from pipeline.store import ArtifactSource, ArtifactStore
from pipeline.yamlio import dump_yaml, parse_yaml


@dataclass(frozen=True)
class ValidateInput:
    """What the validator is run on: a revision, a version, and for an offline upload the
    package and listing files."""

    snapshot: Snapshot
    plugin: str
    version: str
    store: ArtifactSource
    now: datetime
    package: Path | None = None
    listing: Path | None = None


Validator = Callable[[ValidateInput], ValidationReport]
PERMISSIONS_RULE = "permissions.widened"
"""The validator's rule (pipeline.market.rules.package.PERMISSIONS once merged)."""


def run_validator(given: ValidateInput) -> ValidationReport:
    """The Marketplace validator (`pipeline.market.validate`) on `given`."""
    # until the validator is merged in, mypy cannot see it (drop the ignores then)
    from pipeline.market.validate import (  # type: ignore[import-not-found,unused-ignore]
        ValidateRequest,
        validate_submission,
    )

    return validate_submission(  # type: ignore[no-any-return,unused-ignore]
        ValidateRequest(
            snapshot=given.snapshot,
            plugin=given.plugin,
            version=given.version,
            store=given.store,
            now=given.now,
            package=given.package,
            listing=given.listing,
        )
    )


@dataclass(frozen=True)
class Target:
    """Where submissions are committed: the repo, its base branch, the remote to push to."""

    git: GitRepo
    branch: str = "main"
    remote: str | None = None
    ci_run: str | None = None

    def snapshot(self) -> Snapshot:
        """The base branch's tip (fetched first when pushing): the trusted revision."""
        tip = (
            self.git.fetch(self.remote, self.branch)
            if self.remote
            else self.git.resolve(f"refs/heads/{self.branch}")
        )
        if tip is None:
            raise InputError(f"branch {self.branch!r} does not exist on {self.remote!r}")
        return Snapshot(self.git, tip)


def submit_online(
    target: Target,
    plugin: str,
    version: str,
    *,
    by: str,
    now: datetime,
    store: ArtifactSource,
    validate: Validator,
) -> tuple[Transitioned, ValidationReport]:
    """Submit a released version: its record and artifact must be there already."""
    snapshot = target.snapshot()
    loaded = snapshot.release(plugin, version)
    if loaded is None:
        raise InputError(
            f"{plugin}@{version} has no release record on {target.branch}",
            hint="publish it first (px-plugin publish, or powerx publish create), or submit "
            "the package offline (px-market submit --offline FILE.pxp)",
        )
    release = loaded.model
    if not store.exists(release.artifact.sha256):
        raise InputError(
            f"the artifact of {release.ref} (sha256:{release.artifact.sha256}) is not in the "
            "artifact store",
            hint="give the store it was published to (--store)",
        )
    report = validate(ValidateInput(snapshot, plugin, version, store, now))
    listing = snapshot.read(listing_path(plugin))
    submission = Submission(
        channel="online",
        artifact_sha256=release.artifact.sha256,
        listing_sha256=hashlib.sha256(listing).hexdigest() if listing is not None else None,
        permissions_widened=widened_permissions(report),
    )
    request = TransitionRequest(
        "submit",
        plugin,
        version,
        by,
        now,
        validation=report,
        submission=submission,
        ci_run=target.ci_run,
    )
    return transition(target.git, request, branch=target.branch, remote=target.remote), report


def widened_permissions(report: ValidationReport) -> tuple[str, ...]:
    """Permissions this version asks for that the listed one did not, as the validator's
    `permissions.widened` rule found them (each finding's path names one)."""
    return tuple(
        sorted(
            finding.path
            for result in report.results
            if result.rule == PERMISSIONS_RULE
            for finding in result.findings
            if finding.path
        )
    )


@dataclass(frozen=True)
class OfflineUpload:
    """An uploaded package, its signature bundle and listing, and who sent it."""

    package: Path
    by: str
    now: datetime
    bundle: Path | None = None
    listing: Path | None = None


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
        "notes": f"Submitted offline to the Marketplace by {upload.by}.",
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
    _check_release_gates(snapshot, release, upload.now)
    return CheckedUpload(
        manifest.name,
        manifest.version,
        package.sha256,
        verification.signer,
        release,
        bundle,
        listing_raw,
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


def submit_offline(
    target: Target,
    upload: OfflineUpload,
    *,
    store: ArtifactStore,
    validate: Validator,
    log: Path,
) -> tuple[Transitioned, ValidationReport, list[str]]:
    """Check, validate, store and commit an upload; every attempt goes to the log at `log`.

    Returns the transition, the validator's report and warnings (an unwritable log).
    """
    attempt = UploadAttempt(
        at=upload.now.isoformat(), file=str(upload.package), by=upload.by, outcome="refused"
    )
    try:
        snapshot = target.snapshot()
        checked = check_upload(snapshot, upload)
        attempt = UploadAttempt(
            **{
                **attempt.__dict__,
                "plugin": checked.plugin,
                "version": checked.version,
                "sha256": checked.sha256,
            }
        )
        report = validate(
            ValidateInput(
                snapshot,
                checked.plugin,
                checked.version,
                store,
                upload.now,
                package=upload.package,
                listing=upload.listing,
            )
        )
        stored = store.put(upload.package)
        done = transition(
            target.git,
            _offline_request(snapshot, checked, stored.uri, upload, report, target),
            branch=target.branch,
            remote=target.remote,
        )
    except PowerXError as error:
        warning = record_upload(log, _with(attempt, reason=error.message))
        if warning:
            error.hint = f"{error.hint or ''}\n  {warning}".strip()
        raise
    warning = record_upload(log, _with(attempt, outcome="accepted", commit=done.commit))
    return done, report, [warning] if warning else []


def _with(attempt: UploadAttempt, **changes: object) -> UploadAttempt:
    return UploadAttempt(**{**attempt.__dict__, **changes})


def _offline_request(
    snapshot: Snapshot,
    checked: CheckedUpload,
    uri: str,
    upload: OfflineUpload,
    report: ValidationReport,
    target: Target,
) -> TransitionRequest:
    folder = layout.release_dir(checked.plugin, checked.version)
    artifact = dict(checked.release["artifact"])  # type: ignore[call-overload]
    release = {**checked.release, "artifact": {**artifact, "uri": uri}}
    files = {
        layout.release_path(checked.plugin, checked.version): dump_yaml(release).encode(),
        f"{folder}/{artifact['signature']}": checked.bundle,
    }
    if checked.listing is not None:
        files[listing_path(checked.plugin)] = checked.listing
    listing = checked.listing or snapshot.read(listing_path(checked.plugin))
    submission = Submission(
        channel="offline",
        artifact_sha256=checked.sha256,
        listing_sha256=hashlib.sha256(listing).hexdigest() if listing is not None else None,
        permissions_widened=widened_permissions(report),
        files=files,
    )
    assert review_path(checked.plugin, checked.version) not in files
    return TransitionRequest(
        "submit",
        checked.plugin,
        checked.version,
        upload.by,
        upload.now,
        validation=report,
        submission=submission,
        ci_run=target.ci_run,
        source=f"upload {upload.package.name} signed by {checked.signer}",
    )
