"""Identities in a real browser: a token logs in as its user, a wrong one is refused, a
viewer cannot act, an action without its CSRF token is refused, and an action done is a
commit whose operator is the logged-in user. Roles come from the repo's teams (qa: quinn
and ada; release-managers: rita); vera is in no team."""

from __future__ import annotations

import re

import pytest
from conftest import Repo
from playwright.sync_api import expect
from waiting import wait_until

from browser import pages
from browser.conftest import StartConsole

pytestmark = [
    pages.needs("/login", "the console's login"),
    pages.needs_command(["console", "token", "create"], "console tokens"),
]

APPROVE = "/actions/approve?plugin=hello&version=1.0.0&environment=staging"
"""hello 1.0.0 waits for one approval (from qa) to enter staging."""


@pytest.fixture
def console(
    console_repo: Repo, start_console: StartConsole, user_env: dict[str, str]
) -> pages.Console:
    """The console, sharing the home where `powerx console token create` keeps tokens."""
    return start_console(console_repo.path, env=user_env)


def test_a_token_logs_in_as_its_user_until_logout(
    console: pages.Console, user_env: dict[str, str]
) -> None:
    page = pages.log_in(console, pages.create_token("rita", user_env))
    header = page.locator("header")
    expect(header).to_contain_text("rita")
    console.screenshot(page, "logged-in")
    header.locator("a, button", has_text=re.compile("log ?out", re.I)).click()
    expect(header).not_to_contain_text("rita")


def test_a_wrong_token_is_refused_with_a_clear_message(console: pages.Console) -> None:
    console.allow("status of 401")
    console.allow("status of 403")
    page = console.open("/login")
    page.get_by_label(re.compile("token", re.I)).fill("not-a-token")
    page.locator("main form").get_by_role("button").click()
    expect(page).to_have_url(re.compile("/login"))
    expect(page.locator("main")).to_contain_text(re.compile("token", re.I))
    expect(page.locator("main")).not_to_contain_text("Traceback")


def test_a_viewer_cannot_act(
    console: pages.Console, console_repo: Repo, user_env: dict[str, str]
) -> None:
    console.allow("status of 403")
    head = console_repo.head()
    page = pages.log_in(console, pages.create_token("vera", user_env))
    page.goto(console.url + APPROVE)
    pages.confirm(page)
    expect(page.locator("main")).to_contain_text(re.compile("role|not allowed", re.I))
    console.screenshot(page, "refused")
    assert console_repo.head() == head


def test_an_action_needs_its_csrf_token_and_commits_as_the_user(
    console: pages.Console, console_repo: Repo, user_env: dict[str, str]
) -> None:
    console.allow("status of 403")
    head = console_repo.head()
    page = pages.log_in(console, pages.create_token("quinn", user_env))
    page.goto(console.url + APPROVE)
    page.locator('main form[method="post"] input[name*="csrf" i]').evaluate_all(
        "inputs => inputs.forEach(input => input.remove())"
    )
    pages.confirm(page)
    expect(page.locator("main")).to_contain_text(re.compile("csrf", re.I))
    assert console_repo.head() == head

    page.goto(console.url + APPROVE)
    console.screenshot(page, "preview")
    pages.confirm(page)
    wait_until(lambda: console_repo.head() != head, "the approval's commit")
    page.goto(f"{console.url}/audit?operator=quinn")
    expect(pages.audit_column(page, 3)).to_have_text(["hello"])
