"""A blob that validated at one path is not parsed again at another, and keeps its own path."""

from __future__ import annotations

import pytest
from conftest import Repo
from factories import plugin_state, yaml_text

from pipeline.errors import InputError
from pipeline.gitrepo import GitRepo
from pipeline.models.environment import PluginState
from pipeline.snapshot import Snapshot, shared_cache

TEST = "environments/test/plugins/hello.yaml"
STAGING = "environments/staging/plugins/hello.yaml"


def test_the_same_blob_at_another_path_keeps_that_path(release_repo: Repo) -> None:
    text = yaml_text(plugin_state()) + "# pinned\n"
    release_repo.commit({TEST: text, STAGING: text})
    git = GitRepo(release_repo.path)
    snapshot = Snapshot(git, git.resolve("HEAD"))
    first, second = snapshot.load(TEST, PluginState), snapshot.load(STAGING, PluginState)
    assert first is not None and second is not None
    assert second.model is first.model  # validated once
    assert str(first.locate("version")) == f"{TEST}:4:1"
    assert str(second.locate("version")) == f"{STAGING}:4:1"
    assert second.doc.tree["version"] == "1.0.0"  # its own round-trip tree, when asked for
    paths = sorted(path for _blob, path, _model in shared_cache(git))
    assert paths.count("") == 1 and TEST in paths and STAGING in paths


def test_an_invalid_blob_fails_at_every_path_with_that_path(release_repo: Repo) -> None:
    text = yaml_text(plugin_state()).replace("version: 1.0.0", "version: one")
    release_repo.commit({TEST: text, STAGING: text})
    git = GitRepo(release_repo.path)
    snapshot = Snapshot(git, git.resolve("HEAD"))
    for path in (TEST, STAGING, TEST):
        with pytest.raises(InputError) as raised:
            snapshot.load(path, PluginState)
        assert raised.value.location is not None and raised.value.location.path == path
