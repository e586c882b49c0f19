"""The Marketplace catalog in a real browser: the static site searched by
static/market-search.js over market/_index.json (served as GitHub Pages serves a project
site, under a sub-path), and the console's /market with and without JavaScript."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import Repo
from hostplugins import ServerProcess, run
from playwright.sync_api import Browser, Locator, Page, expect
from test_market_search import shop

from browser import pages
from browser.conftest import StartConsole

__all__ = ["shop"]

PROJECT_PATH = "powerx-release"
LEDGER_HITS = ["ledger", "books", "notes", "mailer", "old-ledger"]


def hits(page: Page) -> Locator:
    """The plugin names of the hits shown, in order."""
    return page.locator("#market-results > li[data-plugin] > code")


def search_in_the_browser(page: Page) -> None:
    """Type queries and pick filters: the script ranks, filters and suggests in place."""
    expect(page.locator("#market-status")).to_have_attribute("data-scope", "index")
    pages.remember_this_document(page)
    form = page.locator("#market-search")
    form.locator('input[name="q"]').fill("ledg")
    expect(hits(page)).to_have_text(LEDGER_HITS)
    expect(page.locator("#market-count")).to_have_text("5 listing(s)")
    expect(page.locator('#market-facets p[data-facet="categories"]')).to_contain_text("finance (3)")
    pages.query_is(page, q="ledg")

    form.locator('select[name="category"]').select_option("finance")
    expect(hits(page)).to_have_text(["ledger", "books", "old-ledger"])
    form.locator('input[name="compatible"]').fill("2.5")
    expect(page.locator('#market-results li[data-plugin="ledger"]')).to_contain_text(
        "1.1.0 (newest 2.0.0)"
    )
    form.locator('input[name="compatible"]').fill("")
    form.locator('select[name="category"]').select_option("")

    form.locator('input[name="q"]').fill("ledgre")
    expect(page.locator("#market-results li.empty")).to_have_text("No listing matches.")
    suggestion = page.locator("#market-did-you-mean")
    expect(suggestion).to_contain_text("Did you mean ledger (5)?")
    suggestion.get_by_role("link", name="ledger").click()
    expect(hits(page)).to_have_text(LEDGER_HITS)
    assert pages.same_document(page), "the search runs in the browser, with no page load"


def test_the_static_catalog_site_is_searched_in_the_browser(
    shop: Repo, browser: Browser, shots: Path, tmp_path: Path
) -> None:
    built = run(
        ["powerx", "site", "build", "--repo", str(shop.path), "-o", str(tmp_path / PROJECT_PATH)]
    )
    assert built.returncode == 0, built.stdout + built.stderr
    argv = ["python", "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(tmp_path), "0"]
    with ServerProcess(argv, env={**os.environ, "PYTHONUNBUFFERED": "1"}) as server:
        site = pages.Console(f"{server.url}/{PROJECT_PATH}", browser, shots)
        try:
            page = site.open("/")
            page.locator("nav").get_by_role("link", name="Marketplace").click()
            expect(page.locator("h1")).to_have_text("Marketplace")
            assert pages.broken_links(page) == []
            site.screenshot(page, "market")
            search_in_the_browser(page)
            site.screenshot(page, "searched")

            page.locator('#market-results li[data-plugin="ledger"] a').click()
            expect(page.locator("h1")).to_contain_text("Ledger")
            assert page.url.endswith(f"/{PROJECT_PATH}/market/ledger.html"), page.url
            expect(page.locator('#market-versions tr[data-version="1.0.0"]')).to_contain_text(
                "1.0.0 → 1.1.0 → 2.0.0"
            )
            assert pages.broken_links(page) == []

            # a facet link of the site carries its filter to the script
            plain = site.open("/market.html?category=finance&q=ledger")
            expect(hits(plain)).to_have_text(["ledger", "books", "old-ledger"])

            # without JavaScript: the server-rendered list, every listing on one page
            off = site.open("/market.html", javascript=False)
            expect(hits(off)).to_have_count(5)
            off.get_by_role("link", name="every listing on one page").click()
            expect(off.locator("#market-every li")).to_have_count(5)
        finally:
            site.close()


def test_the_console_market_view_searches_on_the_server(
    shop: Repo, start_console: StartConsole
) -> None:
    console = start_console(shop.path)
    for javascript in (True, False):
        page = console.open("/market?q=ledgre", javascript=javascript)
        expect(page.locator("#market-status")).not_to_have_attribute("data-scope", "index")
        page.get_by_role("link", name="ledger").click()  # the server's "did you mean"
        expect(hits(page)).to_have_text(LEDGER_HITS)
        form = page.locator("#market-search")
        form.locator('select[name="pricing"]').select_option("paid")
        form.locator('input[name="compatible"]').fill("2.5")
        form.get_by_role("button", name="Search").click()
        expect(hits(page)).to_have_text(["ledger"])
        pages.query_is(page, q="ledger", pricing="paid", compatible="2.5")
        expect(page.locator("#market-results li")).to_contain_text("1.1.0 (newest 2.0.0)")
        page.locator("#market-results a").click()
        expect(page.locator("#market-availability")).to_contain_text("30-day trial available")
        console.screenshot(page, f"console-{'js' if javascript else 'plain'}")
