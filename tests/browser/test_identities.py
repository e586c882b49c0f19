"""Identities in a real browser: a token logs in as its user until logout, a wrong one is
refused, a viewer cannot act, an action without its CSRF token is refused, and an action
done is a commit whose operator is the logged-in user. Roles come from the repo's teams
(`console_roles`: rita is a release manager); vera is in no team, so a viewer."""

from __future__ import annotations

import re

import pytest
from conftest import Repo
from playwright.sync_api import expect
from test_web_console import promote
from waiting import wait_until

from browser import pages
from browser.conftest import StartConsole

ROLLBACK = "/actions/rollback?plugin=extra-2&env=test"
"""Rolls extra-2 back from 0.2.0 to 0.1.0 in test (a release manager's action)."""


@pytest.fixture
def console(
    console_roles: Repo,
    start_console: StartConsole,
    user_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> pages.Console:
    """The console, sharing the home where `powerx console token create` keeps tokens."""
    promote(console_roles, "extra-2", "0.2.0", "bob", "2026-11-26", monkeypatch)
    return start_console(console_roles.path, env=user_env)


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
    console.allow(f"status of 401 (Unauthorized) ({console.url}/login)")
    page = console.open("/login")
    page.get_by_label(re.compile("token", re.I)).fill("not-a-token")
    page.locator("main form").get_by_role("button").click()
    expect(page.locator("main")).to_contain_text("that token is not valid")
    expect(page).to_have_url(re.compile("/login"))
    expect(page.locator("main")).not_to_contain_text("Traceback")


def test_a_viewer_cannot_act(
    console: pages.Console, console_roles: Repo, user_env: dict[str, str]
) -> None:
    head = console_roles.head()
    page = pages.log_in(console, pages.create_token("vera", user_env))
    page.goto(console.url + ROLLBACK)
    expect(page.locator("main")).to_contain_text("Needs the role release-manager")
    expect(page.locator('main form[method="post"]')).to_have_count(0)
    console.screenshot(page, "no-button")

    csrf = page.locator('header input[name="csrf"]').get_attribute("value") or ""
    form: dict[str, str | float | bool] = {"csrf": csrf, "plugin": "extra-2", "env": "test"}
    form["reason"] = "vera tries"
    answer = page.request.post(f"{console.url}/actions/rollback", form=form)
    assert answer.status == 403 and "release-manager" in answer.text(), answer.text()
    assert console_roles.head() == head


def test_an_action_needs_its_csrf_token_and_commits_as_the_user(
    console: pages.Console, console_roles: Repo, user_env: dict[str, str]
) -> None:
    console.allow(f"status of 403 (Forbidden) ({console.url}/actions/rollback)")
    head = console_roles.head()
    page = pages.log_in(console, pages.create_token("rita", user_env))
    page.goto(console.url + ROLLBACK)
    page.get_by_label("reason").fill("the browser test says so")
    page.locator('main form[method="post"] input[name="csrf"]').evaluate("input => input.remove()")
    pages.confirm(page)
    expect(page.locator("main")).to_contain_text("CSRF token is missing or wrong")
    assert console_roles.head() == head

    page.goto(console.url + ROLLBACK)
    page.get_by_label("reason").fill("the browser test says so")
    console.screenshot(page, "preview")
    pages.confirm(page)
    expect(page.locator("main h1")).to_have_text("Roll back: done")
    wait_until(lambda: console_roles.head() != head, "the rollback's commit")
    page.goto(f"{console.url}/audit?operator=rita")
    expect(pages.audit_column(page, 3)).to_have_text(["extra-2"])
    expect(pages.audit_column(page, 2)).to_have_text(["rollback"])
