"""The audit index: the same entries as reading the commits, kept and extended by commit id.

Real repos driven with the git CLI: runner commits (trailers), hand edits, a merged pull
request, a reset and a rewritten history; the persisted index read back, corrupted and
rebuilt; threads asking at once; and `powerx serve` answering from it over HTTP.
"""

from __future__ import annotations

import hashlib
import json
import threading
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import Repo
from factories import plugin_state, yaml_text
from hostplugins import ServerProcess
from test_web_console import promote
from waiting import wait_until

from pipeline.gitrepo import Commit, GitRepo
from pipeline.promotion.audit import AuditEntry, AuditQuery, audit_trail
from pipeline.promotion.audit_index import INDEX_FILE, AuditIndex, decode, encode

QUERIES = [
    AuditQuery(),
    AuditQuery(plugin="hello"),
    AuditQuery(plugin="other", environment="test"),
    AuditQuery(operator="ada"),
    AuditQuery(operator="nobody"),
    AuditQuery(action="promote"),
    AuditQuery(action="manual"),
    AuditQuery(since=datetime(2026, 2, 1, tzinfo=UTC)),
    AuditQuery(until=datetime(2026, 3, 1, tzinfo=UTC)),
    AuditQuery(since=datetime(2026, 2, 1, tzinfo=UTC), until=datetime(2026, 3, 11, tzinfo=UTC)),
]


@pytest.fixture
def trail(release_repo: Repo, monkeypatch: pytest.MonkeyPatch) -> Repo:
    """Promotions by ada and bob, a hand edit, and a merged pull request with a promotion."""
    repo = release_repo
    repo.git("checkout", "-q", "main")
    for plugin, version, operator, day in [
        ("hello", "1.0.0", "ada", "2026-01-10"),
        ("other", "2.0.0", "bob", "2026-02-10"),
        ("hello", "1.1.0", "ada", "2026-03-10"),
    ]:
        promote(repo, plugin, version, operator, day, monkeypatch)
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2026-03-20T12:00:00+00:00")
    repo.commit({"environments/test/plugins/other.yaml": yaml_text(plugin_state("other", "2.0.1"))})
    repo.git("checkout", "-q", "-b", "pull-request")
    promote(repo, "hello", "1.2.0", "carol", "2026-03-21", monkeypatch)
    repo.git("checkout", "-q", "main")
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2026-03-22T12:00:00+00:00")
    repo.git("merge", "-q", "--no-ff", "-m", "Merge pull request #7", "pull-request")
    return repo


def walked(git: GitRepo, start: Commit, query: AuditQuery) -> list[AuditEntry]:
    """The trail read from the commits (the reference every answer must equal)."""
    return list(audit_trail(git, start, query))


def assert_same_as_walk(index: AuditIndex, git: GitRepo, start: Commit) -> None:
    for query in QUERIES:
        assert list(index.trail(start, query)) == walked(git, start, query), query


def test_the_index_answers_exactly_what_the_walk_does(trail: Repo) -> None:
    git = GitRepo(trail.path)
    head = git.resolve("main")
    index = AuditIndex(git)
    assert_same_as_walk(index, git, head)
    merged = walked(git, head, AuditQuery(operator="carol"))
    assert [e.details["Merged-In"] for e in merged] == [head.short_id]  # the side commit's entry
    assert index.entry(head, merged[0].commit) == merged[0]
    assert index.entry(head, head.id) is None  # a merge has no entry of its own
    assert index.entry(head, "0" * 40) is None
    older = git.resolve("main~2")  # a head that moved back is answered from what is indexed
    mainline = index.find(head)
    assert mainline is not None and index.find(older) == (mainline[0], mainline[1] - 2)
    assert_same_as_walk(index, git, older)
    with pytest.raises(Exception, match="nope"):
        list(index.trail(head, AuditQuery(plugin="nope")))


def test_new_commits_are_read_and_the_indexed_ones_reused(
    trail: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    git = GitRepo(trail.path)
    index = AuditIndex(git)
    before = index.find(git.resolve("main"))
    assert before is not None
    promote(trail, "other", "2.1.0", "dave", "2026-04-01", monkeypatch)
    head = git.resolve("main")
    after = index.find(head)
    assert after is not None and after[1] == before[1] + 1
    old, new = before[0], after[0]
    assert new.ids[: len(old.ids)] == old.ids
    assert all(a is b for a, b in zip(new.entries, old.entries, strict=False))  # not read again
    assert [e.operator for e in index.trail(head, AuditQuery(operator="dave"))] == ["dave"]
    assert_same_as_walk(index, git, head)


def test_a_rewritten_history_is_cut_where_it_forked(
    trail: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    git = GitRepo(trail.path)
    index = AuditIndex(git)
    dropped = git.resolve("main")
    assert index.find(dropped) is not None
    trail.git("reset", "-q", "--hard", "main~2")  # a force-push: two commits gone
    promote(trail, "other", "3.0.0", "erin", "2026-03-25", monkeypatch)
    head = git.resolve("main")
    found = index.find(head)
    assert found is not None
    mainline, top = found
    assert dropped.id not in mainline.position and top == len(mainline.ids) - 1
    assert_same_as_walk(index, git, head)
    assert list(index.trail(head, AuditQuery(operator="carol"))) == []


def test_an_unrelated_history_is_rebuilt(trail: Repo, repo: Repo) -> None:
    git = GitRepo(trail.path)
    index = AuditIndex(git)
    assert index.find(git.resolve("main")) is not None
    repo.commit({"releases/solo/1.0.0/release.yaml": "x: 1\n"}, "an unrelated root")
    trail.git("fetch", "-q", str(repo.path), "main:unrelated")
    head = git.resolve("unrelated")
    found = index.find(head)
    assert found is not None and found[0].ids == (head.id,)
    assert [e.action for e in index.trail(head, AuditQuery())] == ["manual"]


def test_the_persisted_index_is_read_back_not_rebuilt(trail: Repo) -> None:
    git = GitRepo(trail.path)
    head = git.resolve("main")
    first = AuditIndex(git, persist=True)
    assert first.find(head) is not None
    saved = Path(git.repo.path) / INDEX_FILE
    written = saved.stat()
    again = AuditIndex(GitRepo(trail.path), persist=True)
    found = again.find(head)
    assert found is not None and saved.stat().st_ino == written.st_ino  # read, not rewritten
    assert_same_as_walk(again, git, head)


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda raw: raw[: len(raw) // 2],  # cut short
        lambda raw: b"\x00garbage\n" + raw,  # not our header
        lambda raw: raw.replace(b'"ada"', b'"mallory"'),  # the body, not its checksum
        lambda raw: raw.replace(b'"version": 1', b'"version": 99'),  # another version
        lambda raw: raw.replace(b'"powerx": "', b'"powerx": "0.0.0-'),  # another powerx
        lambda raw: b"",
    ],
    ids=["truncated", "garbage", "tampered", "version", "powerx", "empty"],
)
def test_a_corrupt_persisted_index_is_rebuilt_not_trusted(trail: Repo, corrupt: Any) -> None:
    git = GitRepo(trail.path)
    head = git.resolve("main")
    assert AuditIndex(git, persist=True).find(head) is not None
    saved = Path(git.repo.path) / INDEX_FILE
    saved.write_bytes(corrupt(saved.read_bytes()))
    index = AuditIndex(GitRepo(trail.path), persist=True)
    assert [e.operator for e in index.trail(head, AuditQuery(operator="mallory"))] == []
    assert_same_as_walk(index, git, head)
    assert decode(saved.read_bytes()).ids == index.find(head)[0].ids  # type: ignore[index]


def test_a_forged_entry_with_a_matching_checksum_is_refused(trail: Repo) -> None:
    git = GitRepo(trail.path)
    head = git.resolve("main")
    index = AuditIndex(git)
    found = index.find(head)
    assert found is not None
    raw = encode(found[0])
    header, _, body = raw.partition(b"\n")
    rows = json.loads(body)
    rows[0][2] = [[1, 2, 3]]  # an entry that is not one
    forged = json.dumps(rows).encode()
    stamp = json.loads(header)
    stamp["sha256"] = hashlib.sha256(forged).hexdigest()
    with pytest.raises((TypeError, ValueError)):
        decode(json.dumps(stamp).encode() + b"\n" + forged)


def test_a_repo_that_cannot_be_written_keeps_the_index_in_memory(trail: Repo) -> None:
    git = GitRepo(trail.path)
    head = git.resolve("main")
    (Path(git.repo.path) / INDEX_FILE.parent).write_text("a file where the folder goes")
    index = AuditIndex(git, persist=True)
    assert_same_as_walk(index, git, head)
    assert index.find(head) is not None


def test_threads_asking_at_once_read_the_history_once(trail: Repo) -> None:
    git = GitRepo(trail.path)
    head = git.resolve("main")
    index = AuditIndex(git)
    expected = walked(git, head, AuditQuery(operator="ada"))
    start = threading.Barrier(8)
    results: list[list[AuditEntry]] = []
    mainlines: list[object] = []

    def ask() -> None:
        start.wait()
        results.append(list(index.trail(head, AuditQuery(operator="ada"))))
        found = index.find(head)
        assert found is not None
        mainlines.append(found[0])

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 8
    assert all(mainline is mainlines[0] for mainline in mainlines)  # extended once, shared


def test_a_background_build_answers_from_the_commits_meanwhile(trail: Repo) -> None:
    git = GitRepo(trail.path)
    head = git.resolve("main")
    index = AuditIndex(git, background=True)
    entries = walked(git, head, AuditQuery())
    assert list(index.trail(head, AuditQuery())) == entries  # the walk, or the built index
    assert index.entry(head, entries[0].commit) == entries[0]
    assert index.wait(timeout=300)
    assert index.find(head) is not None
    assert_same_as_walk(index, git, head)


def get_json(url: str) -> Any:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def test_serve_answers_from_the_index_as_the_head_moves_and_is_rewritten(
    trail: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    git = GitRepo(trail.path)
    saved = Path(git.repo.path) / INDEX_FILE
    with ServerProcess(["powerx", "serve", "--repo", str(trail.path), "--port", "0"]) as server:
        url = server.url
        first = get_json(f"{url}/audit?operator=ada")
        assert [e["version"] for e in first["entries"]] == ["1.1.0", "1.0.0"]
        wait_until(saved.exists, "the console to persist its audit index")
        added = promote(trail, "hello", "1.3.0", "ada", "2026-04-02", monkeypatch)
        moved = get_json(f"{url}/audit?operator=ada")
        assert [e["version"] for e in moved["entries"]] == ["1.3.0", "1.1.0", "1.0.0"]
        assert get_json(f"{url}/audit/{added}")["entry"]["version"] == "1.3.0"
        trail.git("reset", "-q", "--hard", "HEAD~1")
        back = get_json(f"{url}/audit?operator=ada")
        assert back["entries"] == first["entries"]
        assert "1.3.0" not in json.dumps(get_json(f"{url}/audit.json?plugin=hello"))
    index = AuditIndex(GitRepo(trail.path), persist=True)  # a restart reads the saved index
    assert_same_as_walk(index, git, git.resolve("main"))
