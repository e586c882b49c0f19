"""Promotions that land by pull request, and pull-request reviews as approvals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Repo, git
from factories import yaml_text
from githubstub import TOKEN, GitHubStub, serve_github
from test_approvals import teams_data
from test_promote import publish

from pipeline.cli.powerx import cli

BRANCH = "promote/staging/hello-1.0.0"


@pytest.fixture
def remote(release_repo: Repo, tmp_path: Path) -> Path:
    """A release repo whose staging lands by pull request, hello 1.0.0 in test, and a remote."""
    release_repo.git("checkout", "-q", "main")
    teams = teams_data()
    teams["teams"]["qa"]["github"] = "powerx/qa"
    release_repo.commit(
        {
            "policies/teams.yaml": yaml_text(teams),
            "policies/approvals.yaml": yaml_text(
                {
                    "apiVersion": "powerx.io/v1alpha1",
                    "kind": "ApprovalPolicy",
                    "environments": {"staging": {"required": 1, "teams": ["qa"]}},
                }
            ),
            "policies/promotion.yaml": yaml_text(
                {
                    "apiVersion": "powerx.io/v1alpha1",
                    "kind": "PromotionPolicy",
                    "order": ["test", "staging", "prod"],
                    "via": {"staging": "pull-request", "prod": "pull-request"},
                }
            ),
        },
        "staging and prod land by pull request",
    )
    publish(release_repo, "1.0.0")
    bare = release_repo.path.parent / "remote.git"
    git(release_repo.path.parent, "init", "-q", "--bare", "-b", "main", str(bare))
    release_repo.git("remote", "add", "origin", str(bare))
    release_repo.git("push", "-q", "origin", "main")
    return bare


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Any:
    with serve_github(GitHubStub(login="ada")) as stub:
        stub.add_team("powerx", "qa", members=["quinn", "gina"])
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("GITHUB_API_URL", stub.url)
        yield stub


def promote(run_cli: Any, repo: Repo, *extra: str) -> Any:
    target = "hello@1.0.0" if "test" in extra else "hello"
    args = ["promote", target, "--repo", str(repo.path), "--push", "--operator", "robot"]
    return run_cli(cli, *args, *extra)


def check_pull(run_cli: Any, repo: Repo, number: int) -> dict[str, Any]:
    repo.git("fetch", "-q", "origin")
    result = run_cli(
        cli,
        "check",
        "--repo",
        str(repo.path),
        "--base",
        "origin/main",
        "--head",
        f"origin/{BRANCH}",
        "--pull-request",
        str(number),
        "--github-repo",
        "powerx/release-repo",
        "--format",
        "json",
    )
    data: dict[str, Any] = json.loads(result.out)
    assert TOKEN not in result.out + result.err
    return data


def approvals_gate(data: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in data["results"] if r["gate"] == "approvals")


def test_a_promotion_into_a_pull_request_environment_opens_a_pull_request(
    run_cli: Any, remote: Path, release_repo: Repo, github: GitHubStub
) -> None:
    assert promote(run_cli, release_repo, "--to", "test").code == 0  # test: a direct commit
    main_before = git(remote, "rev-parse", "main")
    result = promote(run_cli, release_repo, "--github-repo", "powerx/release-repo")
    assert result.code == 0, result.err
    assert "proposed hello@1.0.0: test -> staging" in result.out
    assert "pull request opened" in result.out
    assert git(remote, "rev-parse", "main") == main_before  # main is untouched
    pull = github.pulls[1]
    assert (pull["head"]["ref"], pull["base"]["ref"]) == (BRANCH, "main")
    assert pull["title"] == "Promote hello 1.0.0 to staging"
    assert "staging: (not deployed) -> 1.0.0" in pull["body"]
    state = git(remote, "show", f"{BRANCH}:environments/staging/plugins/hello.yaml")
    assert "version: 1.0.0" in state
    proposed = git(remote, "rev-parse", BRANCH)
    release_repo.commit({"README.md": "main moves on"}, "unrelated")
    release_repo.git("push", "-q", "origin", "main")
    again = promote(run_cli, release_repo, "--github-repo", "powerx/release-repo")
    assert again.code == 0 and "already proposed" in again.out
    assert git(remote, "rev-parse", BRANCH) == proposed  # reviews on it stay current
    assert len(github.pulls) == 1


def test_reviews_are_approvals_judged_by_the_rules(
    run_cli: Any, remote: Path, release_repo: Repo, github: GitHubStub
) -> None:
    promote(run_cli, release_repo, "--to", "test")
    promote(run_cli, release_repo, "--github-repo", "powerx/release-repo")
    head = git(remote, "rev-parse", BRANCH)
    github.push(1, head)
    unapproved = check_pull(run_cli, release_repo, 1)
    assert unapproved["exit_code"] == 1
    assert approvals_gate(unapproved)["message"].startswith("0/1 approval(s) for staging")
    github.review(1, "ada")  # the release's author
    github.review(1, "rita")  # not in qa
    github.review(1, "quinn", commit_id="0" * 40)  # stale: an older head
    refused = approvals_gate(check_pull(run_cli, release_repo, 1))
    assert refused["status"] == "fail", refused
    for reason in (
        "ada: an author never approves their own release",
        "rita: not in qa",
        "quinn: stale: given before the last change of the request",
    ):
        assert reason in refused["message"]
    github.review(1, "gina")  # a member through the GitHub team only
    passed = check_pull(run_cli, release_repo, 1)
    assert approvals_gate(passed)["status"] == "pass"
    assert passed["exit_code"] == 0
    github.review(1, "gina", "CHANGES_REQUESTED")  # withdraws her approval
    assert approvals_gate(check_pull(run_cli, release_repo, 1))["status"] == "fail"


def test_without_a_forge_the_branch_waits_for_a_pull_request(
    run_cli: Any, remote: Path, release_repo: Repo
) -> None:
    promote(run_cli, release_repo, "--to", "test")
    result = promote(run_cli, release_repo, "--no-pr")
    assert result.code == 0
    assert f"branch {BRANCH}" in result.out and "pushed; open a PR" in result.out
    assert "version: 1.0.0" in git(
        remote, "show", f"{BRANCH}:environments/staging/plugins/hello.yaml"
    )


def test_a_signed_record_still_counts_without_a_pull_request(
    run_cli: Any, remote: Path, release_repo: Repo
) -> None:
    """Forges without reviews: approval records on the branch satisfy `powerx check`."""
    from test_promote import approve

    promote(run_cli, release_repo, "--to", "test")
    promote(run_cli, release_repo, "--no-pr")
    release_repo.git("fetch", "-q", "origin")
    release_repo.git("checkout", "-q", "-b", "pr", f"origin/{BRANCH}")
    release_repo.git("branch", "-q", "-f", "main", "pr")  # approve() commits on main
    release_repo.git("checkout", "-q", "main")
    approve(release_repo, "quinn", "staging")
    result = run_cli(
        cli, "check", "--repo", str(release_repo.path), "--base", "origin/main", "--format", "json"
    )
    assert approvals_gate(json.loads(result.out))["status"] == "pass"


def test_remind_and_plan_count_the_reviews_of_a_promotion_request(
    run_cli: Any, remote: Path, release_repo: Repo, github: GitHubStub
) -> None:
    promote(run_cli, release_repo, "--to", "test")
    promote(run_cli, release_repo, "--github-repo", "powerx/release-repo")
    github.push(1, git(remote, "rev-parse", BRANCH))
    repo_args = ["--repo", str(release_repo.path), "--github-repo", "powerx/release-repo"]
    waiting = run_cli(cli, "remind", "--remote", "origin", *repo_args)
    assert waiting.code == 0
    assert waiting.out.startswith(f"waiting  hello@1.0.0 ({BRANCH})")
    assert "0/1 approval(s) for staging" in waiting.out
    plan_args = ["plan", "hello@1.0.0", "--env", "staging", "--pull-request", "1", *repo_args]
    assert "0/1 approval(s) for staging" in run_cli(cli, *plan_args).out
    github.review(1, "gina")
    done = run_cli(cli, "remind", "--remote", "origin", *repo_args)
    assert done.out == "no release request is waiting for approvals\n"
    assert "1/1 approval(s) for staging (gina)" in run_cli(cli, *plan_args).out
    # Without a forge only signed records count: the request still waits.
    local = run_cli(cli, "remind", "--remote", "origin", "--repo", str(release_repo.path))
    assert "0/1 approval(s) for staging" in local.out


def test_a_merged_promotion_pull_request_shows_in_the_audit_trail(
    run_cli: Any, remote: Path, release_repo: Repo
) -> None:
    promote(run_cli, release_repo, "--to", "test")
    promote(run_cli, release_repo, "--no-pr")
    release_repo.git("fetch", "-q", "origin")
    release_repo.git("merge", "-q", "--no-ff", "-m", "Merge pull request #1", f"origin/{BRANCH}")
    result = run_cli(cli, "audit", "--repo", str(release_repo.path), "--format", "json")
    entries = json.loads(result.out)
    newest = entries[0]
    assert (newest["action"], newest["environment"], newest["version"]) == (
        "promote",
        "staging",
        "1.0.0",
    )
    assert newest["manual"] is False
    assert newest["details"]["Merged-In"] == release_repo.git("rev-parse", "--short=7", "HEAD")
    assert all("Merge pull request" not in e["summary"] for e in entries)  # no "manual" row
