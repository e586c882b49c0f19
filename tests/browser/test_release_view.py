"""The release view in a real browser: gates with their evidence, the release plan, the
history; reached from the matrix."""

from __future__ import annotations

import json
import re

from conftest import REPORTS
from playwright.sync_api import expect
from test_web_matrix import APPROVAL_MISSING

from browser import pages

EVIDENCE = ("coverage.json", "junit.xml", "bandit.sarif")
"""hello 1.0.0's evidence files (tests/test_promote.py's `publish`)."""


def test_a_release_shows_its_gates_evidence_plan_and_history(console: pages.Console) -> None:
    page = console.open("/release/hello/1.0.0")
    main = page.locator("main")
    expect(main.locator("h1")).to_have_text("hello 1.0.0")
    expect(main).to_contain_text("every gate passes")
    expect(main.locator("table.approvals")).to_contain_text("staging")
    expect(main).to_contain_text(f"held: {APPROVAL_MISSING}")
    expect(main.locator("pre.playbook")).to_contain_text("Point the environment back")
    expect(main).to_contain_text("ada@example.com")
    expect(main.locator("#history ol.timeline")).to_contain_text("promote 1.0.0")  # htmx
    console.screenshot(page, "release")

    for name in EVIDENCE:
        main.get_by_role("link", name=f"evidence/{name}", exact=True).click()
        expect(page).to_have_url(re.compile(r"/release/hello/1\.0\.0/evidence\?path="))
        shown = page.locator("pre.evidence").inner_text()
        assert shown.strip() == (REPORTS / "passing" / name).read_text().strip(), name
        page.go_back()

    data = pages.follow_json_link(page, main.get_by_role("link", name="JSON", exact=True))
    assert "evidence/junit.xml" in json.dumps(data)


def test_the_matrix_links_a_version_to_its_release(console: pages.Console) -> None:
    page = console.open("/matrix")
    pages.matrix_row(page, "hello").locator("td").first.get_by_role("link", name="1.0.0").click()
    expect(page).to_have_url(f"{console.url}/release/hello/1.0.0")
    expect(page.locator("main h1")).to_contain_text("hello")


def test_an_unknown_version_is_a_clear_404(console: pages.Console) -> None:
    console.allow("status of 404")
    page = console.context().new_page()
    answer = page.goto(f"{console.url}/release/hello/9.9.9")
    assert answer is not None and answer.status == 404
    expect(page.locator("main")).to_contain_text("9.9.9")
    expect(page.locator("main")).not_to_contain_text("Traceback")
    expect(page.locator("main")).not_to_contain_text("there is no page")  # the view's own 404
