"""The review state machine: every transition is one commit; every refusal writes nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from conftest import Repo, git
from factories import digest_of
from test_market_review_support import (
    NOW,
    OTHER_REVIEWER,
    REVIEWER,
    STRANGER,
    VENDOR,
    market_repo,
    market_yaml,
    report,
    with_remote,
)

from pipeline.errors import GateError, InputError
from pipeline.gitrepo import GitRepo, read_trailers
from pipeline.market import review_path
from pipeline.market.records import load_review
from pipeline.market.review import (
    MOVES,
    Action,
    Submission,
    Transitioned,
    TransitionNotAllowedError,
    TransitionRequest,
    transition,
)
from pipeline.models.market import Review
from pipeline.snapshot import Snapshot

SUBMISSION = Submission(channel="online", artifact_sha256=digest_of("hello", "1.0.0"))


@pytest.fixture
def repo(release_repo: Repo) -> Repo:
    return market_repo(release_repo)


def step(
    repo: Repo,
    action: Action,
    by: str = REVIEWER,
    *,
    reason: str | None = None,
    category: str | None = None,
    kind: str | None = None,
    minutes: int = 0,
    remote: str | None = None,
) -> Transitioned:
    needs_report = action in ("submit", "retry")
    request = TransitionRequest(
        action=action,
        plugin="hello",
        version="1.0.0",
        by=by,
        now=NOW + timedelta(minutes=minutes),
        reason=reason,
        category=category,  # type: ignore[arg-type]
        validation=report(kind or "passed") if needs_report or kind else None,
        submission=SUBMISSION if action == "submit" else None,
    )
    return transition(GitRepo(repo.path), request, remote=remote)


def current(repo: Repo) -> Review | None:
    git_repo = GitRepo(repo.path)
    loaded = load_review(Snapshot(git_repo, git_repo.resolve("main")), "hello", "1.0.0")
    return loaded.model if loaded else None


def commits(repo: Repo) -> int:
    return int(repo.git("rev-list", "--count", "main"))


def test_the_whole_path_is_one_commit_per_step_with_trailers(repo: Repo) -> None:
    before = commits(repo)
    assert step(repo, "submit", VENDOR).state == "submitted"
    assert step(repo, "start", minutes=1).state == "in-review"
    asked = step(
        repo,
        "request-changes",
        reason="The screenshot is an SVG: upload a PNG",
        category="screenshots",
        minutes=2,
    )
    assert asked.state == "changes-requested"
    assert step(repo, "submit", VENDOR, minutes=3).state == "submitted"
    assert step(repo, "start", OTHER_REVIEWER, minutes=4).state == "in-review"
    approved = step(repo, "approve", OTHER_REVIEWER, reason="All good", minutes=5)
    assert approved.state == "approved"
    assert commits(repo) == before + 6
    review = current(repo)
    assert review is not None
    assert [s.state for s in review.history] == [
        "submitted",
        "in-review",
        "changes-requested",
        "submitted",
        "in-review",
        "approved",
    ]
    assert review.history[2].category == "screenshots"
    assert review.history[5].by == OTHER_REVIEWER
    assert review.history[5].validation is not None
    assert review.history[5].validation.ruleset == "market-1:abc123"
    assert review.submitted_at == NOW + timedelta(minutes=3)
    message = repo.git("log", "-1", "--format=%B", "main")
    trailers = read_trailers(message)
    assert trailers["Action"] == "market-approve"
    assert trailers["Operator"] == OTHER_REVIEWER
    assert trailers["Review-State"] == "approved"
    assert (trailers["Plugin"], trailers["Version"]) == ("hello", "1.0.0")
    changed = repo.git("show", "--name-only", "--format=", "main").split()
    assert changed == [review_path("hello", "1.0.0")]
    asked_message = repo.git("log", "-1", "--format=%B", "main~3")
    assert read_trailers(asked_message)["Reason-Category"] == "screenshots"
    assert "reason: The screenshot is an SVG" in asked_message


def test_the_transition_table_is_the_one_that_refuses(repo: Repo) -> None:
    step(repo, "submit", VENDOR)
    step(repo, "start")
    step(repo, "reject", reason="Malware in the package", category="security")
    before = commits(repo)
    actions: tuple[Action, ...] = ("approve", "start", "submit", "retry")
    for action in actions:
        with pytest.raises(TransitionNotAllowedError) as refused:
            step(repo, action, VENDOR if action == "submit" else REVIEWER)
        assert refused.value.exit_code == 2
        assert "rejected (final)" in refused.value.message
        assert "submit a new version" in (refused.value.hint or "")
    assert commits(repo) == before
    assert all(s != "rejected" for m in MOVES.values() for s in m.sources)


def test_steps_before_a_submission_are_not_allowed(repo: Repo) -> None:
    with pytest.raises(TransitionNotAllowedError, match="not submitted"):
        step(repo, "start")
    with pytest.raises(TransitionNotAllowedError) as refused:
        step(repo, "approve")
    assert refused.value.hint == "from no review, allowed: submit"


def test_approve_needs_in_review(repo: Repo) -> None:
    step(repo, "submit", VENDOR)
    with pytest.raises(TransitionNotAllowedError) as refused:
        step(repo, "approve")
    assert refused.value.hint == "from submitted, allowed: submit, start, reject"


@pytest.mark.parametrize("action", ["reject", "request-changes"])
def test_a_rejection_without_a_reason_is_refused_before_anything_is_written(
    repo: Repo, action: Action
) -> None:
    step(repo, "submit", VENDOR)
    step(repo, "start")
    before = commits(repo)
    with pytest.raises(InputError, match="needs a reason") as refused:
        step(repo, action, reason="   ", category="security")
    assert refused.value.exit_code == 2
    with pytest.raises(InputError, match="needs a reason category"):
        step(repo, action, reason="Malware found in dist/")
    assert commits(repo) == before
    assert current(repo) is not None and current(repo).state == "in-review"  # type: ignore[union-attr]


def test_only_reviewers_may_review_and_the_vendor_never_their_own(
    repo: Repo, release_repo: Repo
) -> None:
    step(repo, "submit", REVIEWER)  # a reviewer who submits is the vendor of this one
    before = commits(repo)
    with pytest.raises(GateError, match="sam is not a Marketplace reviewer") as stranger:
        step(repo, "start", STRANGER)
    assert stranger.value.exit_code == 1
    with pytest.raises(GateError, match=r"rita submitted hello@1\.0\.0 and may not review it"):
        step(repo, "start", REVIEWER)
    assert commits(repo) == before
    assert step(repo, "start", OTHER_REVIEWER).state == "in-review"


def test_no_reviewer_team_means_nobody_may_review(repo: Repo) -> None:
    repo.commit({"policies/market.yaml": market_yaml(reviewers=[])})
    step(repo, "submit", VENDOR)
    with pytest.raises(GateError, match="names no reviewer team"):
        step(repo, "start")


def test_policy_comes_from_the_branch_tip_not_the_submitters_branch(repo: Repo) -> None:
    repo.git("checkout", "-q", "-b", "vendor-change")
    repo.commit({"policies/market.yaml": market_yaml(reviewers=["vendors"])})
    repo.git("checkout", "-q", "main")
    step(repo, "submit", REVIEWER)
    with pytest.raises(GateError, match="vera is not a Marketplace reviewer"):
        step(repo, "start", VENDOR)


def test_approve_while_an_enforced_rule_fails_is_refused(repo: Repo) -> None:
    step(repo, "submit", VENDOR, kind="failed")
    step(repo, "start")
    before = commits(repo)
    with pytest.raises(GateError, match=r"enforced rules fail \(listing.screenshots\)") as no:
        step(repo, "approve")
    assert no.value.exit_code == 1
    assert commits(repo) == before
    advisory = step(repo, "approve", kind="advisory")  # a fresh run with only advisory ones
    assert advisory.state == "approved"
    assert advisory.review.history[-1].validation is not None
    assert advisory.review.history[-1].validation.advisory == ["listing.links"]


def test_an_expired_signature_sends_the_review_back_for_resubmission(
    release_repo: Repo,
) -> None:
    repo = market_repo(release_repo, notAfter="2026-03-05T00:00:00Z")
    step(repo, "submit", VENDOR)
    step(repo, "start")
    late = 60 * 24 * 2  # two days later: the signature's window closed
    with pytest.raises(GateError, match="signature has expired") as refused:
        step(repo, "approve", minutes=late)
    assert refused.value.exit_code == 1
    assert "went back to changes-requested" in (refused.value.hint or "")
    review = current(repo)
    assert review is not None and review.state == "changes-requested"
    assert review.history[-1].category == "signature"
    assert "resubmit" in (review.history[-1].reason or "")
    assert step(repo, "submit", VENDOR, minutes=late + 1).state == "submitted"


def test_a_validator_that_could_not_run_leaves_the_review_errored_until_retried(
    repo: Repo,
) -> None:
    errored = step(repo, "submit", VENDOR, kind="errored")
    assert errored.state == "errored"
    last = errored.review.history[-1]
    assert last.reason is not None and "security.report (scanner timed out" in last.reason
    assert last.validation is not None and last.validation.errored == ["security.report"]
    with pytest.raises(TransitionNotAllowedError):
        step(repo, "start")
    with pytest.raises(TransitionNotAllowedError):
        step(repo, "reject", reason="The scanner failed", category="security")
    assert step(repo, "retry", "runner", kind="errored").state == "errored"
    assert step(repo, "retry", "runner").state == "submitted"
    assert step(repo, "start").state == "in-review"


def test_a_report_for_another_version_is_refused(repo: Repo) -> None:
    request = TransitionRequest(
        action="submit",
        plugin="hello",
        version="1.0.0",
        by=VENDOR,
        now=NOW,
        validation=report(version="2.0.0"),
        submission=SUBMISSION,
    )
    with pytest.raises(InputError, match=r"report is for hello@2\.0\.0"):
        transition(GitRepo(repo.path), request)
    with pytest.raises(InputError, match="needs the validator's report"):
        transition(GitRepo(repo.path), TransitionRequest("retry", "hello", "1.0.0", "x", NOW))
    with pytest.raises(InputError, match="needs a named person"):
        transition(GitRepo(repo.path), TransitionRequest("start", "hello", "1.0.0", " ", NOW))


def test_transitions_push_and_a_second_reviewer_finds_the_review_moved_on(
    repo: Repo, tmp_path: Path
) -> None:
    bare = with_remote(repo, tmp_path)
    step(repo, "submit", VENDOR, remote="origin")
    step(repo, "start", remote="origin")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(bare), str(other))
    other_repo = Repo(other)
    step(other_repo, "approve", OTHER_REVIEWER, remote="origin")
    with pytest.raises(TransitionNotAllowedError, match="approved"):
        step(repo, "reject", reason="Too late to say no", category="other", remote="origin")
    log = git(tmp_path, "--git-dir", str(bare), "log", "--format=%s", "main").splitlines()
    assert log[0] == "Marketplace review of hello 1.0.0: approved"
    assert log[1] == "Marketplace review of hello 1.0.0: in-review"


@pytest.mark.parametrize(
    ("gone", "why"),
    [
        ("releases/hello/1.0.0/hello-1.0.0.pxp.sigstore.json", "is missing"),
        ("releases/hello/1.0.0/release.yaml", "has no release record to verify"),
    ],
)
def test_an_approval_needs_a_signature_to_verify(repo: Repo, gone: str, why: str) -> None:
    step(repo, "submit", VENDOR)
    step(repo, "start")
    repo.commit({gone: None}, "lose a file")
    with pytest.raises(GateError, match=why):
        step(repo, "approve")
    review = current(repo)
    assert review is not None and review.state == "changes-requested"
    assert review.history[-1].category == "signature"
