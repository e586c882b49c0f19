"""Searching the synced catalog: ranking, facets, did-you-mean, host versions, visibility."""

from __future__ import annotations

import json
import shutil
import sqlite3
from typing import Any

import pytest
from conftest import Repo, RunCli
from test_market_catalog import listed, snapshot, sync

from pipeline.cli.market import cli as market_cli
from pipeline.errors import InputError
from pipeline.market import search as search_module
from pipeline.market.search import SearchQuery, cache_path, open_index

PAID = {
    "model": "paid",
    "trialDays": 30,
    "plans": [{"name": "Team", "price": "19.00", "currency": "EUR"}],
}
LEDGER: dict[str, Any] = {  # the listing fields of every ledger version
    "title": "Ledger",
    "categories": ["finance"],
    "pricing": PAID,
    "promotion": ["verified-vendor"],
}


@pytest.fixture
def shop(release_repo: Repo) -> Repo:
    """A synced catalog of six plugins that all mention ledgers somewhere."""
    release_repo.git("checkout", "-q", "main")
    release_repo.git("merge", "-q", "feature")
    release_repo.commit(
        {
            **listed("ledger", "1.0.0", **LEDGER),
            **listed("ledger", "1.1.0", **LEDGER),
            **listed("ledger", "2.0.0", powerx=">=3,<4", **LEDGER),
            **listed(
                "books", "1.0.0", title="Bookkeeping", tags=["ledger"], categories=["finance"]
            ),
            **listed(
                "notes",
                "1.0.0",
                title="Team notes",
                summary="Shared notes, and a ledger of who changed what and when.",
                categories=["productivity"],
            ),
            **listed(
                "mailer",
                "1.0.0",
                title="Mailer",
                description="Mail merge for every tenant. " * 3 + "Sends the ledger by mail.",
                categories=["communication"],
            ),
            **listed(
                "old-ledger",
                "1.0.0",
                title="Old ledger",
                categories=["finance"],
                deprecated={"versions": "*", "reason": "replaced by the ledger plugin"},
            ),
            **listed(
                "acme-ledger",
                "1.0.0",
                title="Acme ledger",
                categories=["finance"],
                visibility={"scope": "tenants", "tenants": ["acme"]},
            ),
            **listed(
                "secret-ledger",
                "1.0.0",
                title="Secret ledger",
                categories=["finance"],
                visibility={"scope": "private"},
            ),
        },
        "approve the shop",
    )
    sync(release_repo)
    return release_repo


def found(repo: Repo, text: str = "", **filters: object) -> list[str]:
    result = open_index(snapshot(repo)).search(SearchQuery(text, **filters))  # type: ignore[arg-type]
    return [hit.plugin for hit in result.hits]


def test_relevance_title_then_tags_then_summary_then_description(shop: Repo) -> None:
    assert found(shop, "ledger") == ["ledger", "books", "notes", "mailer", "old-ledger"]
    assert found(shop, "ledg") == found(shop, "ledger")  # every word is a prefix
    assert found(shop, "mail merge") == ["mailer"]
    result = open_index(snapshot(shop)).search(SearchQuery("ledger", limit=2, offset=1))
    assert [h.plugin for h in result.hits] == ["books", "notes"] and result.total == 5
    assert result.hits[0].score > result.hits[1].score > 0


def test_facets_count_the_hits(shop: Repo) -> None:
    result = open_index(snapshot(shop)).search(SearchQuery("ledger"))
    assert result.facets == {
        "categories": {"finance": 3, "communication": 1, "productivity": 1},
        "pricing": {"free": 4, "paid": 1},
        "verified": {"no": 4, "yes": 1},
    }
    assert found(shop, "ledger", category="finance") == ["ledger", "books", "old-ledger"]
    assert found(shop, "ledger", pricing="paid") == ["ledger"]
    assert found(shop, "", verified=True) == ["ledger"]
    assert found(shop) == ["books", "ledger", "mailer", "notes", "old-ledger"]


def test_did_you_mean_when_few_hits(shop: Repo) -> None:
    index = open_index(snapshot(shop))
    result = index.search(SearchQuery("ledgre"))
    assert result.total == 0 and result.did_you_mean == "ledger" and result.suggestion_hits == 5
    assert index.search(SearchQuery("mailr merge")).did_you_mean == "mailer merge"
    assert index.search(SearchQuery("ledger")).did_you_mean is None
    assert index.search(SearchQuery("zzzzqqq")).did_you_mean is None


def test_compatible_with_keeps_earlier_versions_for_older_hosts(shop: Repo) -> None:
    index = open_index(snapshot(shop))
    on_two = index.search(SearchQuery("ledger", compatible_with="2.5"))
    assert on_two.hits[0].plugin == "ledger" and on_two.hits[0].version == "1.1.0"
    assert on_two.hits[0].latest == "2.0.0"
    on_three = index.search(SearchQuery("ledger", compatible_with="3.1.0"))
    assert [(h.plugin, h.version) for h in on_three.hits] == [("ledger", "2.0.0")]
    assert index.search(SearchQuery("ledger", compatible_with="5")).total == 0
    with pytest.raises(InputError, match="not a host version"):
        index.search(SearchQuery("ledger", compatible_with="three"))


def test_visibility_private_and_tenant_listings(shop: Repo) -> None:
    assert "acme-ledger" not in found(shop, "ledger")
    assert "acme-ledger" in found(shop, "ledger", tenant="acme")
    assert "acme-ledger" not in found(shop, "ledger", tenant="globex")
    assert "secret-ledger" not in found(shop, "secret", tenant="acme")
    assert found(shop, "secret") == []


def test_bad_filters_are_refused(shop: Repo) -> None:
    index = open_index(snapshot(shop))
    with pytest.raises(InputError, match="did you mean 'finance'"):
        index.search(SearchQuery(category="finanse"))
    with pytest.raises(InputError, match="pricing model"):
        index.search(SearchQuery(pricing="cheap"))
    with pytest.raises(InputError, match="limit"):
        index.search(SearchQuery(limit=0))


def test_the_index_is_cached_stamped_and_rebuilt_when_stale(shop: Repo) -> None:
    path = cache_path(snapshot(shop))
    search_module._open.clear()
    assert found(shop, "ledger")[0] == "ledger"
    assert path.is_file()
    stamp = sqlite3.connect(path).execute("SELECT value FROM meta WHERE key='stamp'").fetchone()
    built = path.stat().st_mtime_ns
    search_module._open.clear()
    assert found(shop, "ledger")[0] == "ledger" and path.stat().st_mtime_ns == built  # reused

    shop.commit(listed("ledgerly", "1.0.0", title="Ledgerly"), "another ledger")
    sync(shop)
    assert "ledgerly" in found(shop, "ledger")
    assert (
        sqlite3.connect(path).execute("SELECT value FROM meta WHERE key='stamp'").fetchone()
        != stamp
    )

    search_module._open.clear()
    path.write_bytes(b"not a database")
    assert "ledgerly" in found(shop, "ledger")
    assert path.read_bytes()[:15] == b"SQLite format 3"


def test_an_uncached_index_of_a_repo_without_a_catalog(release_repo: Repo) -> None:
    index = open_index(snapshot(release_repo), cache=False)
    assert index.search(SearchQuery("anything")).total == 0


def test_cli_search_text_json_and_exit_codes(shop: Repo, run_cli: RunCli) -> None:
    repo = str(shop.path)
    done = run_cli(market_cli, "search", "ledger", "--repo", repo, "--compatible-with", "2.5")
    assert done.code == 0, done.err
    first = done.out.splitlines()[0]
    assert first.startswith("ledger 1.1.0  Ledger [verified]")
    assert "categories: finance 3" in done.out and "1-5 of 5 hit(s)" in done.out
    as_json = run_cli(
        market_cli, "search", "led", "--repo", repo, "--format", "json", "--limit", "1"
    )
    data = json.loads(as_json.out)
    assert data["total"] == 5 and [h["plugin"] for h in data["hits"]] == ["ledger"]
    assert data["facets"]["pricing"] == {"free": 4, "paid": 1}
    missing = run_cli(market_cli, "search", "ledgre", "--repo", repo)
    assert missing.code == 1 and "did you mean: 'ledger' (5 hit(s))" in missing.out
    bad = run_cli(market_cli, "search", "x", "--repo", repo, "--category", "finanse")
    assert bad.code == 2 and "did you mean 'finance'" in bad.err


def test_a_repo_whose_cache_cannot_be_written_is_searched_in_memory(
    shop: Repo, caplog: pytest.LogCaptureFixture
) -> None:
    search_module._open.clear()
    folder = cache_path(snapshot(shop)).parent
    shutil.rmtree(folder, ignore_errors=True)
    folder.write_text("a file where the cache folder would be")
    assert found(shop, "ledger")[0] == "ledger"
    assert "the index is kept in memory" in caplog.text
