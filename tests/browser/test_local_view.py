"""The local tenant view in a real browser: install a plugin from a local directory
(preview, then do it), open its UI through a running `powerx host`, disable and enable it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Repo
from hostplugins import ServerProcess, stop_host, write_plugin
from playwright.sync_api import Locator, Page, expect
from waiting import wait_until

from browser import pages
from browser.conftest import StartConsole

PLUGIN = "greeter"
TENANT = "dev"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "plugin-store"


@pytest.fixture
def console(
    console_roles: Repo, start_console: StartConsole, store: Path, user_env: dict[str, str]
) -> pages.Console:
    sources = store.parent / "sources"  # the only folder the console installs from
    sources.mkdir(exist_ok=True)
    options = ["--plugin-store", str(store), "--allow-install-from", str(sources)]
    return start_console(console_roles.path, *options, env=user_env)


@pytest.fixture
def start_host(store: Path, user_env: dict[str, str]) -> Iterator[list[ServerProcess]]:
    """`powerx host` on the store, started by the test when it wants it (`host.start()`)."""
    hosts = [
        ServerProcess(["powerx", "host", "--plugin-store", str(store), "--port", "0"], env=user_env)
    ]
    yield hosts
    for host in hosts:
        if host.process is not None:
            stop_host(host, store)


def plugin_row(page: Page) -> Locator:
    return page.locator(f"#plugin-{TENANT}-{PLUGIN}")


def act_on_plugin(page: Page, action: str) -> None:
    """Press the plugin's Enable/Disable control, then confirm its preview."""
    plugin_row(page).locator("a, button", has_text=action).click()
    expect(page).to_have_url(re.compile(f"/actions/{action.lower()}"))
    pages.confirm(page)


def test_install_from_a_local_directory_open_its_ui_disable_and_enable(
    console: pages.Console,
    start_host: list[ServerProcess],
    tmp_path: Path,
    user_env: dict[str, str],
) -> None:
    folder = write_plugin(tmp_path / "sources", PLUGIN, greeting="Howdy")  # tenant-data:read
    page = pages.log_in(console, pages.create_token("rita", user_env))
    page.goto(f"{console.url}/local")
    form = page.locator('form[action="/actions/install"]')
    expect(page.locator("main")).to_contain_text("Install from Local Directory")
    form.get_by_label(re.compile("director|folder|path", re.I)).fill(str(folder))
    form.get_by_label(re.compile("grant", re.I)).check()
    form.get_by_role("button").click()
    expect(page).to_have_url(re.compile("/actions/install"))
    expect(page.locator("main")).to_contain_text(f"Install {PLUGIN} 0.1.0 from {folder}")
    expect(page.locator("main")).to_contain_text("declares tenant-data:read")
    console.screenshot(page, "install-preview")
    pages.confirm(page)

    host = start_host[0].start()
    host.wait_for("following the store")
    page.goto(f"{console.url}/local")
    expect(plugin_row(page)).to_contain_text("0.1.0")
    console.screenshot(page, "installed")
    ui = pages.open_link(page, plugin_row(page).get_by_role("link", name=re.compile("open", re.I)))
    expect(ui.locator("body")).to_contain_text(f"Howdy, {TENANT}!")

    page.goto(f"{console.url}/local")
    act_on_plugin(page, "Disable")
    wait_until(lambda: host.state(TENANT, PLUGIN) != "running", "the plugin to stop")
    page.goto(f"{console.url}/local")
    expect(plugin_row(page)).to_contain_text(re.compile("disabled", re.I))
    act_on_plugin(page, "Enable")
    wait_until(lambda: host.state(TENANT, PLUGIN) == "running", "the plugin to run again")
