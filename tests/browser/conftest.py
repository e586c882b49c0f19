"""Fixtures of the browser tests: Debian's chromium (pytest-playwright's `browser`, launched
once for this package), a real `powerx serve --port 0` on a real release repo, a folder for
each test's pictures.

The release repo is the matrix tests' `estate` (hello 1.0.0 held for its staging approval,
other 2.0.0 as a canary in staging, extra-1..3 in test) with a trail on top: bob promotes
extra-1 0.2.0 to test, carol rolls it back.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from conftest import Repo
from factories import yaml_text
from hostplugins import ServerProcess
from playwright.sync_api import Browser, BrowserType, Playwright, expect, sync_playwright
from test_web_console import promote
from test_web_matrix import estate  # a fixture, used by `console_repo`

from browser import pages
from pipeline.gitrepo import GitRepo
from pipeline.promotion.rollback import RollbackRequest, rollback

__all__ = ["estate"]

ROLLBACK_REASON = "error rate up after 0.2.0"

expect.set_options(timeout=30_000)  # a bound on a hang (a loaded CI machine), not a wait

StartConsole = Callable[..., pages.Console]
"""The `start_console` fixture: start_console(repo_dir, *serve_options, env=None)."""


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    """pytest-playwright launches Debian's chromium with these (never a downloaded one)."""
    return pages.launch_options()


# pytest-playwright's `playwright`, `browser_type` and `browser`, for this package only:
# while Playwright runs, asyncio counts its loop as running in the main thread, so a later
# test's asyncio.run() would fail ("cannot be called from a running event loop").
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as started:
        yield started


@pytest.fixture(scope="package")
def browser_type(playwright: Playwright, browser_name: str) -> BrowserType:
    return cast(BrowserType, getattr(playwright, browser_name))


@pytest.fixture(scope="package")
def browser(
    browser_type: BrowserType, browser_type_launch_args: dict[str, Any]
) -> Iterator[Browser]:
    launched = browser_type.launch(**browser_type_launch_args)
    yield launched
    launched.close()


@pytest.fixture
def console_repo(estate: Repo, monkeypatch: pytest.MonkeyPatch) -> Repo:
    """A release repo with promotions, a held promotion, a canary and a rollback."""
    promote(estate, "extra-1", "0.2.0", "bob", "2026-11-25", monkeypatch)
    request = RollbackRequest("extra-1", "test", ROLLBACK_REASON, operator="carol")
    rollback(GitRepo(estate.path), request, branch="main")
    return estate


ACCESS = {
    "apiVersion": "powerx.io/v1alpha1",
    "kind": "ConsoleAccess",
    "roles": [
        {"team": "release-managers", "role": "release-manager"},
        {"team": "qa", "role": "developer"},
    ],
}
"""policies/console.yaml: rita may do everything, quinn and ada may act on the local host."""


@pytest.fixture
def console_roles(console_repo: Repo) -> Repo:
    """`console_repo` whose teams hold console roles (a user in no team is a viewer)."""
    console_repo.commit({"policies/console.yaml": yaml_text(ACCESS)}, "console roles")
    return console_repo


@pytest.fixture
def user_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a user whose home (where console tokens are kept) is the test's."""
    home = tmp_path / "home"
    home.mkdir()
    folders = {
        "XDG_CONFIG_HOME": home / ".config",
        "XDG_DATA_HOME": home / ".local" / "share",
        "XDG_STATE_HOME": home / ".local" / "state",
    }
    return {**os.environ, "HOME": str(home), **{name: str(path) for name, path in folders.items()}}


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Path:
    """This test's screenshot folder, test-output/screenshots/<test>/, emptied first."""
    name = "-".join(part for part in request.node.nodeid.split("::") if part)
    folder = pages.SCREENSHOTS / name.replace("/", "-").replace(".py", "")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def start_console(browser: Browser, shots: Path) -> Iterator[StartConsole]:
    """Start `powerx serve --port 0` on a repo; each console is checked and closed after
    the test (every tab photographed, no CSP violation or script error seen)."""
    started: list[tuple[ServerProcess, pages.Console]] = []

    def start(repo: Path, *options: str, env: dict[str, str] | None = None) -> pages.Console:
        argv = ["powerx", "serve", "--repo", str(repo), "--port", "0", *options]
        server = ServerProcess(argv, env=env).start()
        started.append((server, pages.Console(server.url, browser, shots)))
        return started[-1][1]

    try:
        yield start
    finally:
        for server, console in started:
            try:
                console.close()
            finally:
                server.__exit__(None, None, None)


@pytest.fixture
def console(console_repo: Repo, start_console: StartConsole) -> pages.Console:
    """The console of `console_repo`, as a browser sees it."""
    return start_console(console_repo.path)
