"""The canary view in a real browser: while a rollout runs the page updates by itself
(htmx polls every 2 s) with the weight chart and each step's metric charts; once it is
over the polling stops. The charts are server-side SVG: no JavaScript is needed to see
them. The rollout is the real controller's (`local` of tests/test_web_canary.py)."""

from __future__ import annotations

from playwright.sync_api import expect
from test_canary_controller import HEALTHY
from test_web_canary import LocalRollout, local

from browser import pages
from browser.conftest import StartConsole

__all__ = ["local"]

PAGE = "/canary/hello/prod"
"""hello 1.1.0 as a canary over 1.0.0 in prod."""


def test_a_running_canary_updates_its_page(
    local: LocalRollout, start_console: StartConsole
) -> None:
    local.start()
    console = start_console(local.rollout.repo.path)
    page = console.open(PAGE)
    live = page.locator("#live")
    expect(live.locator("p.status")).to_contain_text("canary 1.1.0 at 10%")
    expect(live.locator("p.status")).to_contain_text("updates live")
    expect(live.locator("svg").first).to_be_visible()
    console.screenshot(page, "step-1")
    pages.remember_this_document(page)

    assert local.step(5, HEALTHY).outcome == "expanded"
    expect(live.locator("p.status")).to_contain_text("canary 1.1.0 at 50%")  # polled
    expect(live).to_contain_text("Verdict: pass")
    expect(live.locator("figure.metric svg").first).to_be_visible()
    console.screenshot(page, "step-2")

    assert local.step(8, HEALTHY).outcome == "completed"
    expect(live.locator("p.status")).to_contain_text("completed")
    expect(live.locator("p.status")).not_to_contain_text("updates live")  # polling stops
    assert pages.same_document(page), "the page should update in place, not reload"


def test_the_charts_need_no_javascript(local: LocalRollout, start_console: StartConsole) -> None:
    local.start()
    local.step(5, HEALTHY)
    console = start_console(local.rollout.repo.path)
    page = console.open(PAGE, javascript=False)
    expect(page.locator("#live figure svg")).to_have_count(3)  # the weight, two metrics
    expect(page.locator("#live")).to_contain_text("Verdict: pass")
    link = page.locator("main").get_by_role("link", name="JSON")
    data = pages.follow_json_link(page, link)
    assert [d["weight"] for d in data["decisions"]] == [10, 50]
