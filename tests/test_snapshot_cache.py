"""Snapshots of one repo share their parsed files across revisions, keyed by blob id."""

from __future__ import annotations

import pytest
from conftest import Repo
from factories import plugin_state, yaml_text

from pipeline import snapshot
from pipeline.errors import InputError
from pipeline.gitrepo import GitRepo
from pipeline.models.environment import PluginState
from pipeline.snapshot import Snapshot

STATE = "environments/test/plugins/hello.yaml"
OTHER = "environments/test/plugins/other.yaml"


def test_a_file_unchanged_between_revisions_is_parsed_once(release_repo: Repo) -> None:
    release_repo.commit({STATE: yaml_text(plugin_state()), OTHER: yaml_text(plugin_state("other"))})
    first = release_repo.head()
    release_repo.commit({STATE: yaml_text(plugin_state(version="1.1.0"))})
    git = GitRepo(release_repo.path)
    old, new = Snapshot(git, git.resolve(first)), Snapshot(git, git.resolve("HEAD"))
    assert old.load(OTHER, PluginState) is new.load(OTHER, PluginState)
    old_state, new_state = old.plugin_state("test", "hello"), new.plugin_state("test", "hello")
    assert old_state is not None and new_state is not None
    assert (old_state.model.version, new_state.model.version) == ("1.0.0", "1.1.0")
    assert old.policies() == new.policies()
    assert old.load_policy("policies/gates.yaml") is new.load_policy("policies/gates.yaml")
    # another GitRepo of the same folder starts with its own cache
    again = Snapshot(GitRepo(release_repo.path), git.resolve("HEAD"))
    assert again.load(OTHER, PluginState) is not new.load(OTHER, PluginState)
    assert again.load(OTHER, PluginState).model == new.load(OTHER, PluginState).model  # type: ignore[union-attr]


def test_a_changed_policy_is_read_again_and_errors_are_not_cached(release_repo: Repo) -> None:
    git = GitRepo(release_repo.path)
    before = Snapshot(git, git.resolve("HEAD"))
    assert before.policies().gates.coverage.minimum == 90
    text = (release_repo.path / "policies/gates.yaml").read_text()
    release_repo.commit({"policies/gates.yaml": text.replace("minimum: 90", "minimum: 80")})
    after = Snapshot(git, git.resolve("HEAD"))
    assert after.policies().gates.coverage.minimum == 80
    assert before.policies().gates.coverage.minimum == 90
    release_repo.commit({"policies/odd.yaml": "apiVersion: powerx.io/v1alpha1\nkind: Nope\n"})
    broken = Snapshot(git, git.resolve("HEAD"))
    for _ in range(2):
        with pytest.raises(InputError, match="unknown policy kind 'Nope'"):
            broken.policies()
    with pytest.raises(InputError, match="policy file not found"):
        broken.load_policy("policies/missing.yaml")


def test_a_full_cache_starts_afresh(release_repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshot, "SHARED_CACHE_LIMIT", 2)
    git = GitRepo(release_repo.path)
    view = Snapshot(git, git.resolve("HEAD"))
    first = view.load_policy("policies/gates.yaml")
    view.policies()  # more files than the limit
    later = Snapshot(git, git.resolve("HEAD"))  # finds the cache full
    again = later.load_policy("policies/gates.yaml")
    assert again is not first and again.model == first.model
    assert later.load_policy("policies/gates.yaml") is again
