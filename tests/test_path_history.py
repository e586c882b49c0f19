"""`GitRepo.path_history` against `git log --first-parent`, on real repositories.

The history of a file is found from the commits that changed its folder, and folder walks
are shared between files and between tips; these tests hold it to what git itself says.
"""

from __future__ import annotations

import pytest
from conftest import Repo, git

from pipeline.gitrepo import GitRepo, history


def git_history(repo: Repo, start: str, path: str) -> list[str]:
    """The commits git lists as changing `path` along first parents, newest first."""
    out = repo.git("log", "--first-parent", "--format=%H", start, "--", path)
    return out.splitlines()


def ours(gitrepo_: GitRepo, start: str, path: str) -> list[str]:
    return [
        str(change.commit.id) for change in gitrepo_.path_history(gitrepo_.resolve(start), path)
    ]


PATHS = ["env/a.yaml", "env/b.yaml", "env/sub/c.yaml", "top.txt", "gone/x.txt"]


def build_history(repo: Repo) -> None:
    """Files that change, vanish with their folder and come back, next to busy neighbours."""
    repo.commit({"env/a.yaml": "a1\n", "top.txt": "t1\n"}, "first")
    repo.commit({"env/b.yaml": "b1\n"}, "b arrives")
    repo.commit({"env/sub/c.yaml": "c1\n", "other/o.txt": "o\n"}, "c and a neighbour")
    repo.commit({"gone/x.txt": "x1\n"}, "x arrives")
    repo.commit({"other/o.txt": "o2\n"}, "nothing of ours")
    repo.commit({"env/a.yaml": "a2\n", "top.txt": "t2\n"}, "a and top change")
    repo.commit({"gone/x.txt": None}, "x goes, with its folder")
    repo.commit({"env/b.yaml": "b2\n"}, "b changes")
    repo.commit({"env/a.yaml": None}, "a goes")
    repo.commit({"gone/x.txt": "x2\n", "env/a.yaml": "a3\n"}, "both come back")
    repo.git("checkout", "-q", "-b", "side")
    repo.commit({"env/b.yaml": "b-side\n"}, "side change")
    repo.git("checkout", "-q", "main")
    repo.commit({"env/sub/c.yaml": "c2\n"}, "c changes")
    repo.git("merge", "-q", "--no-ff", "-m", "merge side", "side")


@pytest.fixture
def history_repo(repo: Repo) -> Repo:
    repo.git("checkout", "-q", "-B", "main")
    build_history(repo)
    return repo


def test_every_path_matches_git_log(history_repo: Repo) -> None:
    opened = GitRepo(history_repo.path)
    for start in ("HEAD", "HEAD~1", "HEAD~4", "side"):
        for path in PATHS:
            assert ours(opened, start, path) == git_history(history_repo, start, path), (
                start,
                path,
            )
    assert ours(opened, "HEAD", "nowhere/n.txt") == []


def test_changes_carry_the_blobs_before_and_after(history_repo: Repo) -> None:
    opened = GitRepo(history_repo.path)
    changes = list(opened.path_history(opened.resolve("HEAD"), "gone/x.txt"))
    contents = [
        (
            opened.blob(c.before).decode() if c.before else None,
            opened.blob(c.after).decode() if c.after else None,
        )
        for c in changes
    ]
    assert contents == [(None, "x2\n"), ("x1\n", None), (None, "x1\n")]


def test_walks_are_shared_between_files_and_continue_from_new_tips(history_repo: Repo) -> None:
    opened = GitRepo(history_repo.path)
    first = opened.path_history(opened.resolve("HEAD"), "env/a.yaml")
    assert next(first).commit.message.startswith("both come back")  # a walk left half-read
    assert ours(opened, "HEAD", "env/b.yaml") == git_history(history_repo, "HEAD", "env/b.yaml")
    assert [str(c.commit.id) for c in first] == git_history(history_repo, "HEAD", "env/a.yaml")[1:]
    # new commits on top of a tip that was walked: the new walk hands over to the old one
    history_repo.commit({"env/a.yaml": "a4\n"}, "a again")
    history_repo.commit({"env/b.yaml": "b3\n"}, "b again")
    for path in PATHS:
        assert ours(opened, "HEAD", path) == git_history(history_repo, "HEAD", path), path


def test_a_full_cache_is_forgotten_and_rebuilt(
    history_repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history, "FOLDER_WALK_LIMIT", 2)
    opened = GitRepo(history_repo.path)
    for start in ("HEAD", "HEAD~1", "HEAD~2", "HEAD"):
        for path in PATHS:
            assert ours(opened, start, path) == git_history(history_repo, start, path)
    assert len(opened._walks) <= 2


def test_a_root_commit_that_adds_the_file(repo: Repo) -> None:
    first = repo.commit({"a.txt": "1\n"}, "root")
    opened = GitRepo(repo.path)
    assert ours(opened, "HEAD", "a.txt") == [first] == git_history(repo, "HEAD", "a.txt")
    assert git(repo.path, "rev-list", "--count", "HEAD") == "1"
