"""The static site in a real browser: `powerx site build -o DIR`, served as GitHub Pages
serves a project site (under a sub-path, so only relative links work), every link
resolving, the audit trail filtered in the browser."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import Repo
from hostplugins import ServerProcess, run
from playwright.sync_api import Browser, expect

from browser import pages

PROJECT_PATH = "powerx-release"
"""GitHub Pages serves a project's site at /<project>/: absolute links would miss it."""


def test_the_site_links_relatively_and_filters_the_audit_in_the_browser(
    console_repo: Repo, browser: Browser, shots: Path, tmp_path: Path
) -> None:
    built = run(
        [
            "powerx",
            "site",
            "build",
            "--repo",
            str(console_repo.path),
            "-o",
            str(tmp_path / PROJECT_PATH),
        ]
    )
    assert built.returncode == 0, built.stdout + built.stderr
    argv = ["python", "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(tmp_path), "0"]
    with ServerProcess(argv, env={**os.environ, "PYTHONUNBUFFERED": "1"}) as server:
        site = pages.Console(f"{server.url}/{PROJECT_PATH}", browser, shots)
        try:
            page = site.open("/")
            assert pages.broken_links(page) == []
            page.locator("nav").get_by_role("link", name="Matrix").click()
            expect(pages.matrix_row(page, "hello")).to_contain_text("held")
            assert pages.broken_links(page) == []
            page.locator("nav").get_by_role("link", name="Audit trail").click()
            expect(page.locator("h1")).to_have_text("Audit trail")
            assert page.url.startswith(f"{server.url}/{PROJECT_PATH}/"), page.url
            assert pages.broken_links(page) == []
            site.screenshot(page, "audit")

            pages.remember_this_document(page)
            page.locator('input[name="plugin"]').fill("extra-1")
            expect(pages.audit_column(page, 3).locator("visible=true")).to_have_text(
                ["extra-1"] * 2
            )
            assert pages.same_document(page), "the site filters in the browser, with no server"
            site.screenshot(page, "filtered")
        finally:
            site.close()
