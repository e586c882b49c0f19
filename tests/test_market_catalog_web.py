"""The catalog in the console (`powerx serve`, real HTTP on loopback) and on the static site."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Repo
from hostplugins import ServerProcess, run
from test_market_search import shop
from test_web_console import Client, assert_secure

__all__ = ["shop"]


@pytest.fixture
def console(shop: Repo) -> Iterator[Client]:
    with ServerProcess(["powerx", "serve", "--repo", str(shop.path), "--port", "0"]) as server:
        yield Client(server.url)


def test_the_market_view_searches_with_facets_as_html_and_json(console: Client) -> None:
    data = console.json("/market.json?q=ledger&compatible=2.5")
    assert [h["plugin"] for h in data["hits"]] == [
        "ledger",
        "books",
        "notes",
        "mailer",
        "old-ledger",
    ]
    assert data["hits"][0]["version"] == "1.1.0" and data["hits"][0]["url"] == "/market/ledger"
    categories = {f["value"]: (f["count"], f["url"]) for f in data["facets"]["categories"]}
    assert categories["finance"] == (3, "/market?q=ledger&category=finance&compatible=2.5")
    assert data["facets"]["verified"] == [
        {"value": "yes", "count": 1, "url": "/market?q=ledger&compatible=2.5&verified=1"}
    ]
    status, headers, page = console.get("/market?q=ledgre")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert_secure(headers)
    assert 'Did you mean <a href="/market?q=ledger">ledger</a> (5)?' in page
    assert "market-search.js" not in page  # the console searches on the server
    assert "<script>" not in page  # no inline script: the CSP forbids it
    assert '<form method="get" action="/market" id="market-search"' in page  # works without JS
    assert console.json("/index.json")["views"][-1] == {
        "name": "market",
        "title": "Marketplace",
        "url": "/market",
    }
    status, headers, script = console.get("/static/market-search.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript")
    assert "market-index-link" in script


def test_the_market_view_pages_and_refuses_bad_parameters(console: Client) -> None:
    first = console.json("/market.json")
    assert first["total"] == 5 and first["page"] == 1 and first["next"] is None
    assert console.status("/market.json?page=0") == 400
    answer = console.json("/market.json?category=finanse")
    assert "did you mean 'finance'" in answer["message"]
    assert console.status("/market.json?compatible=three") == 400


def test_a_listing_page_shows_versions_signer_and_upgrade_path(console: Client) -> None:
    data = console.json("/market/ledger.json")
    assert [v["version"] for v in data["versions"]] == ["2.0.0", "1.1.0", "1.0.0"]
    old = data["versions"][2]
    assert [(s["to"], s["host_upgrade"]) for s in old["upgrade"]] == [
        ("1.1.0", False),
        ("2.0.0", True),
    ]
    assert old["signer"]["verified"] and old["url"] == "/release/ledger/1.0.0"
    assert data["availability"]["trial_days"] == 30
    status, _, page = console.get("/market/ledger")
    assert status == 200 and "1.0.0 → 1.1.0 → 2.0.0" in page and "needs powerx &gt;=3,&lt;4" in page
    assert "30-day trial available" in page and "Team 19.00 EUR/month per tenant" in page

    missing = console.json("/market/ledgr.json")
    assert (
        console.status("/market/ledgr.json") == 404
        and "did you mean 'ledger'" in missing["message"]
    )
    assert console.status("/market/secret-ledger.json") == 404
    assert console.status("/market/acme-ledger.json") == 404
    assert console.json("/market/acme-ledger.json?tenant=acme")["plugin"] == "acme-ledger"


def test_the_index_lists_every_visible_listing_for_the_browser(console: Client) -> None:
    data = console.json("/market/_index.json")
    plugins = [entry["plugin"] for entry in data["listings"]]
    assert plugins == ["books", "ledger", "mailer", "notes", "old-ledger"]
    ledger = data["listings"][1]
    assert ledger["versions"][0] == {
        "version": "2.0.0",
        "deprecated": False,
        "lo": [3, 0, 0],
        "hi": [3, 1048575, 1048575],
        "not": [],
    }
    assert ledger["text"].startswith("ledger helps teams")
    with_acme = console.json("/market/_index.json?tenant=acme")
    assert "acme-ledger" in [e["plugin"] for e in with_acme["listings"]]
    status, _, page = console.get("/market/_index")
    assert status == 200 and '<a href="/market/books">Bookkeeping</a>' in page


def test_the_static_site_holds_the_catalog_and_its_search_index(shop: Repo, tmp_path: Path) -> None:
    site = tmp_path / "site"
    built = run(["powerx", "site", "build", "--repo", str(shop.path), "-o", str(site)])
    assert built.returncode == 0, built.stderr
    page = (site / "market.html").read_text()
    assert '<script src="static/market-search.js" data-site-root="./" defer></script>' in page
    assert 'id="market-index-link" href="market/_index.json"' in page
    assert 'id="market-all" href="market/_index.html"' in page
    assert '<a href="market/ledger.html"><strong>Ledger</strong></a>' in page
    # a facet link keeps its filter for the browser's script
    assert 'href="market.html?category=finance"' in page
    index = json.loads((site / "market" / "_index.json").read_text())
    assert [e["plugin"] for e in index["listings"]][:2] == ["books", "ledger"]
    assert (site / "market" / "ledger.html").is_file()
    assert not (site / "market" / "acme-ledger.html").exists()
    assert not (site / "market" / "secret-ledger.html").exists()
    assert (site / "static" / "market-search.js").is_file()
