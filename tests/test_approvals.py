"""Approvals: the rule engine, and signed approval records as real commits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest
from conftest import Repo
from cryptography.hazmat.primitives.asymmetric import ec
from factories import release, yaml_text

from pipeline.cli.powerx import cli
from pipeline.gitrepo import GitRepo
from pipeline.models import PolicySet
from pipeline.models.approvals import ApprovalPolicy, Teams
from pipeline.policy.approvals import Approval, ApprovalRequest, evaluate_approvals
from pipeline.policy.signed_approvals import (
    ApprovalPredicate,
    ApproveRequest,
    approval_path,
    manifest_digest,
    record_approval,
    sign_approval,
    signed_approvals,
)
from pipeline.signing.keys import generate_keypair, load_private_key, public_key_id
from pipeline.snapshot import Snapshot

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
PASS = b"approver passphrase"


@cache
def key(login: str) -> tuple[ec.EllipticCurvePrivateKey, bytes, bytes]:
    """A real key pair per approver: (private key, private PEM, public PEM)."""
    private_pem, public_pem = generate_keypair(PASS)
    return load_private_key(private_pem, PASS), private_pem, public_pem


def member(login: str) -> dict[str, Any]:
    public = key(login)[2]
    return {"login": login, "keyId": public_key_id(public), "publicKey": public.decode()}


def teams_data() -> dict[str, Any]:
    return {
        "apiVersion": "powerx.io/v1alpha1",
        "kind": "Teams",
        "teams": {
            "qa": {"members": [member("quinn"), member("ada")]},
            "release-managers": {"members": [member("rita")]},
        },
    }


def policies(**approvals: Any) -> PolicySet:
    data = {
        "apiVersion": "powerx.io/v1alpha1",
        "kind": "ApprovalPolicy",
        "environments": {"staging": {"required": 1, "teams": ["qa"]}, "prod": {"required": 2}},
        **approvals,
    }
    return PolicySet(
        approvals=ApprovalPolicy.model_validate(data), teams=Teams.model_validate(teams_data())
    )


def approval(who: str, on: str = "head", hours_ago: float = 1) -> Approval:
    return Approval(who, NOW - timedelta(hours=hours_ago), "github", on)


def request(env: str = "prod", author: str = "ada", hours_ago: float = 2) -> ApprovalRequest:
    return ApprovalRequest(
        env, author, "digest", NOW - timedelta(hours=hours_ago), pull_request_head="head"
    )


def test_enough_distinct_members_approve() -> None:
    verdict = evaluate_approvals(
        policies(),
        request(),
        [approval("quinn"), approval("rita"), approval("quinn", hours_ago=0.5)],
        now=NOW,
    )
    assert verdict.satisfied
    assert sorted(a.approver for a in verdict.counted) == ["quinn", "rita"]
    assert verdict.describe().startswith("2/2 approval(s) for prod")


def test_refusals_are_explained() -> None:
    verdict = evaluate_approvals(
        policies(),
        request(),
        [approval("ada"), approval("mallory"), approval("quinn", on="old-head")],
        now=NOW,
    )
    assert not verdict.satisfied
    reasons = {r.approval.approver: r.reason for r in verdict.refused}
    assert reasons == {
        "ada": "an author never approves their own release",
        "mallory": "not a member of any team in policies/teams.yaml",
        "quinn": "stale: given before the last change of the request",
    }
    staging = evaluate_approvals(
        policies(), request("staging", author="zed"), [approval("rita")], now=NOW
    )
    assert staging.refused[0].reason == "not in qa"
    assert evaluate_approvals(policies(), request("test"), [], now=NOW).satisfied
    fresh_ok = evaluate_approvals(
        policies(staleOnNewCommits=False),
        request(),
        [approval("quinn", on="x"), approval("rita")],
        now=NOW,
    )
    assert fresh_ok.satisfied


def test_the_sla_marks_requests_overdue() -> None:
    assert evaluate_approvals(policies(), request(hours_ago=30), [], now=NOW).overdue
    assert not evaluate_approvals(policies(), request(hours_ago=3), [], now=NOW).overdue
    assert (
        evaluate_approvals(policies(slaHours=2), request(hours_ago=3), [], now=NOW)
        .describe()
        .endswith("past its SLA")
    )


def test_seed_policies_fail_closed() -> None:
    seed = PolicySet()
    verdict = evaluate_approvals(
        seed,
        ApprovalRequest("prod", "a", "d", NOW, pull_request_head="h"),
        [Approval("b", NOW, "github", "h")],
        now=NOW,
    )
    assert not verdict.satisfied and verdict.required == 2


@pytest.fixture
def approvable(release_repo: Repo) -> Repo:
    release_repo.git("checkout", "-q", "main")
    release_repo.commit(
        {
            "policies/teams.yaml": yaml_text(teams_data()),
            "releases/hello/1.0.0/release.yaml": yaml_text(release()),
        },
        "release hello 1.0.0",
    )
    return release_repo


def approvals_at(repo: Repo) -> tuple[list[Approval], list[str]]:
    git = GitRepo(repo.path)
    snapshot = Snapshot(git, git.resolve("main"))
    return signed_approvals(snapshot, Teams.model_validate(teams_data()), "hello", "1.0.0", "prod")


def test_signed_approvals_are_committed_and_verified(approvable: Repo) -> None:
    git = GitRepo(approvable.path)
    commit = record_approval(
        git, ApproveRequest("hello", "1.0.0", "prod", "quinn", key("quinn")[0], NOW), branch="main"
    )
    assert approvable.head() == commit
    assert (
        approvable.git("log", "-1", "--format=%(trailers:key=PowerX-Action,valueonly)").strip()
        == "approve"
    )
    approvals, problems = approvals_at(approvable)
    assert [(a.approver, a.source) for a in approvals] == [("quinn", "signed")]
    assert problems == []
    manifest = approvable.git("show", "main:releases/hello/1.0.0/release.yaml").encode() + b"\n"
    assert approvals[0].given_on == manifest_digest(manifest)


def test_forged_and_reused_records_do_not_count(approvable: Repo) -> None:
    digest = manifest_digest((approvable.path / "releases/hello/1.0.0/release.yaml").read_bytes())
    claims_rita = ApprovalPredicate.model_validate(
        {
            "plugin": "hello",
            "version": "1.0.0",
            "environment": "prod",
            "approver": "rita",
            "approvedAt": NOW,
        }
    )
    for_staging = ApprovalPredicate.model_validate(
        {
            "plugin": "hello",
            "version": "1.0.0",
            "environment": "staging",
            "approver": "quinn",
            "approvedAt": NOW,
        }
    )
    outsider = load_private_key(generate_keypair(PASS)[0], PASS)
    tampered = bytearray(sign_approval(claims_rita, digest, key("rita")[0]))
    approvable.commit(
        {
            approval_path("hello", "1.0.0", "prod", "rita"): sign_approval(
                claims_rita, digest, key("quinn")[0]
            ),
            approval_path("hello", "1.0.0", "prod", "quinn"): sign_approval(
                for_staging, digest, key("quinn")[0]
            ),
            approval_path("hello", "1.0.0", "prod", "eve"): sign_approval(
                claims_rita, digest, outsider
            ),
            approval_path("hello", "1.0.0", "prod", "ada"): bytes(tampered).replace(
                b'"sig": "M', b'"sig": "N'
            ),
        }
    )
    approvals, problems = approvals_at(approvable)
    assert approvals == []
    text = "\n".join(problems)
    assert "claims to be 'rita' but is signed by quinn's key" in text
    assert "approves hello@1.0.0 for staging, not hello@1.0.0 for prod" in text
    assert "which no team member holds" in text
    assert len(problems) == 4


def test_cli_approve(
    run_cli: Any, approvable: Repo, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "rita.key"
    key_file.write_bytes(key("rita")[1])
    monkeypatch.setenv("PX_PASSPHRASE", PASS.decode())
    result = run_cli(
        cli,
        "approve",
        "hello@1.0.0",
        "--env",
        "prod",
        "--key",
        str(key_file),
        "--as",
        "rita",
        "--repo",
        str(approvable.path),
    )
    assert result.code == 0, result.err
    assert result.out.startswith("approved hello@1.0.0 for prod as rita (commit ")
    assert [a.approver for a in approvals_at(approvable)[0]] == ["rita"]
    bad = run_cli(
        cli,
        "approve",
        "hello",
        "--env",
        "prod",
        "--key",
        str(key_file),
        "--as",
        "rita",
        "--repo",
        str(approvable.path),
    )
    assert bad.code == 2 and "plugin@version" in bad.err
    missing = run_cli(
        cli,
        "approve",
        "hello@9.9.9",
        "--env",
        "prod",
        "--key",
        str(key_file),
        "--as",
        "rita",
        "--repo",
        str(approvable.path),
    )
    assert missing.code == 2 and "has no release manifest" in missing.err


def test_approvals_can_land_on_a_remote(
    run_cli: Any, approvable: Repo, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conftest import git

    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    approvable.git("remote", "add", "origin", str(bare))
    approvable.git("push", "-q", "origin", "main")
    key_file = tmp_path / "quinn.key"
    key_file.write_bytes(key("quinn")[1])
    monkeypatch.setenv("PX_PASSPHRASE", PASS.decode())
    result = run_cli(
        cli,
        "approve",
        "hello@1.0.0",
        "--env",
        "prod",
        "--key",
        str(key_file),
        "--as",
        "quinn",
        "--repo",
        str(approvable.path),
        "--push",
    )
    assert result.code == 0, result.err
    files = git(tmp_path, "--git-dir", str(bare), "ls-tree", "-r", "--name-only", "main").split()
    assert "releases/hello/1.0.0/approvals/prod-quinn.sigstore.json" in files
