"""The matrix in a real browser: a held cell leads to its reason; the filter works with
JavaScript (htmx swaps the table, the URL follows) and without (the form submits)."""

from __future__ import annotations

from playwright.sync_api import expect
from test_web_matrix import APPROVAL_MISSING

from browser import pages

EXTRAS = ["extra-1", "extra-2", "extra-3"]


def test_a_held_cell_leads_to_its_reason(console: pages.Console) -> None:
    page = console.open("/matrix")
    staging = pages.matrix_row(page, "hello").locator("td").nth(1)
    expect(staging).to_contain_text(f"1.0.0 held: {APPROVAL_MISSING}")
    console.screenshot(page, "matrix")

    staging.get_by_role("link", name=APPROVAL_MISSING).click()
    expect(page).to_have_url(f"{console.url}/release/hello/1.0.0")
    expect(page.locator("main")).to_contain_text(f"held: {APPROVAL_MISSING}")
    approvals = page.locator("main table.approvals tr", has_text="staging")
    expect(approvals).to_contain_text("nobody")


def test_filtering_the_matrix_swaps_the_table_and_updates_the_url(
    console: pages.Console,
) -> None:
    page = console.open("/matrix")
    expect(pages.matrix_plugins(page)).to_have_count(5)
    pages.remember_this_document(page)

    pages.filter_with(page, q="extra")
    expect(pages.matrix_plugins(page)).to_have_text(EXTRAS)
    pages.query_is(page, q="extra")
    assert pages.same_document(page), "htmx should swap the table, not load a new page"

    pages.filter_with(page, q="", env="prod")
    expect(page.locator("#matrix thead th")).to_have_text(["Plugin", "prod"])
    expect(pages.matrix_plugins(page)).to_have_text(["other"])
    pages.query_is(page, env="prod")
    assert pages.same_document(page)

    page.go_back()  # htmx restores the previous filter
    expect(pages.matrix_plugins(page)).to_have_text(EXTRAS)
    pages.query_is(page, q="extra")


def test_filtering_the_matrix_without_javascript_submits_the_form(
    console: pages.Console,
) -> None:
    page = console.open("/matrix", javascript=False)
    pages.filter_with(page, q="extra")
    pages.query_is(page, q="extra")
    expect(pages.matrix_plugins(page)).to_have_text(EXTRAS)
    expect(page.locator('input[name="q"]')).to_have_value("extra")

    pages.filter_with(page, q="hel", env="test")
    pages.query_is(page, q="hel", env="test")
    expect(pages.matrix_plugins(page)).to_have_text(["hello"])
    expect(page.locator("#matrix thead th")).to_have_text(["Plugin", "test"])
