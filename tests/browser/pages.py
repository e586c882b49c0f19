"""What the browser tests do in the console, as short named steps.

`launch_options` says how Playwright starts Debian's chromium (never a downloaded browser);
`Console` is a running `powerx serve` and the tabs a test opened on it: every tab is
watched for Content-Security-Policy violations, console errors and script errors, and
photographed when the test ends (test-output/screenshots/).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT
from hostplugins import run
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Locator, Page, expect
from waiting import wait_until

CHROMIUM = Path(
    os.environ.get("POWERX_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
)
"""Debian's chromium, /usr/bin/chromium (`make setup` apt-installs it); POWERX_CHROMIUM
names another binary."""
NO_BROWSER = "POWERX_NO_BROWSER"
"""Set to 1 to leave the browser tests out on a machine without chromium (never in CI)."""
FLAGS = (
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
"""No GPU, and no connection of chromium's own (updates, sync): the tests reach loopback only."""
FAVICON = "/favicon.ico"
"""Asked for by chromium itself; the console has none (its 404 is not a page's error)."""
SCREENSHOTS = PROJECT / "test-output" / "screenshots"
"""Where every browser test leaves its pictures (ignored by git; CI can keep them)."""

WATCHER = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.powerxProblem(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI}`);
});
"""
"""Runs in every page before the page's own scripts (Playwright injects it, so the CSP
does not apply to it): reports each `securitypolicyviolation` event to the test."""


def launch_options() -> dict[str, Any]:
    """Playwright's launch options for Debian's chromium; fails (skips, with NO_BROWSER=1)
    when it is missing, naming the command that installs it."""
    if os.environ.get(NO_BROWSER) == "1":
        if os.environ.get("CI"):
            pytest.fail(
                f"{NO_BROWSER}=1 is set in CI: CI always runs the browser tests", pytrace=False
            )
        pytest.skip(f"{NO_BROWSER}=1: the browser tests are left out (unset it to run them)")
    if not CHROMIUM.is_file():
        pytest.fail(
            f"the browser tests need Debian's chromium at {CHROMIUM}, which is missing: run "
            f"`make setup` (it apt-installs chromium), or set {NO_BROWSER}=1 to leave the "
            "browser tests out on a machine without a browser",
            pytrace=False,
        )
    sandbox = ["--no-sandbox"] if os.geteuid() == 0 else []  # chromium refuses root otherwise
    return {"executable_path": str(CHROMIUM), "headless": True, "args": [*FLAGS, *sandbox]}


class Console:
    """A running console at `url` and the browser tabs a test opened on it.

    Two browser contexts at most: one with JavaScript (htmx at work) and one without (the
    plain HTML forms). `problems` collects what went wrong in any tab; `close` photographs
    every tab and fails the test when a problem was seen.
    """

    def __init__(self, url: str, browser: Browser, shots: Path) -> None:
        self.url = url
        self.browser = browser
        self.shots = shots
        self.problems: list[str] = []
        self.allowed: list[str] = []
        self.contexts: dict[bool, BrowserContext] = {}
        self.taken = 0

    def context(self, javascript: bool = True) -> BrowserContext:
        if javascript not in self.contexts:
            context = self.browser.new_context(java_script_enabled=javascript)
            context.set_default_timeout(30_000)  # a bound on a hang, not a wait
            context.expose_function("powerxProblem", self.report)
            context.add_init_script(WATCHER)
            context.on("page", self.watch)
            self.contexts[javascript] = context
        return self.contexts[javascript]

    def report(self, problem: str) -> None:
        if not any(text in problem for text in self.allowed):
            self.problems.append(problem)

    def allow(self, text: str) -> None:
        """Do not count a problem containing `text` (a refusal the test asks for)."""
        self.allowed.append(text)

    def watch(self, page: Page) -> None:
        """Record console errors and warnings (chromium reports CSP refusals there too)
        and uncaught script errors of `page`."""

        def on_console(message: ConsoleMessage) -> None:
            source = message.location.get("url", "")
            if message.type not in ("error", "warning") or source.endswith(FAVICON):
                return
            self.report(f"console {message.type} on {page.url}: {message.text} ({source})")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.report(f"script error: {error}"))

    def open(self, path: str, *, javascript: bool = True) -> Page:
        """A new tab showing `path` (which must answer 2xx)."""
        page = self.context(javascript).new_page()
        answer = page.goto(self.url + path)
        assert answer is not None and answer.ok, f"{path}: {answer and answer.status}"
        return page

    def screenshot(self, page: Page, label: str) -> Path:
        """Save a picture of `page` as NN-label.png in this test's folder."""
        self.taken += 1
        path = self.shots / f"{self.taken:02d}-{label}.png"
        page.screenshot(path=path, full_page=True)
        return path

    def close(self) -> None:
        for context in self.contexts.values():
            for page in context.pages:
                self.screenshot(page, "end")
            context.close()
        assert not self.problems, "\n".join(self.problems)


def wait_for_problems(console: Console, page: Page, wanted: list[str]) -> None:
    """Wait until each text of `wanted` is in a problem the console recorded."""

    def seen() -> bool:
        page.title()  # a round trip: Playwright delivers the events that came before it
        return all(any(text in problem for problem in console.problems) for text in wanted)

    wait_until(seen, f"{wanted} among the problems reported")


# -- steps ---------------------------------------------------------------------------------


def path_of(page: Page) -> str:
    """The page's path and query, e.g. /audit?plugin=hello."""
    parts = urllib.parse.urlsplit(page.url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def remember_this_document(page: Page) -> None:
    """Mark the loaded document, so `same_document` tells a swap from a page load."""
    page.evaluate("window.powerxMark = 'still here'")


def same_document(page: Page) -> bool:
    """True while the document marked by `remember_this_document` is shown (no reload)."""
    return bool(page.evaluate("window.powerxMark === 'still here'"))


def filter_with(page: Page, **fields: str) -> None:
    """Fill the page's filter form and press its Filter button."""
    form = page.locator("form.filters")
    for name, value in fields.items():
        form.locator(f'input[name="{name}"]').fill(value)
    form.get_by_role("button", name="Filter").click()


def query_is(page: Page, **fields: str) -> None:
    """Wait until the page's URL carries these query parameters."""
    wanted = "".join(rf"(?=.*[?&]{name}={re.escape(value)}(&|$))" for name, value in fields.items())
    expect(page).to_have_url(re.compile(wanted))


def matrix_row(page: Page, plugin: str) -> Locator:
    return page.locator(f"#plugin-{plugin}")


def matrix_plugins(page: Page) -> Locator:
    """The plugin names of the matrix table, one per row."""
    return page.locator("#matrix tbody tr th > a")


def audit_column(page: Page, column: int) -> Locator:
    """One column of the audit table (1: time, 2: action, 3: plugin, ... 6: operator)."""
    return page.locator(f"#trail tbody tr td:nth-child({column})")


def fetch_json(page: Page, href: str) -> Any:
    """GET `href` as the page's tab would (same cookies) and return the JSON it answers."""
    answer = page.request.get(urllib.parse.urljoin(page.url, href))
    assert answer.ok, f"{href}: {answer.status}"
    assert answer.headers["content-type"].startswith("application/json"), answer.headers
    return answer.json()


def follow_json_link(page: Page, link: Locator) -> Any:
    """Click a JSON link and return what the browser shows, parsed (the link must work)."""
    with page.expect_navigation() as navigation:
        link.click()
    answer = navigation.value
    assert answer is not None and answer.ok, page.url
    assert answer.headers["content-type"].startswith("application/json"), answer.headers
    return json.loads(answer.text())


# -- the views still to come ---------------------------------------------------------------


# -- steps of the views still to come ------------------------------------------------------


def link_target(page: Page, link: Locator) -> bytes:
    """What the link's href answers (it must answer 2xx), fetched with the tab's cookies."""
    href = link.get_attribute("href")
    assert href, f"{link} has no href"
    answer = page.request.get(urllib.parse.urljoin(page.url, href))
    assert answer.ok, f"{href}: {answer.status}"
    return answer.body()


def broken_links(page: Page) -> list[str]:
    """The links of the page (same site) whose target does not answer 2xx."""
    hrefs = page.locator("a[href]").evaluate_all("links => links.map(a => a.href)")
    own = [href for href in hrefs if href.startswith(page.url.split("/", 3)[0] + "//")]
    return [href for href in own if not page.request.get(href.split("#")[0]).ok]


def create_token(name: str, env: dict[str, str]) -> str:
    """`powerx console token create --as NAME`: the token it made (shown only then)."""
    result = run(
        ["powerx", "console", "token", "create", "--as", name, "--format", "json"], env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return str(json.loads(result.stdout)["token"])


def log_in(console: Console, token: str, *, javascript: bool = True) -> Page:
    """Log in through the /login form with `token`; the tab, logged in."""
    page = console.open("/login", javascript=javascript)
    page.get_by_label(re.compile("token", re.I)).fill(token)
    page.locator("main form").get_by_role("button").click()
    expect(page).not_to_have_url(re.compile(r"/login"))
    return page


def confirm(page: Page) -> None:
    """Press the button of an action's preview page that does it (a POST form)."""
    page.locator('main form[method="post"]').get_by_role("button").click()


def open_link(page: Page, link: Locator) -> Page:
    """Click a link and return the tab that shows its target (a new one for target=_blank)."""
    if link.get_attribute("target") == "_blank":
        with page.context.expect_page() as opened:
            link.click()
        opened.value.wait_for_load_state()
        return opened.value
    link.click()
    page.wait_for_load_state()
    return page
