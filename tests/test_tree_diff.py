"""The changed-paths diff (`GitRepo.changed_paths`, `pipeline.gitrepo.treediff`) against
git's own answer (`git diff-tree -r --no-renames`), on wide folders where only the window
of bytes that differs is parsed: additions, deletions, renames, mode and type changes,
nested folders, a file becoming a folder, names that look like tree entries."""

from __future__ import annotations

import itertools
import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Repo

from pipeline.gitrepo import Commit, GitRepo
from pipeline.gitrepo.treediff import (
    BLOB,
    BLOB_EXECUTABLE,
    CACHED_SIZE,
    COMMIT,
    LINK,
    TREE,
    TreeCache,
    TreeFormatError,
    changed_entries,
    common_prefix,
    common_suffix,
    normalise_mode,
    parse,
)

STATUS = {"A": "added", "D": "deleted", "M": "modified", "T": "typechange"}
WIDE = 300
"""Files in the wide folder: its tree is well over `CACHED_SIZE` bytes."""


def git_says(repo: Repo, base: str, head: str) -> list[tuple[str, str]]:
    """(path, status) of every changed file, as git's own tree diff reports them."""
    out = repo.git("diff-tree", "-r", "--no-renames", "--name-status", "-z", base, head)
    fields = out.strip("\0").split("\0") if out.strip("\0") else []
    pairs = zip(fields[::2], fields[1::2], strict=True)
    return sorted((path, STATUS[status]) for status, path in pairs)


def we_say(git: GitRepo, base: str, head: str) -> list[tuple[str, str]]:
    changes = git.changed_paths(git.resolve(base), git.resolve(head))
    return [(change.path, change.status) for change in changes]


def wide(files: dict[str, str | bytes | None], version: int) -> None:
    """`WIDE` files in wide/ (name-sorted like plugins), their contents at `version`."""
    for index in range(WIDE):
        files[f"wide/plugin-{index:05d}/release.yaml"] = f"v{version}-{index}\n"


@pytest.fixture
def history(repo: Repo) -> list[str]:
    """Commits that change a wide folder in every way a tree can change."""
    first: dict[str, str | bytes | None] = {"top.txt": "top\n", "wide/0-first": "a\n"}
    wide(first, 1)
    commits = [repo.commit(first, "many files")]

    def change(files: dict[str, str | bytes | None], message: str) -> None:
        commits.append(repo.commit(files, message))

    change({"wide/plugin-00000/release.yaml": "first changed\n"}, "the first entry")
    change({"wide/plugin-00150/release.yaml": "middle changed\n"}, "a middle entry")
    change({f"wide/plugin-{WIDE - 1:05d}/release.yaml": "last\n"}, "the last entry")
    change({"wide/plugin-00100/1.1.0/release.yaml": "new version\n"}, "a nested addition")
    change({"wide/plugin-00200/release.yaml": None}, "a deletion (and its folder)")
    change({"wide/zzz-after-all": "z\n", "wide/0-before-all": "0\n"}, "both ends")
    change(
        {"wide/plugin-00010/release.yaml": "10\n", "wide/plugin-00290/release.yaml": "290\n"},
        "far apart in one commit",
    )
    renamed = repo.path / "wide" / "plugin-00050"
    renamed.rename(repo.path / "wide" / "plugin-00050-renamed")
    change({}, "a rename")
    os.chmod(repo.path / "wide" / "plugin-00060" / "release.yaml", 0o755)
    change({}, "a mode change")
    link = repo.path / "wide" / "plugin-00070" / "release.yaml"
    link.unlink()
    link.symlink_to("../plugin-00071/release.yaml")
    change({}, "a file becomes a link")
    shutil.rmtree(repo.path / "wide" / "plugin-00080")
    change({"wide/plugin-00080": "now a file\n"}, "a folder becomes a file")
    change({"wide/plugin-00080": None, "wide/plugin-00080/x/y/z.yaml": "deep\n"}, "and back")
    change({"wide/plugin 100644 x": "a name that looks like an entry\n"}, "odd name")
    change({"wide/plugin-00090/a b\tc.yaml": "spaces\n", "wide/0-first": None}, "x")
    change({"top.txt": "changed\n", "other/new.txt": "n\n"}, "outside the wide folder")
    change({}, "nothing")
    everything: dict[str, str | bytes | None] = {}
    wide(everything, 2)
    change(everything, "every file at once")
    return commits


def test_each_commit_as_git_says(repo: Repo, history: list[str]) -> None:
    git = GitRepo(repo.path)
    for base, head in itertools.pairwise(history):  # oldest first: the cache is used
        assert we_say(git, base, head) == git_says(repo, base, head), repo.git(
            "log", "-1", "--format=%s", head
        )


def test_each_commit_walking_back_as_git_says(repo: Repo, history: list[str]) -> None:
    """Newest first (the audit trail read without its index): the kept tree is the new one."""
    git = GitRepo(repo.path)
    for base, head in reversed(list(itertools.pairwise(history))):
        assert we_say(git, base, head) == git_says(repo, base, head)


def test_any_two_commits_as_git_says(repo: Repo, history: list[str]) -> None:
    """Far apart, backwards, the same commit: with and without the trees kept."""
    for base, head in itertools.product(history[::3], history[1::4]):
        fresh = GitRepo(repo.path)  # nothing kept
        assert we_say(fresh, base, head) == git_says(repo, base, head)
        assert we_say(fresh, base, head) == git_says(repo, base, head)  # kept now
        assert we_say(fresh, head, base) == git_says(repo, head, base)


def test_renames_are_a_deletion_and_an_addition(repo: Repo, history: list[str]) -> None:
    git = GitRepo(repo.path)
    rename = next(c for c in history if git.resolve(c).message.strip() == "a rename")
    changes = git.changed_paths(git.resolve(rename).parents[0], git.resolve(rename))
    assert [(c.path, c.status, c.old_path) for c in changes] == [
        ("wide/plugin-00050-renamed/release.yaml", "added", None),
        ("wide/plugin-00050/release.yaml", "deleted", None),
    ]


def test_root_commit_and_unrelated_trees(repo: Repo) -> None:
    one = repo.commit({"a/b": "1\n"})
    repo.git("checkout", "-q", "--orphan", "other")
    repo.git("rm", "-r", "-q", "-f", "--", ".")
    two = repo.commit({"c": "2\n", "a/d": "3\n"})
    git = GitRepo(repo.path)
    assert we_say(git, one, two) == git_says(repo, one, two)
    assert we_say(git, one, two) == [("a/b", "deleted"), ("a/d", "added"), ("c", "added")]


def kept_tree(git: GitRepo, commit: Commit, folder: str) -> tuple[bytes, bytes]:
    tree = git.tree(commit, folder)
    assert tree is not None
    return tree.id.raw, git.repo.odb.read(tree.id)[1]


def test_the_other_tree_is_kept_with_its_offsets(repo: Repo, history: list[str]) -> None:
    """What `changed_entries` works out for the tree it did not have is what parsing that
    tree gives, whichever of the two was kept."""
    git = GitRepo(repo.path)
    for base, head in itertools.pairwise(history):
        old_id, old_raw = kept_tree(git, git.resolve(base), "wide")
        new_id, new_raw = kept_tree(git, git.resolve(head), "wide")
        assert len(new_raw) >= CACHED_SIZE
        forward, backward = TreeCache(read_from(git)), TreeCache(read_from(git))
        forward.parsed(old_id)
        forward.diff(old_id, new_id)
        backward.parsed(new_id)
        backward.diff(old_id, new_id)
        kept_new, kept_old = forward.get(new_id), backward.get(old_id)
        assert kept_new is not None and kept_new.offsets == parse(new_raw).offsets
        assert kept_old is not None and kept_old.offsets == parse(old_raw).offsets


def read_from(git: GitRepo) -> Callable[[bytes], bytes]:
    return lambda oid: git.repo.odb.read(oid.hex())[1]


def test_the_cache_is_bounded() -> None:
    def read(oid: bytes) -> bytes:  # a wide tree whose entries all point at `oid`
        names = (f"file-{number:05d}".encode() for number in range(CACHED_SIZE // 20))
        return b"".join(b"100644 " + name + b"\0" + oid for name in names)

    oids = [bytes([number]) * 20 for number in range(9)]
    cache = TreeCache(read, size=4)
    for oid in oids:
        cache.parsed(oid)
    assert [oid for oid in oids if cache.get(oid) is not None] == oids[-4:]
    small = b"\1" * 20
    cache.keep(small, parse(b"100644 f\0" + small))
    assert cache.get(small) is None  # a small tree is parsed again, not kept


def test_parse_refuses_what_is_not_a_tree() -> None:
    assert parse(b"").offsets == [0]
    entry = b"100644 name\0" + b"\1" * 20
    assert parse(entry * 2).offsets == [0, len(entry), 2 * len(entry)]
    for broken in (b"garbage", entry + b"x", entry[:-1], b"100644 \0" + b"\1" * 20):
        with pytest.raises(TreeFormatError, match="not a git tree"):
            parse(broken)


def test_modes_are_normalised_as_libgit2_reports_them() -> None:
    assert normalise_mode(0o40000) == TREE
    assert normalise_mode(0o100644) == BLOB
    assert normalise_mode(0o100664) == BLOB
    assert normalise_mode(0o100755) == BLOB_EXECUTABLE
    assert normalise_mode(0o100775) == BLOB_EXECUTABLE
    assert normalise_mode(0o120000) == LINK
    assert normalise_mode(0o160000) == COMMIT


@pytest.mark.parametrize(
    ("a", "b", "prefix", "suffix"),
    [
        (b"", b"", 0, 0),
        (b"abc", b"abc", 3, 0),
        (b"abcdef", b"abXdef", 2, 3),
        (b"abc", b"abcd", 3, 0),
        (b"xabc", b"abc", 0, 3),
        (b"same" * 1000 + b"1" + b"tail" * 999, b"same" * 1000 + b"2" + b"tail" * 999, 4000, 3996),
    ],
)
def test_common_prefix_and_suffix(a: bytes, b: bytes, prefix: int, suffix: int) -> None:
    assert common_prefix(a, b) == prefix
    assert common_suffix(a, b, min(len(a), len(b)) - prefix) == suffix


def test_a_corrupt_object_is_not_read_as_a_tree(repo: Repo, tmp_path: Path) -> None:
    first = repo.commit({"a": "1\n"})
    git = GitRepo(repo.path)
    blob = git.repo.create_blob(b"not a tree")
    with pytest.raises(TreeFormatError, match="is not a tree"):
        git._read_tree(blob.raw)
    assert we_say(git, first, first) == []


def encode(entries: dict[str, tuple[int, bytes]]) -> bytes:
    """A raw tree of (mode, raw id) by name, in name order."""
    return b"".join(
        f"{mode:o} {name}".encode() + b"\0" + oid for name, (mode, oid) in sorted(entries.items())
    )


def test_changed_entries_finds_exactly_what_differs() -> None:
    """Random trees whose names and ids share bytes (the common prefix and suffix end in
    the middle of entries), changed in random ways: the window holds every difference,
    and the new tree's offsets are those of parsing it."""
    chance = random.Random(13)
    oids = [bytes([chance.choice(b"ab\0 1")]) * 19 + bytes([n]) for n in range(4)]
    for _ in range(400):
        names = {"".join(chance.choices("ab1 ", k=chance.randint(1, 4))) for _ in range(12)}
        old = {name: (chance.choice([BLOB, TREE, LINK]), chance.choice(oids)) for name in names}
        new = dict(old)
        for _change in range(chance.randint(0, 3)):
            name = "".join(chance.choices("ab1 ", k=chance.randint(1, 4)))
            if name in new and chance.random() < 0.4:
                del new[name]
            else:
                new[name] = (chance.choice([BLOB, BLOB_EXECUTABLE]), chance.choice(oids))
        before, after, parsed = changed_entries(parse(encode(old)), encode(new))
        differ = {name for name in old.keys() | new.keys() if old.get(name) != new.get(name)}
        found = {n for n in before.keys() | after.keys() if before.get(n) != after.get(n)}
        assert found == differ, (old, new)
        assert all(old[name] == entry for name, entry in before.items())
        assert all(new[name] == entry for name, entry in after.items())
        assert parsed.offsets == parse(encode(new)).offsets


def test_a_broken_new_tree_is_refused() -> None:
    old = {"a": (BLOB, b"\1" * 20), "b": (BLOB, b"\2" * 20)}
    with pytest.raises(TreeFormatError, match="cannot read an entry at byte"):
        changed_entries(parse(encode(old)), encode(old)[:-25] + b"x" * 25)


def test_a_name_holding_an_entry_does_not_fool_the_window() -> None:
    """The bytes shared at the end start inside the old tree's entry "q100644 b": the
    new tree's entry "b" there is not the old tree's."""
    x, y = b"\1" * 20, b"\2" * 20
    old = {"a": (BLOB, b"\3" * 20), "q100644 b": (BLOB, y)}
    new = {"a": (BLOB, x), "b": (BLOB, y)}
    before, after, parsed = changed_entries(parse(encode(old)), encode(new))
    assert before == old and after == new
    assert parsed.offsets == parse(encode(new)).offsets
