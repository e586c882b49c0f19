"""`px-admin env create|list`, and how admin changes land: pushed like the runner pushes, or
proposed as a pull request."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from admin_support import Site, json_of
from conftest import RunCli, git
from githubstub import TOKEN, GitHubStub, serve_github

from pipeline.cli.admin import cli
from pipeline.cli.powerx import cli as powerx


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path)


def test_env_create_inserts_into_the_order_and_shifts_later_positions(
    run_cli: RunCli, site: Site
) -> None:
    before = site.repo.head()
    result = site.admin(
        run_cli, "env", "create", "preprod", "--after", "staging", "--from-template", "prod"
    )
    assert result.code == 0, result.err
    assert "promotion order: test -> staging -> preprod -> prod" in result.out
    assert "prod moves to position 3" in result.out
    assert site.repo.git("rev-parse", "main~1") == before
    order = site.read("policies/promotion.yaml")
    assert "  - staging\n  - preprod\n  - prod\n" in order
    assert "# The order releases move through environments" in order  # comments kept
    prod = site.read("environments/prod/environment.yaml")
    assert "position: 3   # index in policies/promotion.yaml" in prod
    created = site.read("environments/preprod/environment.yaml")
    assert "position: 2" in created and "  - id: globex" in created
    assert "canary: [globex]" in created and "grants" not in created
    trailers = site.trailers()
    assert trailers["Action"] == "env-create" and trailers["Environment"] == "preprod,prod"
    # powerx check (its own policies, every file) finds the order and the files agreeing
    report = json.loads(
        run_cli(powerx, "check", "--all", "--repo", str(site.repo.path), "--format", "json").out
    )
    order_results = [r for r in report["results"] if r["gate"] == "order"]
    assert order_results and all(r["status"] == "pass" for r in order_results)
    listed = json_of(run_cli(cli, "env", "list", "--repo", str(site.repo.path), "--format", "json"))
    names = [(row["name"], row["position"]) for row in listed["environments"]]
    assert names == [("test", 0), ("staging", 1), ("preprod", 2), ("prod", 3)]
    text = run_cli(cli, "env", "list", "--repo", str(site.repo.path))
    assert "preprod" in text.out and "canary" in text.out


def test_env_create_writes_the_seed_order_when_the_repo_has_none(
    run_cli: RunCli, site: Site
) -> None:
    site.repo.commit({"policies/promotion.yaml": None}, "the seed order")
    result = site.admin(run_cli, "env", "create", "qa", "--after", "test")
    assert result.code == 0, result.err
    assert "  - test\n  - qa\n  - staging\n  - prod" in site.read("policies/promotion.yaml")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["qa", "--after", "qa"], "cannot come after itself (a cycle"),
        (["qa", "--after", "stagin"], "did you mean 'staging'?"),
        (["prod", "--after", "test"], "environment 'prod' already exists"),
        (["qa", "--after", "test", "--from-template", "prd"], "did you mean 'prod'?"),
        (["QA", "--after", "test"], "environment name 'QA'"),
    ],
)
def test_bad_environments_are_exit_2(
    run_cli: RunCli, site: Site, argv: list[str], message: str
) -> None:
    before = site.repo.head()
    result = site.admin(run_cli, "env", "create", *argv)
    assert result.code == 2, result.out + result.err
    assert message in result.err and site.repo.head() == before


def test_only_an_admin_of_every_shifted_environment_creates_one(
    run_cli: RunCli, site: Site
) -> None:
    result = site.admin(run_cli, "env", "create", "qa", "--after", "test", operator="tom")
    assert result.code == 1 and "tom may not change" in result.err


def test_a_change_is_pushed_like_the_runner_pushes(run_cli: RunCli, site: Site) -> None:
    bare = site.bare_remote()
    site.repo.commit({"README.md": "local only\n"}, "not pushed")  # the remote's tip is edited
    result = site.admin(run_cli, "tenant", "add", "initech", "--env", "prod", "--push")
    assert result.code == 0, result.err
    landed = git(bare, "show", "main:environments/prod/environment.yaml")
    assert "  - id: initech" in landed and "# the first customer" in landed
    message = git(bare, "log", "-1", "--format=%B", "main")
    assert "PowerX-Action: tenant-add" in message and "PowerX-Operator: ada" in message


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubStub]:
    with serve_github(GitHubStub(login="ada")) as stub:
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("GITHUB_API_URL", stub.url)
        yield stub


def test_propose_opens_a_pull_request_and_leaves_main(
    run_cli: RunCli, site: Site, github: Any
) -> None:
    bare = site.bare_remote()
    main = git(bare, "rev-parse", "main")
    argv = ["group", "assign", "canary", "acme", "--env", "prod", "--push", "--propose"]
    result = site.admin(run_cli, *argv, "--github-repo", "powerx/release-repo", "--format", "json")
    data = json_of(result)
    assert git(bare, "rev-parse", "main") == main
    branch = data["branch"]
    assert branch.startswith("admin/group-assign/prod-") and data["note"] == "pull request opened"
    pull = github.pulls[1]
    assert (pull["head"]["ref"], pull["base"]["ref"]) == (branch, "main")
    assert pull["title"] == "Assign acme to group canary of prod"
    assert "canary: [globex, acme]" in git(
        bare, "show", f"{branch}:environments/prod/environment.yaml"
    )
    again = site.admin(run_cli, *argv, "--github-repo", "powerx/release-repo")
    assert again.code == 0 and "pull request already open" in again.out
    assert len(github.pulls) == 1


def test_propose_without_a_remote_commits_the_branch_locally(run_cli: RunCli, site: Site) -> None:
    main = site.repo.head()
    result = site.admin(run_cli, "tenant", "add", "initech", "--env", "prod", "--propose")
    assert result.code == 0, result.err
    assert "committed locally" in result.out and site.repo.head() == main
    branches = site.repo.git("branch", "--list", "admin/*")
    assert "admin/tenant-add/prod-" in branches
    pushed = site.bare_remote()
    result = site.admin(run_cli, "tenant", "add", "hooli", "--env", "prod", "--push", "--propose")
    assert result.code == 0 and "pushed; open a pull request" in result.out
    assert "admin/tenant-add/prod-" in git(pushed, "branch", "--list")


def test_a_missing_branch_or_remote_is_exit_2(run_cli: RunCli, site: Site) -> None:
    result = site.admin(run_cli, "tenant", "add", "x", "--env", "prod", "--branch", "nope")
    assert result.code == 2 and "no branch 'nope'" in result.err
    site.bare_remote()
    pushed = site.admin(run_cli, "tenant", "add", "x", "--env", "prod", "--branch", "dev", "--push")
    assert pushed.code == 2 and "origin/dev does not exist" in pushed.err
