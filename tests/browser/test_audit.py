"""The audit trail in a real browser: the filter with and without JavaScript, a permalink
page and its links, the JSON and CSV exports."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from browser import pages
from browser.conftest import ROLLBACK_REASON


def test_filtering_the_trail_swaps_the_table_and_updates_the_url(console: pages.Console) -> None:
    page = console.open("/audit")
    pages.remember_this_document(page)

    pages.filter_with(page, plugin="extra-1", operator="carol")
    pages.query_is(page, plugin="extra-1", operator="carol")
    expect(pages.audit_column(page, 2)).to_have_text(["rollback"])
    assert pages.same_document(page), "htmx should swap the table, not load a new page"

    pages.filter_with(page, operator="", action="promote", since="2026-11-25")
    pages.query_is(page, plugin="extra-1", action="promote", since="2026-11-25")
    expect(pages.audit_column(page, 6)).to_have_text(["bob"])
    assert pages.same_document(page)
    console.screenshot(page, "filtered")


def test_filtering_the_trail_without_javascript_submits_the_form(console: pages.Console) -> None:
    page = console.open("/audit", javascript=False)
    pages.filter_with(page, plugin="hello")
    pages.query_is(page, plugin="hello")
    expect(pages.audit_column(page, 3)).to_have_text(["hello"])
    expect(page.locator('input[name="plugin"]')).to_have_value("hello")

    pages.filter_with(page, plugin="", operator="nobody-at-all")
    pages.query_is(page, operator="nobody-at-all")
    expect(page.locator("#trail tbody")).to_have_text("No entry matches these filters.")


def test_a_permalink_shows_one_change_and_links_to_its_neighbours(
    console: pages.Console,
) -> None:
    page = console.open("/audit?action=rollback")
    link = page.locator("#trail tbody tr td:nth-child(8) a")
    short = link.inner_text()
    link.click()
    expect(page).to_have_url(re.compile(r"/audit/[0-9a-f]{40}$"))
    expect(page.locator("main dl")).to_contain_text(ROLLBACK_REASON)
    expect(page.locator("main dl")).to_contain_text("carol")
    permalink = page.url
    assert permalink.split("/audit/")[1].startswith(short)
    console.screenshot(page, "permalink")

    entry = pages.follow_json_link(page, page.get_by_role("link", name="JSON"))["entry"]
    assert (entry["action"], entry["plugin"], entry["operator"]) == ("rollback", "extra-1", "carol")
    assert permalink.endswith(entry["permalink"])
    page.go_back()
    page.locator("main dl").get_by_role("link", name="extra-1").click()
    pages.query_is(page, plugin="extra-1")
    expect(pages.audit_column(page, 3)).to_have_text(["extra-1"] * 2)
