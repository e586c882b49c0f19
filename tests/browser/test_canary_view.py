"""The canary view in a real browser: the chart (server-side SVG, so JavaScript is not
needed to see it), and a page that updates by itself while the rollout runs."""

from __future__ import annotations

from conftest import Repo
from playwright.sync_api import expect
from test_web_matrix import CANARY, state

from browser import pages

pytestmark = pages.needs("/canary/other/staging", "the canary view")

PAGE = "/canary/other/staging"
"""other 2.0.0 is a canary at 10% (step 1) over 1.0.0 in staging (the `estate` fixture)."""


def test_a_running_canary_updates_its_page(console: pages.Console, console_repo: Repo) -> None:
    page = console.open(PAGE)
    main = page.locator("main")
    expect(main.locator("svg").first).to_be_visible()
    expect(main).to_contain_text("2.0.0")
    expect(main).to_contain_text("10%")
    console.screenshot(page, "step-1")
    pages.remember_this_document(page)

    step_2 = {**CANARY, "weight": 25, "step": 2, "stepStartedAt": "2026-11-24T13:00:00Z"}
    console_repo.commit(state("staging", "other", "1.0.0", canary=step_2), "canary step 2")
    expect(main).to_contain_text("25%")  # htmx polls every 2 s; expect waits for it
    assert pages.same_document(page), "the page should update in place, not reload"
    console.screenshot(page, "step-2")


def test_the_chart_needs_no_javascript(console: pages.Console) -> None:
    page = console.open(PAGE, javascript=False)
    expect(page.locator("main svg").first).to_be_visible()
    expect(page.locator("main")).to_contain_text("10%")
    data = pages.follow_json_link(page, page.locator("main").get_by_role("link", name="JSON"))
    assert "2.0.0" in str(data)
