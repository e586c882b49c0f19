"""Promotion's fast paths: blob ids decide before parsing, and our own commits need no re-plan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pygit2
import pytest
from conftest import Repo, git
from factories import plugin_state, yaml_text
from test_approvals import NOW, key, teams_data
from test_promote import publish, run

from pipeline.gitrepo import Commit, GitRepo
from pipeline.models.environment import PluginState
from pipeline.policy.signed_approvals import ApproveRequest, record_approval
from pipeline.promotion.promote import PromoteRequest, plan_promotions, promote
from pipeline.snapshot import shared_cache

ORDER = ("test", "staging", "prod")
PLUGINS = ("p1", "p2", "p3")


@pytest.fixture
def repo(release_repo: Repo) -> Repo:
    """The promotion tests' repo: teams, and hello 1.0.0 released on main."""
    release_repo.git("checkout", "-q", "main")
    release_repo.commit({"policies/teams.yaml": yaml_text(teams_data())}, "teams")
    publish(release_repo, "1.0.0")
    return release_repo


class RecordingRepo(GitRepo):
    """A real GitRepo that notes every revision whose folders are read (where it decides)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self.decided_at: list[str] = []

    def tree(self, commit: Commit, path: str = "") -> pygit2.Tree | None:
        if str(commit.id) not in self.decided_at:
            self.decided_at.append(str(commit.id))
        return super().tree(commit, path)


def deploy(repo: Repo, plugin: str, envs: tuple[str, ...], version: str = "1.0.0") -> None:
    files = {
        f"environments/{env}/plugins/{plugin}.yaml": yaml_text(plugin_state(plugin, version))
        for env in envs
    }
    repo.commit(files, f"deploy {plugin} {version} to {', '.join(envs)}")


def parsed_states(git: GitRepo) -> list[str]:
    return sorted(path for _blob, path, model in shared_cache(git) if model is PluginState and path)


def test_nothing_to_promote_parses_no_state_file(repo: Repo) -> None:
    deploy(repo, "hello", ORDER)
    git = GitRepo(repo.path)
    plan = plan_promotions(git, git.resolve("main"), PromoteRequest(now=NOW))
    assert plan.ready == []
    assert plan.held == [
        ("hello", "every environment already runs what the one before it runs for hello")
    ]
    assert parsed_states(git) == []


def test_only_environments_that_differ_are_parsed(repo: Repo) -> None:
    deploy(repo, "hello", ("test", "staging"))
    git = GitRepo(repo.path)
    plan = plan_promotions(git, git.resolve("main"), PromoteRequest(now=NOW))
    assert plan.held == [("hello", "0/2 approval(s) for prod (nobody)")]
    assert parsed_states(git) == ["environments/staging/plugins/hello.yaml"]  # test: same blob
    # the same state file with a comment is another blob: it is read, and still the same version
    text = yaml_text(plugin_state("hello", "1.0.0")) + "# pinned by ada\n"
    repo.commit({"environments/prod/plugins/hello.yaml": text}, "prod runs 1.0.0 too")
    again = GitRepo(repo.path)
    plan = plan_promotions(again, again.resolve("main"), PromoteRequest(now=NOW))
    assert plan.held == [
        ("hello", "every environment already runs what the one before it runs for hello")
    ]
    assert parsed_states(again) == [
        "environments/prod/plugins/hello.yaml",
        "environments/staging/plugins/hello.yaml",
    ]


def ready_for_staging(repo: Repo) -> None:
    """PLUGINS released, running in test and approved for staging: each is ready to move."""
    for plugin in PLUGINS:
        publish(repo, "1.0.0", plugin=plugin)
        deploy(repo, plugin, ("test",))
        record_approval(
            GitRepo(repo.path),
            ApproveRequest(plugin, "1.0.0", "staging", "quinn", key("quinn")[0], NOW),
            branch="main",
        )


def test_a_run_of_promotions_decides_once(repo: Repo) -> None:
    ready_for_staging(repo)
    start = repo.git("rev-parse", "main").strip()
    git = RecordingRepo(repo.path)
    result = promote(git, PromoteRequest(now=NOW, operator="robot"), branch="main")
    assert [(p.plugin, p.target) for p, _ in result.landed] == [(p, "staging") for p in PLUGINS]
    subjects = repo.git("log", "--format=%s", f"{start}..main").splitlines()
    assert subjects == [f"Promote {p} 1.0.0 to staging" for p in reversed(PLUGINS)]
    assert git.decided_at == [start]  # never again at one of our own commits


def test_a_foreign_commit_is_decided_again(repo: Repo, tmp_path: Any) -> None:
    ready_for_staging(repo)
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    repo.git("remote", "add", "origin", str(bare))
    repo.git("push", "-q", "origin", "main")
    start = repo.git("rev-parse", "main").strip()
    other = Repo(tmp_path / "other")
    git(tmp_path, "clone", "-q", str(bare), str(other.path))
    runner = RecordingRepo(repo.path)
    real = runner.fetch
    foreign: list[str] = []

    def fetch_then_race(remote: str, branch: str) -> Any:
        tip = real(remote, branch)
        if tip is not None and tip.message.startswith("Promote p1") and not foreign:
            # another runner lands an unrelated commit after our first promotion
            other.git("pull", "-q")
            other.commit({"README.md": "busy\n"}, "someone else")
            other.git("push", "-q", "origin", "main")
            foreign.append(other.git("rev-parse", "HEAD").strip())
        return tip

    runner.fetch = fetch_then_race  # type: ignore[method-assign]
    result = promote(runner, PromoteRequest(now=NOW), branch="main", remote="origin")
    assert [p.plugin for p, _ in result.landed] == list(PLUGINS)
    log = git(tmp_path, "--git-dir", str(bare), "log", "--format=%H %s", f"{start}..main")
    subjects = [line.split(" ", 1)[1] for line in log.splitlines()]
    assert subjects == [
        "Promote p3 1.0.0 to staging",
        "Promote p2 1.0.0 to staging",
        "someone else",
        "Promote p1 1.0.0 to staging",
    ]
    # decided at the start, then again only at the foreign commit (p2 was re-planned there)
    assert runner.decided_at == [start, foreign[0]]


def test_a_rollback_holds_only_its_own_file(repo: Repo) -> None:
    from pipeline.promotion.rollback import RollbackRequest, rollback

    for plugin in ("hello", "other"):
        if plugin != "hello":
            publish(repo, "1.0.0", plugin=plugin)
        run(repo, plugin=plugin, version="1.0.0", to="test")
        publish(repo, "1.1.0", plugin=plugin)
        run(repo, plugin=plugin, version="1.1.0", to="test")
    # roll `other` back from 1.1.0 in test: hello@1.1.0 is not concerned
    rollback(GitRepo(repo.path), RollbackRequest("other", "test", "broken"), branch="main")
    deploy(repo, "hello", ("test",))  # hello back to 1.0.0 by hand, not by a rollback
    again = run(repo, plugin="hello", version="1.1.0", to="test")
    assert [p.version for p, _ in again.landed] == ["1.1.0"]
    held = run(repo, plugin="other", version="1.1.0", to="test")
    assert held.landed == []
    assert held.held[0][1].startswith("other@1.1.0 was rolled back from test (commit ")


def _as_written() -> str:
    from factories import digest_of

    return yaml_text(plugin_state()).replace(digest_of("hello", "1.0.0"), "{digest}")


STATE_FILES = {
    "as written": _as_written(),
    "quoted": _as_written().replace("version: 1.0.0", "version: '1.0.0'"),
    "double quoted digest": _as_written().replace("digest: {digest}", 'digest: "{digest}"'),
    "comment on the line": _as_written().replace("1.0.0", "1.0.0  # pinned"),
    "comment line": "# hello in this environment\n" + _as_written(),
    "own order": "digest: {digest}\nversion: 1.0.0\nplugin: hello\nkind: PluginState\n"
    "apiVersion: powerx.io/v1alpha1\n",
    "windows line ends": _as_written().replace("\n", "\r\n"),
    "flow style": "{apiVersion: powerx.io/v1alpha1, kind: PluginState, plugin: hello, "
    "version: 1.0.0, digest: {digest}}\n",
    "indented more": _as_written().replace("version: 1.0.0", "version:   1.0.0"),
}


@pytest.mark.parametrize("name", sorted(STATE_FILES))
def test_a_state_file_is_edited_as_a_round_trip_would(name: str) -> None:
    from factories import digest_of, release

    from pipeline.models.release import Release
    from pipeline.promotion.promote import Promotion
    from pipeline.promotion.shortcuts import edit_as_written
    from pipeline.yamlio import dump_yaml, parse_yaml

    text = STATE_FILES[name].replace("{digest}", digest_of("hello", "1.0.0"))
    path = "environments/prod/plugins/hello.yaml"
    promotion = Promotion(
        "hello",
        "1.1.0",
        "staging",
        "prod",
        "1.0.0",
        Release.model_validate(release("hello", "1.1.0")),
    )
    tree = parse_yaml(text.encode(), path).tree
    tree["version"], tree["digest"] = "1.1.0", digest_of("hello", "1.1.0")
    assert promotion.changes(text.encode()) == {path: dump_yaml(tree).encode()}
    fast = edit_as_written(parse_yaml(text.encode(), path), "1.1.0", digest_of("hello", "1.1.0"))
    taken = name in ("as written", "own order")
    assert (fast is not None) == taken
