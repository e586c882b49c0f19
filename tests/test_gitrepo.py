"""The git layer against real repositories, real bare remotes and real concurrent processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import Repo, git

from pipeline.errors import InputError
from pipeline.gitrepo import (
    Commit,
    GitRepo,
    PushConflictError,
    PushRejectedError,
    Trailers,
    compose_message,
    read_trailers,
)


def test_reads_files_at_any_revision_without_checkout(repo: Repo) -> None:
    first = repo.commit({"a/b.txt": "one\n"})
    repo.commit({"a/b.txt": "two\n", "c.txt": "c\n"})
    gitrepo = GitRepo(repo.path)
    assert gitrepo.read(gitrepo.resolve(first), "a/b.txt", max_bytes=100) == b"one\n"
    assert gitrepo.read(gitrepo.resolve("HEAD"), "a/b.txt", max_bytes=100) == b"two\n"
    assert gitrepo.read(gitrepo.resolve("HEAD~1"), "c.txt", max_bytes=100) is None
    assert gitrepo.read(gitrepo.resolve("HEAD"), "a", max_bytes=100) is None
    assert gitrepo.list_dir(gitrepo.resolve("HEAD"), "") == [("a", True), ("c.txt", False)]
    assert gitrepo.list_dir(gitrepo.resolve("HEAD"), "nope") == []
    with pytest.raises(InputError, match="over the limit of 2"):
        gitrepo.read(gitrepo.resolve("HEAD"), "a/b.txt", max_bytes=2)


def test_unknown_revision_and_non_repo(repo: Repo, tmp_path: Path) -> None:
    repo.commit({"a": "1"})
    with pytest.raises(InputError, match="revision 'nope' does not exist") as caught:
        GitRepo(repo.path).resolve("nope")
    assert caught.value.hint
    with pytest.raises(InputError, match="not a git repository"):
        GitRepo(tmp_path / "elsewhere")


def test_symlinks_are_followed_inside_and_refused_outside(repo: Repo) -> None:
    (repo.path / "real").mkdir()
    (repo.path / "real" / "data.txt").write_text("data")
    (repo.path / "inside.txt").symlink_to("real/data.txt")
    (repo.path / "real" / "up.txt").symlink_to("../inside.txt")
    (repo.path / "escape.txt").symlink_to("../../etc/passwd")
    (repo.path / "absolute.txt").symlink_to("/etc/passwd")
    (repo.path / "loop.txt").symlink_to("loop.txt")
    repo.commit({})
    gitrepo = GitRepo(repo.path)
    head = gitrepo.resolve("HEAD")
    assert gitrepo.read(head, "inside.txt", max_bytes=100) == b"data"
    assert gitrepo.read(head, "real/up.txt", max_bytes=100) == b"data"
    with pytest.raises(InputError, match="points outside the repository"):
        gitrepo.read(head, "escape.txt", max_bytes=100)
    with pytest.raises(InputError, match="points outside the repository"):
        gitrepo.read(head, "absolute.txt", max_bytes=100)
    with pytest.raises(InputError, match="too many symbolic links"):
        gitrepo.read(head, "loop.txt", max_bytes=100)
    with pytest.raises(InputError, match="escapes the repository"):
        gitrepo.read(head, "../x", max_bytes=100)


def test_changed_paths_between_revisions(repo: Repo) -> None:
    base = repo.commit({"keep": "k", "edit": "1", "gone": "g"})
    head = repo.commit({"edit": "2", "gone": None, "new/file": "n"})
    gitrepo = GitRepo(repo.path)
    changes = {
        c.path: c.status
        for c in gitrepo.changed_paths(gitrepo.resolve(base), gitrepo.resolve(head))
    }
    assert changes == {"edit": "modified", "gone": "deleted", "new/file": "added"}
    (repo.path / "keep").unlink()
    (repo.path / "keep").symlink_to("new/file")
    (repo.path / "edit").unlink()
    later = repo.commit({"edit/inner": "now a folder", "new/file": "n2"})
    after = gitrepo.changed_paths(gitrepo.resolve(head), gitrepo.resolve(later))
    assert [(c.path, c.status) for c in after] == [
        ("edit", "deleted"),
        ("edit/inner", "added"),
        ("keep", "typechange"),
        ("new/file", "modified"),
    ]


def test_merge_base_and_default_branch(repo: Repo) -> None:
    fork = repo.commit({"a": "1"})
    repo.git("checkout", "-q", "-b", "feature")
    feature = repo.commit({"b": "2"})
    repo.git("checkout", "-q", "main")
    repo.commit({"c": "3"})
    gitrepo = GitRepo(repo.path)
    assert gitrepo.default_branch() == "refs/heads/main"
    base = gitrepo.merge_base(gitrepo.resolve("main"), gitrepo.resolve(feature))
    assert str(base.id) == fork
    assert gitrepo.default_branch("feature") == "refs/heads/feature"
    repo.git("checkout", "-q", "--orphan", "lonely")
    lonely = repo.commit({"z": "z"})
    with pytest.raises(InputError, match="share no history"):
        gitrepo.merge_base(gitrepo.resolve("main"), gitrepo.resolve(lonely))


def test_trailers_round_trip() -> None:
    trailers = Trailers(
        action="promote",
        plugin="hello",
        version="1.0.0",
        environment="prod",
        operator="ada",
        ci_run="https://ci/run/1",
        extra={"Reason": "go live"},
    )
    message = compose_message("Promote hello 1.0.0 to prod", "staging -> prod", trailers)
    assert message.splitlines()[0] == "Promote hello 1.0.0 to prod"
    assert read_trailers(message) == {
        "Action": "promote",
        "Plugin": "hello",
        "Version": "1.0.0",
        "Environment": "prod",
        "Operator": "ada",
        "CI-Run": "https://ci/run/1",
        "Reason": "go live",
    }
    assert read_trailers("plain message") == {}


def test_commit_writes_one_commit_and_updates_the_checkout(repo: Repo) -> None:
    repo.commit({"keep/a.txt": "a", "drop/b.txt": "b", "edit.txt": "old"})
    gitrepo = GitRepo(repo.path)
    message = compose_message("Change files", "", Trailers(action="test", plugin="p"))
    commit = gitrepo.commit(
        "main",
        {"edit.txt": b"new", "drop/b.txt": None, "added/deep/c.txt": b"c"},
        message,
        when=1_700_000_000,
    )
    assert repo.head() == str(commit.id)
    assert commit.commit_time == 1_700_000_000
    assert repo.git("show", "-s", "--format=%(trailers:key=PowerX-Plugin,valueonly)", "HEAD") == "p"
    assert repo.git("ls-tree", "-r", "--name-only", "HEAD").split() == [
        "added/deep/c.txt",
        "edit.txt",
        "keep/a.txt",
    ]
    assert (repo.path / "edit.txt").read_text() == "new"
    assert not (repo.path / "drop").exists()
    assert repo.git("status", "--porcelain") == ""


def test_commit_refuses_to_overwrite_local_edits(repo: Repo) -> None:
    repo.commit({"edit.txt": "old"})
    (repo.path / "edit.txt").write_text("my local edit")
    gitrepo = GitRepo(repo.path)
    before = repo.head()
    with pytest.raises(InputError, match="uncommitted changes"):
        gitrepo.commit("main", {"edit.txt": b"new"}, "msg\n")
    assert repo.head() == before
    assert (repo.path / "edit.txt").read_text() == "my local edit"


def test_commit_on_other_branch_leaves_checkout_alone(repo: Repo) -> None:
    repo.commit({"a.txt": "a"})
    gitrepo = GitRepo(repo.path)
    gitrepo.commit("release/x", {"b.txt": b"b"}, "msg\n", parent=gitrepo.resolve("main"))
    assert not (repo.path / "b.txt").exists()
    assert repo.git("show", "release/x:b.txt") == "b"


def make_remote(tmp_path: Path, repo: Repo) -> Path:
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    repo.git("remote", "add", "origin", str(bare))
    repo.git("push", "-q", "origin", "main")
    return bare


def test_push_and_rebase_on_a_moved_remote(repo: Repo, tmp_path: Path) -> None:
    repo.commit({"a.txt": "a"})
    bare = make_remote(tmp_path, repo)
    other = Repo(tmp_path / "other")
    git(tmp_path, "clone", "-q", str(bare), str(other.path))
    other.commit({"theirs.txt": "t"})
    other.git("push", "-q", "origin", "main")

    gitrepo = GitRepo(repo.path)
    tips: list[str | None] = []

    def change(tip: Commit | None) -> tuple[dict[str, bytes | None], str]:
        tips.append(str(tip.id) if tip else None)
        return {"ours.txt": b"o"}, "add ours\n"

    landed = gitrepo.commit_and_push("origin", "main", change, sleep=lambda _: None)
    remote_files = git(tmp_path, "--git-dir", str(bare), "ls-tree", "--name-only", "main").split()
    assert remote_files == ["a.txt", "ours.txt", "theirs.txt"]
    assert tips == [other.head()]
    assert git(tmp_path, "--git-dir", str(bare), "rev-parse", "main") == str(landed.id)
    assert repo.head() == str(landed.id)
    assert (repo.path / "theirs.txt").read_text() == "t"
    assert str(landed.parents[0].id) == other.head()


def test_push_gives_up_after_the_last_attempt(repo: Repo, tmp_path: Path) -> None:
    repo.commit({"a.txt": "a"})
    bare = make_remote(tmp_path, repo)
    other = Repo(tmp_path / "other")
    git(tmp_path, "clone", "-q", str(bare), str(other.path))
    gitrepo = GitRepo(repo.path)
    attempts: list[Commit | None] = []

    def change(tip: Commit | None) -> tuple[dict[str, bytes | None], str]:
        # Someone else lands a commit between our fetch and our push, every time.
        other.git("pull", "-q", "--rebase")
        other.commit({f"theirs{len(attempts)}.txt": "t"})
        other.git("push", "-q", "origin", "main")
        attempts.append(tip)
        return {"ours.txt": b"o"}, "add ours\n"

    with pytest.raises(PushRejectedError, match="moved on 3 times"):
        gitrepo.commit_and_push("origin", "main", change, attempts=3, sleep=lambda _: None)
    assert len(attempts) == 3
    assert "ours.txt" not in git(tmp_path, "--git-dir", str(bare), "ls-tree", "--name-only", "main")
    assert "refs/powerx/pending/main" not in gitrepo.repo.references


def test_a_real_conflict_on_the_same_file_escalates_after_three_rounds(
    repo: Repo, tmp_path: Path
) -> None:
    repo.commit({"env/hello.yaml": "version: 1"})
    bare = make_remote(tmp_path, repo)
    other = Repo(tmp_path / "other")
    git(tmp_path, "clone", "-q", str(bare), str(other.path))
    gitrepo = GitRepo(repo.path)
    rounds: list[Commit | None] = []

    def change(tip: Commit | None) -> tuple[dict[str, bytes | None], str]:
        # Another runner changes the very file we change, between our fetch and our push.
        other.git("pull", "-q", "--rebase")
        other.commit({"env/hello.yaml": f"version: {len(rounds) + 2}"})
        other.git("push", "-q", "origin", "main")
        rounds.append(tip)
        return {"env/hello.yaml": b"version: 9"}, "ours\n"

    with pytest.raises(PushConflictError, match=r"in 3 rounds, others changed the same") as e:
        gitrepo.commit_and_push("origin", "main", change, sleep=lambda _: None)
    assert len(rounds) == 3  # not the 12 rounds a busy branch gets
    assert "env/hello.yaml" in str(e.value) and e.value.exit_code == 1
    assert git(tmp_path, "--git-dir", str(bare), "show", "main:env/hello.yaml") == "version: 4"
    assert "refs/powerx/pending/main" not in gitrepo.repo.references


RUNNER = textwrap.dedent(
    """
    import sys
    from pipeline.gitrepo import GitRepo
    repo, name = sys.argv[1], sys.argv[2]
    git = GitRepo(repo)
    git.commit_and_push(
        "origin", "main", lambda tip: ({f"runners/{name}.txt": name.encode()}, f"runner {name}\\n"),
        attempts=30,
    )
    """
)


def test_concurrent_processes_all_land_exactly_once(repo: Repo, tmp_path: Path) -> None:
    repo.commit({"a.txt": "a"})
    bare = make_remote(tmp_path, repo)
    clones = []
    for index in range(6):
        clone = tmp_path / f"runner{index}"
        git(tmp_path, "clone", "-q", str(bare), str(clone))
        clones.append(clone)
    env = {**os.environ, "HOME": str(tmp_path), "GIT_AUTHOR_NAME": "r", "GIT_AUTHOR_EMAIL": "r@x"}
    processes = [
        subprocess.Popen([sys.executable, "-c", RUNNER, str(clone), f"r{index}"], env=env)
        for index, clone in enumerate(clones)
    ]
    assert [p.wait(timeout=120) for p in processes] == [0] * len(processes)
    files = git(tmp_path, "--git-dir", str(bare), "ls-tree", "-r", "--name-only", "main").split()
    assert sorted(f for f in files if f.startswith("runners/")) == [
        f"runners/r{i}.txt" for i in range(6)
    ]
    subjects = git(tmp_path, "--git-dir", str(bare), "log", "--format=%s", "main").splitlines()
    assert sorted(s for s in subjects if s.startswith("runner")) == [
        f"runner r{i}" for i in range(6)
    ]


def test_push_creates_a_branch_on_an_empty_remote_with_complete_objects(
    repo: Repo, tmp_path: Path
) -> None:
    repo.commit({"a/b/c.txt": "deep", "top.txt": "t"})
    repo.commit({"a/b/d.txt": "more"})
    bare = tmp_path / "empty.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    repo.git("remote", "add", "origin", str(bare))
    gitrepo = GitRepo(repo.path)
    landed = gitrepo.commit_and_push(
        "origin", "release/x", lambda tip: ({"new.txt": b"n"}, "first\n"), sleep=lambda _: None
    )
    assert landed.parents == []
    git(tmp_path, "--git-dir", str(bare), "fsck", "--strict")
    assert git(tmp_path, "--git-dir", str(bare), "show", "release/x:new.txt") == "n"
    # A second runner that believes the branch is absent must not overwrite it.
    other = gitrepo.commit("refs/heads/scratch", {"other.txt": b"o"}, "other\n")
    assert gitrepo.push("origin", other, "release/x", expected=None) is False
    # Pushing history the remote lacks copies every object it needs.
    assert gitrepo.push("origin", gitrepo.resolve("main"), "main", expected=None) is True
    git(tmp_path, "--git-dir", str(bare), "fsck", "--strict")
    assert git(tmp_path, "--git-dir", str(bare), "show", "main~1:a/b/c.txt") == "deep"
