"""The catalog's fast paths give what the full ones give: lean YAML reads, the signer index,
the build split over processes."""

from __future__ import annotations

import gc
import sys
import threading
from datetime import timedelta

import pytest
from conftest import Repo
from factories import bundle
from test_market_catalog import NOW, listed, market, snapshot, sync
from test_yamlfast import REPO_YAML, TRICKY

from pipeline import stampfile, yamlfast
from pipeline.errors import InputError
from pipeline.gitrepo import GitRepo
from pipeline.market.catalog_files import read_page
from pipeline.market.catalog_parallel import (
    CHUNK_PAGES,
    Job,
    _build_share,
    build_catalog_pages,
    chunked,
    gc_paused,
    worker_context,
)
from pipeline.market.catalog_read import read_listing
from pipeline.market.catalog_signers import (
    FORMAT,
    INDEX_VERSION,
    SignerMemo,
    index_path,
    load_memo,
    save_memo,
)
from pipeline.market.records import load_listing, load_review, reviewed_plugins, reviews
from pipeline.yamlfast import RoundTripNeededError, read_fast, read_plain, resolve_plain
from pipeline.yamlio import MAX_DEPTH, MAX_NODES

__all__ = ["market"]  # the fixture, shared with test_market_catalog


@pytest.mark.parametrize("text", TRICKY + [p.read_text() for p in REPO_YAML[:40]])
def test_read_plain_gives_what_read_fast_gives_or_hands_over(text: str) -> None:
    try:
        expected = read_fast(text, "f.yaml", max_nodes=MAX_NODES, max_depth=MAX_DEPTH)[0]
    except (RoundTripNeededError, InputError):
        with pytest.raises(RoundTripNeededError):
            read_plain(text, max_nodes=MAX_NODES, max_depth=MAX_DEPTH)
        return
    try:
        assert read_plain(text, max_nodes=MAX_NODES, max_depth=MAX_DEPTH) == expected
    except RoundTripNeededError:  # only what it leaves to read_fast: anchors, aliases
        assert "&" in text or "*" in text


def test_read_plain_takes_plain_files_and_refuses_the_unusual() -> None:
    release = next(p for p in REPO_YAML if p.name == "release.yaml").read_text()
    assert read_plain(release, max_nodes=MAX_NODES, max_depth=MAX_DEPTH)["kind"] == "Release"
    deep = "a:\n" + "".join("  " * level + "- \n" for level in range(1, 5))
    for text in ["a: &x 1\nb: 2\n", "a: [" * 5 + "]" * 5, deep]:
        with pytest.raises(RoundTripNeededError):
            read_plain(text, max_nodes=3, max_depth=3)


def test_an_invalid_listing_is_refused_with_its_line_as_snapshot_load_does(market: Repo) -> None:
    bad = "apiVersion: powerx.io/v1alpha1\nkind: Listing\nplugin: 7\n"
    market.commit({"releases/hello/listing.yaml": bad}, "an invalid listing")
    at = snapshot(market)
    with pytest.raises(InputError) as fast:
        read_listing(at, "hello")
    with pytest.raises(InputError) as full:
        load_listing(at, "hello")
    assert fast.value.diagnostics() == full.value.diagnostics()
    assert "releases/hello/listing.yaml:3:" in fast.value.diagnostics()  # plugin: 7


def test_a_rebuild_takes_verified_signers_from_the_index(market: Repo) -> None:
    git = GitRepo(market.path)
    assert sync(market).commit is not None
    assert not index_path(git).exists()  # a page or two: verified, no index read or written
    at = snapshot(market)
    plugins = reviewed_plugins(at)
    first = build_catalog_pages(at, plugins, {}, now=NOW, remember=True)
    memo = load_memo(git)
    assert len(memo.known) == 1 and first.signers == memo.known
    again = build_catalog_pages(snapshot(market), plugins, {}, now=NOW, remember=True)
    assert again.pages == first.pages and again.signers == first.signers
    # the index stands for the verification: an entry it holds is what the page shows
    ((key, row),) = memo.known.items()
    save_memo(git, SignerMemo({}, {key: [row[0], "remembered-key", *row[2:]]}))
    shown = build_catalog_pages(snapshot(market), plugins, {}, now=NOW, remember=True)
    assert b'"identity": "remembered-key"' in shown.pages["hello"]


def test_a_remembered_signer_past_its_window_is_verified_again(market: Repo) -> None:
    ends = (NOW + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    files = listed("short", "1.0.0")
    files["releases/short/1.0.0/short-1.0.0.pxp.sigstore.json"] = bundle(
        "short", "1.0.0", notAfter=ends
    )
    market.commit(files, "a signature valid for a day")
    plugins = ["short"]
    now = build_catalog_pages(snapshot(market), plugins, {}, now=NOW, remember=True)
    assert b'"verified": true' in now.pages["short"]
    (row,) = load_memo(GitRepo(market.path)).known.values()
    assert row[4] == (NOW + timedelta(days=1)).timestamp()
    later = NOW + timedelta(days=2)
    then = build_catalog_pages(snapshot(market), plugins, {}, now=later, remember=True)
    assert b'"verified": false' in then.pages["short"] and b"expired" in then.pages["short"]


def test_the_build_split_over_processes_writes_the_same_files(market: Repo) -> None:
    market.commit(
        {**listed("other", "1.0.0"), **listed("third", "2.0.0"), **listed("hello", "1.1.0")},
        "more listings",
    )
    at = snapshot(market)
    plugins = reviewed_plugins(at)
    index_path(at.git).unlink(missing_ok=True)
    alone = build_catalog_pages(at, plugins, {}, now=NOW, workers=1, remember=True)
    index_path(at.git).unlink()
    split = build_catalog_pages(at, plugins, {}, now=NOW, workers=3, remember=True)
    assert split.pages == alone.pages and split.entries == alone.entries
    assert split.widened == alone.widened and split.signers == alone.signers
    assert read_page(at, "hello") is None  # nothing committed: a plan only


def test_gc_is_paused_for_the_build_and_restored() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        kept = [[number] for number in range(100)]
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert any(found is kept for found in gc.get_objects(generation=2))  # not walked young
    gc.freeze()  # something else froze objects (a pre-fork server): they stay frozen
    try:
        with gc_paused():
            pass
        assert gc.get_freeze_count() > 0 and gc.isenabled()
    finally:
        gc.unfreeze()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_an_unusable_signer_index_is_ignored(market: Repo) -> None:
    git = GitRepo(market.path)
    stampfile.write(index_path(git), stampfile.stamp(FORMAT, INDEX_VERSION), b'{"k": [1]}')
    assert load_memo(git).known == {}  # rows of the wrong shape: rebuilt
    index_path(git).write_bytes(b"not an index")
    assert load_memo(git).known == {}
    at = snapshot(market)
    built = build_catalog_pages(at, reviewed_plugins(at), {}, now=NOW, remember=True)
    assert len(load_memo(git).known) == 1 and built.signers == load_memo(git).known


def test_unchanged_pages_are_reused_without_a_build(market: Repo) -> None:
    at = snapshot(market)
    plugins = reviewed_plugins(at)
    first = build_catalog_pages(at, plugins, {}, now=NOW)
    again = build_catalog_pages(at, plugins, first.entries, now=NOW, remember=True)
    assert again.entries == first.entries and again.pages == {} and again.signers == {}
    assert not index_path(at.git).exists()


def test_the_signer_index_drops_entries_of_another_trust_policy(market: Repo) -> None:
    git = GitRepo(market.path)
    row = ["key", "k1", None, None, None]
    save_memo(git, SignerMemo({}, {"b1 s1 a@1.0.0 old": row, "b2 s2 a@1.0.0 new": row}))
    save_memo(git, SignerMemo(load_memo(git).known, {"b3 s3 a@2.0.0 new": row}, "new"))
    assert sorted(load_memo(git).known) == ["b2 s2 a@1.0.0 new", "b3 s3 a@2.0.0 new"]


def test_review_records_read_lean_are_the_records_load_review_reads(market: Repo) -> None:
    at = snapshot(market)
    loaded = load_review(at, "hello", "1.0.0")
    assert loaded is not None
    assert reviews(at, "hello") == {"1.0.0": loaded.model}


def test_an_invalid_review_record_is_refused_with_its_line_as_load_review_does(
    market: Repo,
) -> None:
    good = snapshot(market).read("market/reviews/hello/1.0.0.yaml")
    assert good is not None
    bad = good.decode().replace("plugin: hello", "plugin: 7")
    market.commit({"market/reviews/hello/1.0.0.yaml": bad}, "an invalid review record")
    at = snapshot(market)
    with pytest.raises(InputError) as fast:
        reviews(at, "hello")
    with pytest.raises(InputError) as full:
        load_review(at, "hello", "1.0.0")
    assert fast.value.diagnostics() == full.value.diagnostics()
    line = bad.splitlines().index("plugin: 7") + 1
    assert f"market/reviews/hello/1.0.0.yaml:{line}:" in fast.value.diagnostics()


@pytest.mark.parametrize(
    "text", ["1", "0x1F", "1.5", ".inf", "true", "~", "", "plain", "1.0.0", "2026-01-02"]
)
def test_a_plain_scalar_resolves_the_same_from_the_memo(text: str) -> None:
    first, again = resolve_plain(text), resolve_plain(text)
    assert type(again) is type(first) and again == first
    assert read_plain(f"k: {text}\n", max_nodes=9, max_depth=9) == {"k": first}


def test_only_immutable_resolved_scalars_are_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    moment = "2026-01-02T03:04:05Z"
    first, again = resolve_plain(moment), resolve_plain(moment)
    assert first == again and first is not again  # a timestamp object: built each time
    monkeypatch.setattr(yamlfast, "RESOLVED_KEPT", 2)
    for text in ["a1", "a2", "a3", "a4"]:
        assert resolve_plain(text) == text
    assert "a4" in yamlfast._RESOLVED and len(yamlfast._RESOLVED) <= 2  # started afresh
    long = "x" * 500
    assert resolve_plain(long) == long and long not in yamlfast._RESOLVED
    yamlfast.forget_resolved()
    assert not yamlfast._RESOLVED


def test_stale_pages_are_chunked_so_processes_even_out() -> None:
    plugins = [f"p{number}" for number in range(1001)]
    assert chunked(plugins, 1) == [plugins]
    chunks = chunked(plugins, 2)
    assert [p for chunk in chunks for p in chunk] == plugins
    assert max(map(len, chunks)) == CHUNK_PAGES and len(chunks) == 5
    assert chunked(plugins[:3], 2) == [["p0"], ["p1"], ["p2"]]


def test_workers_are_forked_only_where_no_other_thread_runs() -> None:
    if sys.platform == "linux" and threading.active_count() == 1:
        assert worker_context().get_start_method() == "fork"
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert worker_context().get_start_method() == "spawn"
    finally:
        stop.set()
        other.join()


def test_chunks_built_forked_spawned_or_here_are_the_same(market: Repo) -> None:
    market.commit(
        {**listed("other", "1.0.0"), **listed("third", "2.0.0"), **listed("hello", "1.1.0")},
        "more listings",
    )
    at = snapshot(market)
    plugins = reviewed_plugins(at)
    alone = build_catalog_pages(at, plugins, {}, now=NOW, workers=1)
    forked = build_catalog_pages(at, plugins, {}, now=NOW, workers=2)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)  # another thread: workers are spawned
    other.start()
    try:
        spawned = build_catalog_pages(at, plugins, {}, now=NOW, workers=3)
    finally:
        stop.set()
        other.join()
    assert sorted(alone.pages) == ["hello", "other", "third"] and alone.problems == []
    for built in (forked, spawned):
        assert built.pages == alone.pages and built.entries == alone.entries
        assert built.widened == alone.widened and built.problems == alone.problems
    # what a worker runs, here: the repo opened once for all its chunks
    job: Job = (at.git.root, at.commit.id, ["other"], NOW, {}, False)
    assert _build_share(job).pages == {"other": alone.pages["other"]}
    third: Job = (at.git.root, at.commit.id, ["third"], NOW, {}, False)
    assert _build_share(third).pages == {"third": alone.pages["third"]}


def test_an_unexpected_error_in_a_chunk_stops_the_build(market: Repo) -> None:
    market.commit({**listed("other", "1.0.0"), **listed("third", "2.0.0")}, "more listings")
    at = snapshot(market)
    plugins = reviewed_plugins(at)
    with pytest.raises(ValueError, match="timezone-aware"):  # a bug, not a plugin's problem
        build_catalog_pages(at, plugins, {}, now=NOW.replace(tzinfo=None), workers=2)
