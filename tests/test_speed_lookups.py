"""Fast lookups: a plugin found by name, and gate results reused for the same blobs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from conftest import Repo
from factories import plugin_state, yaml_text
from test_approvals import NOW, teams_data
from test_promote import FAILING, publish

from pipeline.gitrepo import GitRepo
from pipeline.names import plugin_names, require_plugin
from pipeline.policy.gates import ReleaseGates
from pipeline.snapshot import Snapshot, blob_results


@pytest.fixture
def repo(release_repo: Repo) -> Repo:
    release_repo.git("checkout", "-q", "main")
    release_repo.commit({"policies/teams.yaml": yaml_text(teams_data())}, "teams")
    publish(release_repo, "1.0.0")
    return release_repo


def test_require_plugin_finds_what_plugin_names_lists(repo: Repo) -> None:
    repo.commit(
        {
            "environments/test/plugins/deployed.yaml": yaml_text(plugin_state("deployed")),
            "environments/test/plugins/folder.yaml/x.yaml": "not a state file\n",
            "environments/test/plugins/notes.txt": "not a state file\n",
        },
        "odd files",
    )
    snapshot = Snapshot(GitRepo(repo.path), GitRepo(repo.path).resolve("main"))
    known = plugin_names(snapshot)
    assert known == {"hello", "deployed"}
    for name in ("hello", "deployed"):
        assert require_plugin(snapshot, name) == name
    for name in ("folder", "folder.yaml", "notes", "notes.txt", "plugins", "", ".", "hello/x"):
        with pytest.raises(Exception, match="there is no plugin"):
            require_plugin(snapshot, name)
    with pytest.raises(Exception, match="did you mean 'hello'"):
        require_plugin(snapshot, "helo")


def gate_results(git: GitRepo, rev: str) -> list[Any]:
    snapshot = Snapshot(git, git.resolve(rev))
    loaded = snapshot.release("hello", "1.0.0")
    assert loaded is not None
    gates = ReleaseGates(snapshot.policies(), snapshot, snapshot, loaded, now=NOW)
    return [(r.gate, r.status, r.found, r.message) for r in gates.evaluate()]


def test_gates_reuse_what_they_read_from_the_same_blobs(repo: Repo) -> None:
    git = GitRepo(repo.path)
    first = gate_results(git, "main")
    assert {status for _gate, status, _found, _message in first} == {"pass"}
    kept = dict(blob_results(git))
    assert sorted(key[0] for key in kept) == ["evidence", "evidence", "evidence", "signature"]
    repo.commit({"README.md": "unrelated\n"}, "an unrelated commit")
    assert gate_results(git, "main") == first
    assert blob_results(git) == kept  # nothing verified or parsed again
    # a new report is a new blob: read, and judged on its own
    folder = "releases/hello/1.0.0/evidence"
    repo.commit(
        {f"{folder}/coverage.json": (FAILING / "coverage.json").read_bytes()}, "worse coverage"
    )
    again = gate_results(git, "main")
    assert next(r for r in again if r[0] == "coverage")[1] == "fail"
    assert len(blob_results(git)) == len(kept) + 1


def test_the_same_bundle_under_another_clock_is_verified_again(repo: Repo) -> None:
    git = GitRepo(repo.path)
    snapshot = Snapshot(git, git.resolve("main"))
    loaded = snapshot.release("hello", "1.0.0")
    assert loaded is not None
    for when in (NOW, NOW, NOW + timedelta(seconds=1)):
        gates = ReleaseGates(snapshot.policies(), snapshot, snapshot, loaded, now=when)
        assert gates.signature().status == "pass"
        assert gates.signature("prod").status == "pass"
    signatures = sorted(
        (key[3] or "", key[4]) for key in blob_results(git) if key[0] == "signature"
    )
    assert signatures == [
        ("", NOW),
        ("", NOW + timedelta(seconds=1)),
        ("prod", NOW),
        ("prod", NOW + timedelta(seconds=1)),
    ]
