"""The release origin index (`pipeline.gitrepo.added`) against the history walk it replaces.

Real repos driven with the git CLI: releases added, changed, removed and re-added, whole
plugin folders removed, a release merged from a branch (first parents: the merge adds it),
many plugins (so the raw tree comparison sees inserts, changes and removals among
neighbours), a reset and a rewritten history, a corrupted, a foreign and a forged index
file. Every answer is compared with `walk_origin` (the `path_history` walk), from every
commit of the mainline and from a branch.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import Repo
from test_web_matrix import estate

from pipeline import layout, stampfile
from pipeline.gitrepo import GitRepo, added
from pipeline.gitrepo.added import AddedFiles
from pipeline.policy.release_approvals import (
    ORIGINS_FILE,
    release_origins,
    request_origin,
    walk_origin,
)
from pipeline.web.app import Console
from pipeline.web.release import release_data
from pipeline.web.views import Params, Source

__all__ = ["estate"]  # the fixture, imported

PLUGINS = [f"plug-{index:02d}" for index in range(0, 40, 3)]
VERSIONS = ["1.0.0", "1.1.0", "2.0.0"]


def manifest(plugin: str, version: str, note: str = "") -> dict[str, str | None]:
    folder = layout.release_dir(plugin, version)
    return {f"{folder}/release.yaml": f"{plugin} {version} {note}\n", f"{folder}/notes.md": "n\n"}


def build_history(repo: Repo) -> None:
    """Plugins arriving among neighbours, changes, removals, re-adds and a merged branch."""
    repo.commit({"README.md": "r\n", **manifest("plug-00", "1.0.0")}, "root adds a release")
    for plugin in PLUGINS[1:]:
        repo.commit(manifest(plugin, "1.0.0"), f"{plugin} arrives")
    repo.commit({**manifest("plug-03", "1.1.0"), **manifest("plug-06", "1.1.0")}, "two at once")
    repo.commit(manifest("plug-03", "1.0.0", "edited"), "a manifest changes")
    repo.commit({"releases/plug-03/1.0.0/release.yaml": None}, "a manifest goes")
    repo.commit({"releases/plug-03/1.0.0/notes.md": "n2\n"}, "its folder stays")
    repo.commit(manifest("plug-03", "1.0.0", "again"), "and comes back")
    repo.commit(
        {"releases/plug-09/1.0.0/release.yaml": None, "releases/plug-09/1.0.0/notes.md": None}
    )
    repo.commit({"releases/plug-01b/1.0.0/release.yaml": "between neighbours\n"}, "inserted")
    repo.commit(manifest("plug-09", "1.0.0", "back"), "plug-09 is back")
    repo.git("checkout", "-q", "-b", "pull-request")
    repo.commit(manifest("plug-12", "2.0.0"), "on the branch")
    repo.commit(manifest("plug-15", "2.0.0"), "on the branch too")
    repo.git("checkout", "-q", "main")
    repo.commit(manifest("plug-18", "1.1.0"), "meanwhile on main")
    repo.git("merge", "-q", "--no-ff", "-m", "Merge pull request #1", "pull-request")
    repo.commit(
        {"releases/README.md": "not a plugin\n", "releases/Odd.Name/1.0.0/release.yaml": "x\n"}
    )
    repo.commit(manifest("plug-21", "1.1.0"), "last")


def paths() -> list[str]:
    names = [*PLUGINS, "plug-01b", "missing"]
    return [layout.release_path(p, v) for p in names for v in VERSIONS]


def mainline(git: GitRepo, rev: str) -> list[str]:
    return [commit.id for commit in git.first_parent_walk(git.resolve(rev))]


def index_of(repo: Repo, *, store: bool = True) -> AddedFiles:
    git = GitRepo(repo.path)
    where = Path(git.repo.path) / ORIGINS_FILE if store else None
    return AddedFiles(git, layout.RELEASES, layout.RELEASE_FILE, where)


def assert_same(repo: Repo, index: AddedFiles, tips: list[str]) -> int:
    """The index answers what the walk answers, for every path and tip; how many adds."""
    git = GitRepo(repo.path)
    added = 0
    for tip_id in tips:
        tip = git.resolve(tip_id)
        for path in paths():
            key = index.key(path)
            assert key is not None
            found = index.added(tip, key)
            walked = walk_origin(git, tip, path)
            assert (found or tip).id == walked.id, (path, tip_id)
            added += found is not None
    return added


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("history") / "repo"
    path.mkdir()
    repo = Repo(path)
    repo.git("init", "-q", "-b", "main")
    build_history(repo)
    return path


@pytest.fixture
def history(built: Path, tmp_path: Path) -> Repo:
    """A copy of the built history (each test may commit, reset and write its index)."""
    shutil.copytree(built, tmp_path / "repo")
    return Repo(tmp_path / "repo")


def test_same_answers_as_the_walk_from_every_commit_newest_first(history: Repo) -> None:
    index = index_of(history)
    tips = mainline(GitRepo(history.path), "main")
    assert assert_same(history, index, tips) > 20


def test_same_answers_asked_oldest_first_and_from_a_branch(history: Repo) -> None:
    index = index_of(history, store=False)
    tips = mainline(GitRepo(history.path), "main")[::-1]
    assert_same(history, index, tips)
    assert_same(history, index, mainline(GitRepo(history.path), "pull-request"))
    assert_same(history, index, ["main"])


def test_a_merge_adds_what_its_branch_added(history: Repo) -> None:
    git = GitRepo(history.path)
    tip = git.resolve("main")
    key = ("plug-12", "2.0.0")
    found = index_of(history).added(tip, key)
    assert found is not None and len(found.parent_ids) == 2
    assert found.message.startswith("Merge pull request #1")
    on_branch = index_of(history).added(git.resolve("pull-request"), key)
    assert on_branch is not None and on_branch.message.startswith("on the branch")


def test_request_origin_is_the_walk_for_a_release_and_walks_other_paths(history: Repo) -> None:
    git = GitRepo(history.path)
    tip = git.resolve("main")
    path = layout.release_path("plug-03", "1.0.0")
    author, when, origin = request_origin(git, tip, path)
    assert origin.message.startswith("and comes back")
    assert (author, origin) == (origin.author.name, walk_origin(git, tip, path))
    assert when.timestamp() == origin.commit_time
    odd = "releases/Odd.Name/1.0.0/release.yaml"
    assert release_origins(git).key(odd) is None
    assert request_origin(git, tip, odd)[2] == walk_origin(git, tip, odd)
    assert release_origins(git) is release_origins(git)


def test_keys_cover_release_manifests_only(history: Repo) -> None:
    index = index_of(history, store=False)
    assert index.key("releases/plug-00/1.0.0/release.yaml") == ("plug-00", "1.0.0")
    for path in [
        "releases/plug-00/1.0.0/notes.md",
        "releases/plug-00/release.yaml",
        "environments/plug-00/1.0.0/release.yaml",
        "releases/Plug/1.0.0/release.yaml",
        "releases/plug-00/../release.yaml",
        "releases/plug-00//release.yaml",
    ]:
        assert index.key(path) is None, path


def test_a_new_commit_on_top_is_read_alone_and_saved_later(history: Repo) -> None:
    index = index_of(history)
    assert_same(history, index, ["main"])
    history.commit(manifest("plug-24", "2.0.0"), "a new release")
    assert_same(history, index, ["main"])
    again = index_of(history)  # a restart reads the stored index
    assert_same(history, again, ["main", "HEAD~3"])


def test_a_reset_and_a_rewritten_history_cut_the_index(history: Repo) -> None:
    index = index_of(history)
    index.read_all(GitRepo(history.path).resolve("main"))
    assert_same(history, index, ["main"])
    history.git("reset", "-q", "--hard", "HEAD~6")  # a force-push: other commits on top
    history.commit(manifest("plug-27", "1.0.0", "rewritten"), "rewritten 1")
    history.commit(manifest("plug-18", "1.1.0", "rewritten"), "rewritten 2")
    tips = mainline(GitRepo(history.path), "main")
    assert_same(history, index, tips)
    assert_same(history, index_of(history), tips)  # what was saved is the new line
    history.git("checkout", "-q", "--orphan", "unrelated")
    history.commit(manifest("plug-00", "1.0.0", "new root"), "an unrelated root")
    assert_same(history, index, ["unrelated"])


def test_a_reset_below_the_read_part_reads_the_new_commits_when_asked(history: Repo) -> None:
    repo = history
    index = index_of(repo)
    assert_same(repo, index, ["main"])  # reads only down to what it is asked
    repo.git("reset", "-q", "--hard", "HEAD~12")
    repo.commit(manifest("plug-30", "1.0.0"), "on an old commit")
    assert_same(repo, index, mainline(GitRepo(repo.path), "main"))


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[:-10],  # cut short: the checksum differs
        lambda raw: raw.replace(b'"version": 1', b'"version": 99'),  # another version
        lambda raw: b"not an index",
        lambda raw: b"",
    ],
)
def test_a_damaged_index_file_is_ignored_and_rebuilt(history: Repo, damage: object) -> None:
    index = index_of(history)
    index.read_all(GitRepo(history.path).resolve("main"))
    assert index.store is not None
    index.store.write_bytes(damage(index.store.read_bytes()))  # type: ignore[operator]
    rebuilt = index_of(history)
    assert_same(history, rebuilt, ["main"])
    rebuilt.read_all(GitRepo(history.path).resolve("main"))
    assert stampfile.decode(index.store.read_bytes(), rebuilt._stamp)


def forge(index: AddedFiles, change: object) -> None:
    """Rewrite the stored body with `change` applied, under a valid checksum."""
    assert index.store is not None
    body = json.loads(stampfile.decode(index.store.read_bytes(), index._stamp))
    change(body)  # type: ignore[operator]
    stampfile.write(index.store, index._stamp, json.dumps(body).encode())


@pytest.mark.parametrize(
    "change",
    [
        lambda body: body.update(
            adds=[a if i % 3 != 2 else "0" for i, a in enumerate(body["adds"])]
        ),
        lambda body: body.update(
            adds=[a if i % 3 != 2 else "x" for i, a in enumerate(body["adds"])]
        ),
        lambda body: body.update(
            adds=[a if i % 3 != 2 else "9,3" for i, a in enumerate(body["adds"])]
        ),
        lambda body: body.update(adds=[a if i % 3 != 2 else 7 for i, a in enumerate(body["adds"])]),
        lambda body: body.update(adds=body["adds"][:-1]),
        lambda body: body.update(adds=body["adds"][:3] * 2),
        lambda body: body.update(ids=body["ids"][:-1]),
        lambda body: body.update(ids=body["ids"][:40] * (len(body["ids"]) // 40)),
        lambda body: body.update(read_from=-1),
        lambda body: body.update(read_from="0"),
        lambda body: body.pop("ids"),
    ],
)
def test_a_forged_index_is_not_trusted(history: Repo, change: object) -> None:
    index = index_of(history)
    index.read_all(GitRepo(history.path).resolve("main"))
    forge(index, change)
    git = GitRepo(history.path)
    assert_same(history, index_of(history), mainline(git, "main")[:3])


def test_an_unwritable_store_keeps_the_index_in_memory(history: Repo, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be\n")
    git = GitRepo(history.path)
    index = AddedFiles(git, layout.RELEASES, layout.RELEASE_FILE, blocker / "index")
    assert_same(history, index, ["main"])
    index.read_all(git.resolve("main"))
    assert not (blocker / "index").exists()


def test_read_all_in_background(history: Repo) -> None:
    index = index_of(history)
    git = GitRepo(history.path)
    index.read_all_in_background(git.resolve("main"))
    index.read_all_in_background(git.resolve("main"))  # one reader at a time
    assert index.wait(timeout=60)
    assert index.store is not None and index.store.exists()
    assert_same(history, index, ["main"])


def test_many_neighbours_in_one_wide_folder(repo: Repo) -> None:
    """Enough plugins that the compared byte ranges are a small part of the tree."""
    names = [f"p{index:03d}" for index in range(300)]
    repo.commit({f"releases/{n}/1.0.0/release.yaml": f"{n}\n" for n in names}, "many")
    steps: list[dict[str, str | None]] = [
        {"releases/p150/2.0.0/release.yaml": "new\n"},
        {"releases/p000/2.0.0/release.yaml": "first\n", "releases/p299/2.0.0/release.yaml": "l\n"},
        {"releases/p150a/1.0.0/release.yaml": "inserted\n"},
        {"releases/p150/1.0.0/release.yaml": None},
        {"releases/p150/1.0.0/release.yaml": "back\n", "releases/p151/1.0.0/release.yaml": "c\n"},
        {"releases/p200/3.0.0/release.yaml": "x\n", "releases/p201/1.0.0/release.yaml": None},
    ]
    for step in steps:
        repo.commit(step)
    git = GitRepo(repo.path)
    index = index_of(repo)
    for tip_id in mainline(git, "main"):
        tip = git.resolve(tip_id)
        for name in ["p000", "p150", "p150a", "p151", "p200", "p201", "p299"]:
            for version in ["1.0.0", "2.0.0", "3.0.0"]:
                path = layout.release_path(name, version)
                key = index.key(path)
                assert key is not None
                assert (index.added(tip, key) or tip) == walk_origin(git, tip, path)


def test_commits_gone_above_the_tip_are_cut_from_the_index(
    history: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reset, then the commits above the new tip are collected: the stored index still
    names them, above what it read; reading down from there cuts them off."""
    monkeypatch.setattr(added, "SAVE_AFTER", 1)  # save after the first question
    index = index_of(history)
    index.added(GitRepo(history.path).resolve("main"), ("plug-21", "1.1.0"))  # the top only
    history.git("reset", "-q", "--hard", "HEAD~4")
    history.git("reflog", "expire", "--expire=now", "--all")
    history.git("gc", "-q", "--prune=now")
    fresh = index_of(history)
    assert_same(history, fresh, mainline(GitRepo(history.path), "main"))
    with pytest.raises(KeyError):
        GitRepo(history.path).repo[fresh_top(index)]


def fresh_top(index: AddedFiles) -> str:
    """The top of what `index` read before the reset (collected since)."""
    return index._ids[-1]


def test_the_console_reads_the_history_into_the_index_in_the_background(
    estate: Repo,
) -> None:
    console = Console(estate.path)  # a server starts reading the history at once
    git = console.git
    assert release_origins(git).wait(timeout=60)
    assert (Path(git.repo.path) / ORIGINS_FILE).exists()
    params = Params({"plugin": "hello", "version": "1.0.0"})
    data = release_data(Source(git, git.resolve("HEAD")), params)
    staging = next(row for row in data["approvals"] if row["environment"] == "staging")
    assert staging["required"] == 1 and not staging["satisfied"]
    assert release_origins(git).wait(timeout=0)  # all read: the page started no reader


@pytest.mark.parametrize("decoy", ["releases/p0010 40000 p001", "releases/p001 40000 p001"])
def test_an_entry_whose_name_holds_a_folder_header_neither_hides_nor_forges(
    repo: Repo, decoy: str
) -> None:
    """A file named like `... 40000 p001` carries the bytes of a folder header inside its
    own entry, after or before the real p001 folder: its changes still count, its decoy not."""
    names = [f"p{index:03d}" for index in range(40)]
    repo.commit({f"releases/{n}/1.0.0/release.yaml": f"{n}\n" for n in names}, "many")
    repo.commit({decoy: "a file, not a folder\n"}, "the decoy")
    repo.commit({"releases/p001/2.0.0/release.yaml": "new\n"}, "p001 2.0.0")
    repo.commit({decoy: "changed\n"}, "the decoy changes")
    git = GitRepo(repo.path)
    index = index_of(repo)
    for tip_id in mainline(git, "main"):
        tip = git.resolve(tip_id)
        for version in ["1.0.0", "2.0.0"]:
            path = layout.release_path("p001", version)
            key = index.key(path)
            assert key is not None
            assert (index.added(tip, key) or tip) == walk_origin(git, tip, path), (decoy, tip_id)
