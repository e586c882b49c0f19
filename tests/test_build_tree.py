"""`GitRepo.commit` builds trees in memory: folders left empty disappear, as in git."""

from __future__ import annotations

from conftest import Repo

from pipeline.gitrepo import GitRepo


def test_folders_left_empty_disappear(repo: Repo) -> None:
    repo.commit({"a/b/c.txt": "c\n", "a/d.txt": "d\n", "e.txt": "e\n"})
    git = GitRepo(repo.path)
    git.commit("main", {"a/b/c.txt": None}, "drop c")
    assert repo.git("ls-tree", "-r", "--name-only", "main").splitlines() == ["a/d.txt", "e.txt"]
    git.commit("main", {"a/d.txt": None, "x/y/z.txt": b"z\n"}, "drop d, add z")
    assert repo.git("ls-tree", "-r", "--name-only", "main").splitlines() == ["e.txt", "x/y/z.txt"]
    git.commit("main", {"e.txt": None, "x/y/z.txt": None}, "drop everything")
    assert repo.git("ls-tree", "main") == ""
    assert repo.git("rev-parse", "main^{tree}") == "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
    git.commit("main", {"gone/never.txt": None}, "delete what is not there")
    assert repo.git("ls-tree", "main") == ""
    assert repo.git("fsck", "--strict") == ""
