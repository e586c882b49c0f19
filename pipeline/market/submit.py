"""Submissions to the Marketplace: online (a released version) and offline (an uploaded .pxp).

Online: the release record `releases/<plugin>/<version>/release.yaml` is on the base branch
and its artifact in the store. Offline: the uploaded package is verified before anything
is written (a safe, whole package; its signature under the base branch's signing policy;
its compatibility ranges and licence, by the release gates' own checks), stored, and its
full version metadata (release record, signature bundle, evidence, and the listing when
given) committed with the review record, in one commit; the validator judges those files
on a scratch commit first, exactly as they will land. A refused upload is logged for audit
(`upload_log`). Both run the validator, whose report the submission records.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from pipeline.errors import InputError, PowerXError
from pipeline.gitrepo import GitRepo
from pipeline.market import listing_path
from pipeline.market.findings import ValidationReport
from pipeline.market.review import Submission, Transitioned, TransitionRequest, transition
from pipeline.market.upload import CheckedUpload, OfflineUpload, candidate_files, check_upload
from pipeline.market.upload_log import UploadAttempt, record_upload
from pipeline.snapshot import Snapshot
from pipeline.store import ArtifactSource, ArtifactStore


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
SCRATCH_REF = "refs/powerx/validate/market-submission"
"""Where a candidate submission waits while it is validated (deleted right after)."""


def run_validator(given: ValidateInput) -> ValidationReport:
    """The Marketplace validator (`pipeline.market.validate`) on `given`."""
    from pipeline.market.validate import ValidateRequest, validate_submission

    return validate_submission(
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
    """Permissions this version asks for that the listed one did not (the validator's
    `permissions.widened` rule is their one home)."""
    return tuple(sorted(report.permissions_widened))


def validate_candidate(
    target: Target,
    snapshot: Snapshot,
    files: Mapping[str, bytes],
    validate: Validator,
    given: ValidateInput,
) -> ValidationReport:
    """Validate as if `files` were committed on `snapshot` (a scratch commit, deleted after):
    the validator judges a release record that is not on the branch yet."""
    git = target.git
    scratch = f"{SCRATCH_REF}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    candidate = git.commit(scratch, dict(files), "candidate submission", parent=snapshot.commit)
    try:
        return validate(replace(given, snapshot=Snapshot(git, candidate)))
    finally:
        git.repo.references.delete(scratch)


def submit_offline(
    target: Target,
    upload: OfflineUpload,
    *,
    store: ArtifactStore,
    validate: Validator,
    log: Path,
) -> tuple[Transitioned, ValidationReport, list[str]]:
    """Check, store, validate and commit an upload; every attempt goes to the log at `log`.

    Returns the transition, the validator's report and warnings (an unwritable log).
    """
    attempt = UploadAttempt(
        at=upload.now.isoformat(), file=str(upload.package), by=upload.by, outcome="refused"
    )
    try:
        snapshot = target.snapshot()
        checked = check_upload(snapshot, upload)
        attempt = replace(
            attempt, plugin=checked.plugin, version=checked.version, sha256=checked.sha256
        )
        stored = store.put(upload.package)
        files = candidate_files(checked, stored.uri)
        given = ValidateInput(
            snapshot,
            checked.plugin,
            checked.version,
            store,
            upload.now,
            package=upload.package,
            listing=upload.listing,
        )
        report = validate_candidate(target, snapshot, files, validate, given)
        done = transition(
            target.git,
            _offline_request(snapshot, checked, files, upload, report, target),
            branch=target.branch,
            remote=target.remote,
        )
    except PowerXError as error:
        warning = record_upload(log, replace(attempt, reason=error.message))
        if warning:
            error.hint = f"{error.hint or ''}\n  {warning}".strip()
        raise
    warning = record_upload(log, replace(attempt, outcome="accepted", commit=done.commit))
    return done, report, [warning] if warning else []


def _offline_request(
    snapshot: Snapshot,
    checked: CheckedUpload,
    files: Mapping[str, bytes],
    upload: OfflineUpload,
    report: ValidationReport,
    target: Target,
) -> TransitionRequest:
    listing = checked.listing or snapshot.read(listing_path(checked.plugin))
    submission = Submission(
        channel="offline",
        artifact_sha256=checked.sha256,
        listing_sha256=hashlib.sha256(listing).hexdigest() if listing is not None else None,
        permissions_widened=widened_permissions(report),
        files=files,
    )
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
