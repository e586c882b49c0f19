"""Rollback reverts and the audit trail, on real repositories and a real bare remote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Repo, git
from factories import plugin_state, yaml_text

from pipeline.cli.powerx import cli
from pipeline.errors import InputError
from pipeline.gitrepo import GitRepo, read_trailers
from pipeline.promotion.rollback import RollbackRequest, rollback

STATE = "environments/test/plugins/hello.yaml"


@pytest.fixture
def history(release_repo: Repo) -> Repo:
    """hello 1.0.0 -> 1.1.0 -> 1.2.0 in test, with other plugins changing in between."""
    release_repo.git("checkout", "-q", "main")
    release_repo.commit({STATE: yaml_text(plugin_state("hello", "1.0.0"))}, "test: hello 1.0.0")
    release_repo.commit(
        {"environments/test/plugins/other.yaml": yaml_text(plugin_state("other", "2.0.0"))},
        "test: other 2.0.0",
    )
    release_repo.commit({STATE: yaml_text(plugin_state("hello", "1.1.0"))}, "test: hello 1.1.0")
    release_repo.commit({STATE: yaml_text(plugin_state("hello", "1.2.0"))}, "test: hello 1.2.0")
    release_repo.commit(
        {"environments/test/plugins/other.yaml": yaml_text(plugin_state("other", "2.1.0"))},
        "test: other 2.1.0",
    )
    return release_repo


def version_at(repo: Repo, rev: str = "HEAD") -> str:
    return str(yaml_version(repo.git("show", f"{rev}:{STATE}")))


def yaml_version(text: str) -> str:
    return next(
        line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("version:")
    )


def test_rollback_reverts_only_that_plugin(history: Repo) -> None:
    gitrepo = GitRepo(history.path)
    introduced = history.git("log", "--format=%H", "-1", "--grep", "hello 1.2.0")
    result = rollback(
        gitrepo,
        RollbackRequest("hello", "test", "error rate up", operator="ada"),
        branch="main",
        when=1_800_000_000,
    )
    assert (result.plan.from_version, result.plan.to_version) == ("1.2.0", "1.1.0")
    assert result.plan.reverts == introduced
    assert version_at(history) == "1.1.0"
    assert history.git("diff", "--name-only", "HEAD~1", "HEAD") == STATE
    assert yaml_version(history.git("show", "HEAD:environments/test/plugins/other.yaml")) == "2.1.0"
    trailers = read_trailers(history.git("log", "-1", "--format=%B"))
    assert trailers == {
        "Action": "rollback",
        "Plugin": "hello",
        "Version": "1.1.0",
        "Environment": "test",
        "Operator": "ada",
        "Reverts": introduced,
        "Rolled-Back-From": "1.2.0",
        "Reason": "error rate up",
    }
    assert history.git("status", "--porcelain") == ""
    # Rolling back again goes further back, never to a version rolled back from.
    second = rollback(gitrepo, RollbackRequest("hello", "test", "still bad"), branch="main")
    assert (second.plan.from_version, second.plan.to_version) == ("1.1.0", "1.0.0")
    with pytest.raises(InputError, match="has no earlier version to roll back to"):
        rollback(gitrepo, RollbackRequest("hello", "test", "again"), branch="main")


def test_rollback_to_a_named_version_and_refusals(history: Repo) -> None:
    gitrepo = GitRepo(history.path)
    result = rollback(
        gitrepo, RollbackRequest("hello", "test", "pin", to_version="1.0.0"), branch="main"
    )
    assert result.plan.to_version == "1.0.0" and version_at(history) == "1.0.0"
    head = history.head()
    with pytest.raises(InputError, match=r"has no version 9\.9\.9 to roll back to"):
        rollback(gitrepo, RollbackRequest("hello", "test", "x", to_version="9.9.9"), branch="main")
    with pytest.raises(InputError, match="not deployed in prod: nothing to roll back"):
        rollback(gitrepo, RollbackRequest("hello", "prod", "x"), branch="main")
    with pytest.raises(InputError, match="needs a reason"):
        rollback(gitrepo, RollbackRequest("hello", "test", "  "), branch="main")
    assert history.head() == head


def test_rollback_pushes_past_a_concurrent_change(history: Repo, tmp_path: Path) -> None:
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    history.git("remote", "add", "origin", str(bare))
    history.git("push", "-q", "origin", "main")
    other = Repo(tmp_path / "other")
    git(tmp_path, "clone", "-q", str(bare), str(other.path))
    other.commit(
        {"environments/test/plugins/third.yaml": yaml_text(plugin_state("third", "1.0.0"))}, "third"
    )
    other.git("push", "-q", "origin", "main")
    result = rollback(
        GitRepo(history.path),
        RollbackRequest("hello", "test", "canary failed"),
        branch="main",
        remote="origin",
    )
    log = git(tmp_path, "--git-dir", str(bare), "log", "--format=%s", "main").splitlines()
    assert log[:2] == ["Roll back hello in test: 1.2.0 -> 1.1.0", "third"]
    assert git(tmp_path, "--git-dir", str(bare), "rev-parse", "main") == result.commit


def test_cli_rollback_and_audit(run_cli: Any, history: Repo) -> None:
    rolled = run_cli(
        cli,
        "rollback",
        "hello",
        "--env",
        "test",
        "--reason",
        "p95 latency",
        "--repo",
        str(history.path),
        "--operator",
        "ada",
    )
    assert rolled.code == 0, rolled.err
    assert rolled.out.startswith("rolled back hello in test: 1.2.0 -> 1.1.0 (commit ")
    missing = run_cli(
        cli, "rollback", "hello", "--env", "prod", "--reason", "x", "--repo", str(history.path)
    )
    assert missing.code == 2 and "nothing to roll back" in missing.err
    table = run_cli(cli, "audit", "--repo", str(history.path), "--plugin", "hello")
    lines = table.out.splitlines()
    assert lines[0].split() == [
        "time",
        "commit",
        "action",
        "plugin",
        "version",
        "env",
        "who",
        "summary",
    ]
    assert "rollback" in lines[1] and "ada" in lines[1] and "1.1.0" in lines[1]
    # a commit made by hand: plugin, version and environment read from what it changed
    assert lines[2].split()[3:8] == ["manual", "(by", "hand)", "hello", "1.2.0"]
    data = json.loads(
        run_cli(cli, "audit", "--repo", str(history.path), "--format", "json", "--env", "test").out
    )
    actions = [entry["action"] for entry in data]
    assert actions[0] == "rollback" and "manual" in actions
    assert data[0]["details"]["Reason"] == "p95 latency"
    assert all(entry["environment"] == "test" for entry in data)
    init = json.loads(run_cli(cli, "audit", "--repo", str(history.path), "--format", "json").out)[
        -1
    ]
    assert init["action"] == "init" and init["manual"] is False
    none = run_cli(cli, "audit", "--repo", str(history.path), "--since", "2999-01-01")
    assert none.out == "no entries\n"
