"""The gates of a review step: who may review, and whether an approval may stand.

Reviewers are members of the teams `policies/market.yaml` names (`reviewers`, teams in
`policies/teams.yaml`; none named: nobody may review, fail closed), never someone who
submitted the version (the vendor). An approval needs a validator run without failing
enforced rules or rules that could not run, and a signature that still verifies under the
trusted revision's signing policy.
"""

from __future__ import annotations

from datetime import datetime

from pipeline import layout
from pipeline.errors import GateError, InputError
from pipeline.models.market import Review, ValidationSummary
from pipeline.models.policy import PolicySet
from pipeline.policy.release_signature import verify_release_bundle
from pipeline.signing.bundle import MAX_BUNDLE_BYTES
from pipeline.signing.statement import check_release_names
from pipeline.snapshot import Snapshot


def latest_validation(review: Review) -> ValidationSummary | None:
    """The validation of the latest step that carries one."""
    for step in reversed(review.history):
        if step.validation is not None:
            return step.validation
    return None


def submitters(review: Review) -> set[str]:
    """Who submitted this review (the vendor's people): they may not review it."""
    return {step.by for step in review.history if step.state == "submitted"}


def check_reviewer(policies: PolicySet, login: str, review: Review) -> None:
    """GateError unless `login` belongs to a reviewer team and did not submit `review`."""
    teams = policies.market.reviewers
    if not teams:
        raise GateError(
            "nobody may review Marketplace submissions: policies/market.yaml names no "
            "reviewer team",
            hint="add `reviewers: [<team>]` to policies/market.yaml (teams in policies/teams.yaml)",
        )
    if not policies.teams.teams_of(login) & set(teams):
        raise GateError(
            f"{login} is not a Marketplace reviewer (member of none of: {', '.join(teams)})",
            hint="a member of those teams (policies/teams.yaml) must do this step",
        )
    if login in submitters(review):
        raise GateError(
            f"{login} submitted {review.plugin}@{review.version} and may not review it",
            hint="another reviewer must do this step",
        )


def signature_problem(
    snapshot: Snapshot, policies: PolicySet, review: Review, now: datetime
) -> str | None:
    """Why the submitted artifact's signature does not hold at `now` (None: it holds).

    Read from the release record at the trusted revision and verified under its
    signing policy: an expired validity window or a revoked key shows up here.
    """
    loaded = snapshot.release(review.plugin, review.version)
    if loaded is None:
        return f"{review.plugin}@{review.version} has no release record to verify"
    release = loaded.model
    if release.artifact.signature is None:
        return f"{release.ref} has no signature bundle"
    if release.artifact.sha256 != review.artifact_sha256:
        return f"{release.ref}'s release record names another artifact than the one submitted"
    folder = layout.release_dir(release.plugin, release.version)
    try:
        path = layout.evidence_path(
            folder, release.artifact.signature, manifest=loaded.locate("artifact", "signature")
        )
        found = snapshot.git.read_blob(snapshot.commit, path, max_bytes=MAX_BUNDLE_BYTES)
        if found is None:
            return f"{path} is missing"
        verification = verify_release_bundle(
            snapshot.git, release, found, policies.signing, now=now, source=path
        )
        check_release_names(verification.release, release.plugin, release.version)
    except (GateError, InputError) as error:
        return error.message
    return None


def approval_refused(
    snapshot: Snapshot,
    policies: PolicySet,
    review: Review,
    summary: ValidationSummary | None,
    now: datetime,
) -> str | None:
    """GateError when enforced rules fail; the signature's problem when it no longer holds."""
    if summary is None:
        raise GateError(
            f"{review.plugin}@{review.version} has no validator run to approve on",
            hint="run `px-market submit` again (it validates)",
        )
    if summary.failed or summary.errored:
        what = ", ".join(summary.failed) or "none"
        raise GateError(
            f"cannot approve {review.plugin}@{review.version}: enforced rules fail ({what})"
            + (f", rules could not run ({', '.join(summary.errored)})" if summary.errored else ""),
            hint="request changes with the findings (px-market status shows them)",
        )
    return signature_problem(snapshot, policies, review, now)
