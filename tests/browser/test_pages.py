"""Every page in a real browser: nothing breaks the Content-Security-Policy (the console
fixture fails a test on any violation; here every page is visited, with and without
JavaScript), and the JSON and CSV links answer what they say."""

from __future__ import annotations

import csv
from pathlib import Path

from playwright.sync_api import expect

from browser import pages
from pipeline.web.app import CSP


def test_no_page_breaks_the_content_security_policy(console: pages.Console) -> None:
    console.allow(f"({console.url}/no/such/page)")  # its 404 is asked for, its page is checked
    for javascript in (True, False):
        page = console.open("/", javascript=javascript)
        for view in ("Matrix", "Audit trail"):
            page.locator("nav").get_by_role("link", name=view).click()
            expect(page.locator("h1")).to_have_text(view)
        page.locator("#trail tbody tr td:nth-child(8) a").first.click()
        expect(page.locator("main dl")).to_be_visible()
        page.get_by_role("link", name="The whole trail").click()
        pages.filter_with(page, action="rollback")
        expect(pages.audit_column(page, 2)).to_have_text(["rollback"])
        page.goto(f"{console.url}/no/such/page")
        expect(page.locator("h1")).to_have_text("404: not found")
    assert console.problems == []


def test_the_watcher_sees_inline_script_and_style(console: pages.Console) -> None:
    """The check above can fail: an inline script and an inline style are reported."""
    page = console.open("/matrix")
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = '1';"
        " document.body.append(s); document.body.setAttribute('style', 'color: red'); }"
    )
    wanted = ["CSP violation: script-src", "CSP violation: style-src", "Executing inline script"]
    wanted.append("Applying inline style")  # chromium's console says it too (JS off as well)
    pages.wait_for_problems(console, page, wanted)
    console.problems.clear()


def test_json_and_csv_links_answer_what_they_say(console: pages.Console, tmp_path: Path) -> None:
    page = console.open("/")
    for view, key in (("Matrix", "plugins"), ("Audit trail", "entries")):
        link = page.locator("main li", has_text=view).get_by_role("link", name="JSON")
        assert key in pages.follow_json_link(page, link), view
        page.go_back()

    page = console.open("/matrix?q=extra")
    data = pages.follow_json_link(page, page.locator("#matrix").get_by_role("link", name="JSON"))
    assert [row["plugin"] for row in data["plugins"]] == ["extra-1", "extra-2", "extra-3"]

    page = console.open("/audit?plugin=extra-1")
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV").click()
    saved = tmp_path / "audit.csv"
    download.value.save_as(saved)
    with saved.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(row["action"], row["operator"]) for row in rows] == [
        ("rollback", "carol"),
        ("promote", "bob"),
    ]
    data = pages.follow_json_link(page, page.locator("#trail").get_by_role("link", name="JSON"))
    assert [entry["action"] for entry in data["entries"]] == ["rollback", "promote"]


def test_the_watcher_sees_an_inline_style_with_javascript_off(console: pages.Console) -> None:
    page = console.context(javascript=False).new_page()
    page.route(
        f"{console.url}/a-page-with-inline-style",
        lambda route: route.fulfill(
            body='<p style="color: red">red</p>',
            headers={"content-type": "text/html", "content-security-policy": CSP},
        ),
    )
    page.goto(f"{console.url}/a-page-with-inline-style")
    pages.wait_for_problems(console, page, ["Applying inline style"])
    console.problems.clear()
