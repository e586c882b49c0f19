"""The console's local host views (/local, /local/{tenant}/{plugin}) and its local actions.

A real plugin store made by real commands: `px-plugin dev` serves and records a round of
the dev loop, `powerx plugin grant` makes a second tenant; `powerx serve --plugin-store`
answers over HTTP on loopback, and a real `powerx host` gives health and the plugin's UI.
The actions (install, enable, disable) are called as functions on a real store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import Repo, git
from hostplugins import ServerProcess, fetch, plugin_processes, run, stop_host, write_plugin
from test_host_dev import round_lines, start_dev
from test_web_console import Client
from waiting import wait_until

from pipeline.errors import InputError
from pipeline.gitrepo import GitRepo
from pipeline.host.enablement import EnableRequest, set_enabled
from pipeline.host.tenants import TenantStore
from pipeline.web import local, local_actions
from pipeline.web.app import Console
from pipeline.web.auth import RefusedError
from pipeline.web.views import LOCAL_SCOPE, NotFoundError, Params, Source

PLUGIN = "tiny"


@dataclass(frozen=True)
class Site:
    """A release repo, a plugin folder under git, and a store the dev loop filled."""

    repo: Repo
    folder: Path
    store: Path
    commit: str


@pytest.fixture
def site(release_repo: Repo, tmp_path: Path) -> Site:
    """tiny served once by px-plugin dev for tenant dev (one round recorded, granted what it
    declares); tenant acme granted only `network` (not what tiny declares)."""
    folder = write_plugin(tmp_path / "src", PLUGIN, greeting="Hello")
    git(folder, "init", "-q", "-b", "main")
    git(folder, "add", "-A")
    git(folder, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-m", "tiny")
    commit = git(folder, "rev-parse", "HEAD").strip()
    store = tmp_path / "store"
    with start_dev(folder, store) as dev:
        assert "active" in round_lines(dev, 1)[0]
        assert stop_host(dev, store) == 0
    granted = run(["powerx", "plugin", "grant", PLUGIN, "network", "--tenant", "acme",
                   "--plugin-store", str(store)])  # fmt: skip
    assert granted.returncode == 0, granted.stderr
    return Site(release_repo, folder, store, commit)


@pytest.fixture
def console(site: Site) -> Iterator[Client]:
    argv = ["powerx", "serve", "--repo", str(site.repo.path), "--port", "0"]
    with ServerProcess([*argv, "--plugin-store", str(site.store)]) as server:
        yield Client(server.url)


def row(data: dict[str, Any], tenant: str, plugin: str = PLUGIN) -> dict[str, Any]:
    found = next(t for t in data["tenants"] if t["name"] == tenant)
    return next(p for p in found["plugins"] if p["plugin"] == plugin)


def test_local_lists_tenants_plugins_revisions_and_grants(site: Site, console: Client) -> None:
    data = console.json("/local.json")
    assert data["store"] == str(site.store) and data["exists"]
    assert data["host"]["running"] is False
    assert [t["name"] for t in data["tenants"]] == ["acme", "dev"]
    dev = row(data, "dev")
    assert dev["version"] == "0.1.0" and dev["revision"].startswith("0.1.0@")
    assert dev["source"]["dir"] == str(site.folder.resolve())
    assert dev["source"]["gitCommit"] == site.commit
    assert dev["source"]["digest"].startswith("sha256:")
    assert dev["enabled"] is True and dev["health"] is None and dev["ui"] is None
    assert (dev["declared"], dev["granted"], dev["missing"]) == (
        ["tenant-data:read"],
        ["tenant-data:read"],
        [],
    )
    assert dev["action"] == {"name": "disable", "url": "/actions/disable?tenant=dev&plugin=tiny"}
    acme = row(data, "acme")
    assert (acme["granted"], acme["missing"], acme["undeclared"]) == (
        ["network"],
        ["tenant-data:read"],
        ["network"],
    )

    status, headers, page = console.get("/local")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "No host running" in page
    assert '<form method="get" action="/actions/install"' in page
    assert 'name="tenant"' in page and 'name="path"' in page
    assert '<form method="get" action="/actions/disable">' in page
    assert "not granted: tenant-data:read" in page
    assert site.commit[:12] in page
    index = console.json("/index.json")
    assert {"name": "local", "title": "Local host", "url": "/local"} in index["views"]


def test_a_running_host_gives_health_a_ui_link_and_follows_disable(
    site: Site, console: Client
) -> None:
    host = ServerProcess(["powerx", "host", "--plugin-store", str(site.store), "--port", "0"])
    with host:
        url = host.url
        wait_until(lambda: host.state("dev", PLUGIN) == "running", "dev's tiny running")
        data = console.json("/local.json")
        assert data["host"]["running"] and data["host"]["url"] == url
        dev = row(data, "dev")
        assert dev["health"]["state"] == "running"
        assert dev["ui"] == f"{url}/t/dev/p/{PLUGIN}/"
        status, body = fetch(dev["ui"])
        assert status == 200 and body.startswith(b"Hello, dev!")
        assert row(data, "acme")["health"]["state"] == "refused"
        page = console.get("/local")[2]
        assert f'href="{url}/t/dev/p/{PLUGIN}/" class="open-ui"' in page

        set_enabled(EnableRequest(site.store, "dev", PLUGIN, False))
        wait_until(
            lambda: row(console.json("/local.json"), "dev")["health"]["state"] == "disabled",
            "the console shows tiny disabled by the host",
        )
        dev = row(console.json("/local.json"), "dev")
        assert dev["enabled"] is False
        assert dev["action"]["url"] == "/actions/enable?tenant=dev&plugin=tiny"
        assert "powerx plugin enable tiny --tenant dev" in dev["health"]["detail"]
        assert [p.tenant for p in plugin_processes(site.store, PLUGIN)] == []
        assert stop_host(host, site.store) == 0
    assert console.json("/local.json")["host"]["running"] is False


def test_one_plugin_shows_its_dev_rounds_and_log(site: Site, console: Client) -> None:
    data = console.json(f"/local/dev/{PLUGIN}.json")
    assert data["tenant"] == "dev" and data["plugin"]["plugin"] == PLUGIN
    rounds = data["iterations"]
    assert [r["iteration"] for r in rounds] == [1]
    assert rounds[0]["outcome"] == "active" and rounds[0]["totalSeconds"] > 0
    assert data["unreadableIterations"] == 0
    log = data["log"]
    assert log is not None and log["path"].startswith(str(site.store / "host" / "logs" / "dev"))
    assert "start 0.1.0@" in log["text"] and log["truncated"] is False

    dev_log = site.store / "host" / "dev" / f"{PLUGIN}.jsonl"
    with dev_log.open("a") as handle:
        handle.write("not json\n")
    assert console.json(f"/local/dev/{PLUGIN}.json")["unreadableIterations"] == 1
    page = console.get(f"/local/dev/{PLUGIN}")[2]
    assert '<table id="iterations">' in page and "active" in page
    assert '<pre id="log">' in page
    acme = console.json(f"/local/acme/{PLUGIN}.json")
    assert acme["iterations"] and acme["log"] is None  # the dev loop ran for dev only


def test_unknown_tenants_and_plugins_are_404_with_a_suggestion(console: Client) -> None:
    status, _, body = console.get("/local/devv/tiny.json")
    answer = json.loads(body)
    assert status == 404 and "did you mean 'dev'" in answer["message"], answer
    status, _, body = console.get("/local/dev/tinny", "application/json")
    answer = json.loads(body)
    assert status == 404 and "did you mean 'tiny'" in answer["message"], answer
    status, _, page = console.get("/local/dev/tinny")
    assert status == 404 and "Traceback" not in page


def test_a_store_that_does_not_exist_says_how_to_fill_it(
    release_repo: Repo, tmp_path: Path
) -> None:
    empty = tmp_path / "no-store"
    argv = ["powerx", "serve", "--repo", str(release_repo.path), "--port", "0"]
    with ServerProcess([*argv, "--plugin-store", str(empty)]) as server:
        data = Client(server.url).json("/local.json")
        assert data["exists"] is False and data["tenants"] == []
        assert (
            f"powerx plugin install --from DIR --tenant dev --plugin-store {empty}"
            in (data["hint"])
        )
        assert Client(server.url).status("/local/dev/tiny") == 404
    source = Source(GitRepo(release_repo.path), GitRepo(release_repo.path).resolve("HEAD"))
    data = local.local_data(source, Params({}))
    assert data["store"] is None and "powerx serve --plugin-store DIR" in data["hint"]
    page = bytes(Console(release_repo.path).page("local.html", data).body).decode()
    assert '<p id="no-store">no plugin store was given to the console.</p>' in page
    with pytest.raises(NotFoundError, match="no plugin store"):
        local.local_plugin_data(source, Params({"tenant": "dev", "plugin": "tiny"}))


def test_reads_are_bounded(tmp_path: Path) -> None:
    big = tmp_path / "big.log"
    big.write_bytes(b"x" * 10 + b"y" * local.MAX_LOG_BYTES)
    text, cut = local.tail(big, local.MAX_LOG_BYTES)
    assert cut and text == b"y" * local.MAX_LOG_BYTES
    assert local.process_lives(0) is False


# -- the actions ------------------------------------------------------------------------


def source_of(repo: Repo, store: Path, root: Path) -> Source:
    """The console's source with `root` as its one install root (--allow-install-from)."""
    git_repo = GitRepo(repo.path)
    return Source(git_repo, git_repo.resolve("HEAD"), store, install_roots=(root.resolve(),))


def test_install_previews_then_installs_from_a_folder(release_repo: Repo, tmp_path: Path) -> None:
    actions = {action.name: action for action in local_actions.ACTIONS}
    assert set(actions) == {"install", "enable", "disable"}
    assert all(
        a.role == "developer" and a.scope(Params({})) == LOCAL_SCOPE for a in actions.values()
    )
    folder = write_plugin(tmp_path / "src", "greeter", greeting="Howdy")
    store = tmp_path / "store"
    source = source_of(release_repo, store, tmp_path)
    params = Params({"tenant": "team", "path": str(folder)})
    preview = actions["install"].preview(source, params)
    assert (preview["plugin"], preview["version"], preview["tenant"]) == (
        "greeter",
        "0.1.0",
        "team",
    )
    assert preview["declared"] == ["tenant-data:read"] and preview["missing"] == [
        "tenant-data:read"
    ]
    assert preview["outcome"].startswith("refused at step 'permissions'")
    assert not store.exists()  # a preview writes nothing

    granting = Params({"tenant": "team", "path": str(folder), "grant": "1"})
    assert actions["install"].preview(source, granting)["outcome"] == (
        f"greeter 0.1.0 becomes active in {store}"
    )
    done = actions["install"].apply(source, granting, "ada")
    assert (done["plugin"], done["version"], done["operator"]) == ("greeter", "0.1.0", "ada")
    assert done["health"] == "GET /healthz: 200"
    assert (store / "active" / "greeter").is_symlink()
    assert TenantStore(store).load("team").granted("greeter") == {"tenant-data:read"}

    for bad, message in (
        ({"tenant": "team"}, "needs path"),
        ({"tenant": "team", "path": "relative/dir"}, "not an absolute path"),
        ({"tenant": "team", "path": str(folder / "plugin.yaml")}, "not a folder"),
        ({"tenant": "team", "path": str(tmp_path)}, "plugin.yaml not found"),
        ({"tenant": "Bad", "path": str(folder)}, "not a valid tenant name"),
    ):
        with pytest.raises(InputError, match=message):
            actions["install"].preview(source, Params(bad))

    # only from under the install roots: none given, or a folder elsewhere, is refused
    elsewhere = write_plugin(release_repo.path.parent / "elsewhere", "greeter")
    for roots, message in (((), "off on this console"), ((folder,), "outside the folders")):
        confined = Source(source.git, source.head, store, install_roots=roots)
        with pytest.raises(RefusedError, match=message):
            actions["install"].preview(confined, Params({"tenant": "team", "path": str(elsewhere)}))


def test_enable_and_disable_preview_then_switch(release_repo: Repo, tmp_path: Path) -> None:
    actions = {action.name: action for action in local_actions.ACTIONS}
    folder = write_plugin(tmp_path / "src", PLUGIN)
    store = tmp_path / "store"
    source = source_of(release_repo, store, tmp_path)
    actions["install"].apply(source, Params({"path": str(folder), "grant": "on"}), "ada")
    params = Params({"tenant": "dev", "plugin": PLUGIN})
    preview = actions["disable"].preview(source, params)
    assert preview["changed"] is True and "would be disabled" in preview["outcome"]
    assert TenantStore(store).load("dev").enabled(PLUGIN)
    done = actions["disable"].apply(source, params, "ada")
    assert done["changed"] and done["operator"] == "ada" and done["enabled"] is False
    assert not TenantStore(store).load("dev").enabled(PLUGIN)
    again = actions["disable"].preview(source, params)
    assert again["changed"] is False and "already disabled" in again["outcome"]
    assert actions["enable"].preview(source, params)["changed"] is True
    assert actions["enable"].apply(source, params, "bob")["enabled"] is True
    assert TenantStore(store).load("dev").enabled(PLUGIN)

    with pytest.raises(InputError, match="did you mean 'tiny'"):
        actions["enable"].preview(source, Params({"tenant": "dev", "plugin": "tinny"}))
    with pytest.raises(InputError, match="needs plugin"):
        actions["disable"].preview(source, Params({"tenant": "dev"}))
    no_store = Source(source.git, source.head, None)
    with pytest.raises(InputError, match="no plugin store"):
        actions["disable"].apply(no_store, params, "ada")


class StatusServer:
    """A stand-in for a host's status endpoint answering `body` with `status` (real HTTP)."""

    def __init__(self, status: int, body: bytes) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, HTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return None

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_stale_broken_or_silent_hosts_are_said_so(tmp_path: Path) -> None:
    import os
    import socket
    import subprocess

    info = tmp_path / "host" / "host.json"
    info.parent.mkdir(parents=True)
    assert local.host_status(tmp_path)["running"] is False  # no file: no host
    info.write_text("{not json")
    broken = local.host_status(tmp_path)
    assert broken["running"] is False and "not valid" in broken["error"]

    gone = subprocess.Popen(["true"])
    gone.wait()
    info.write_text(json.dumps({"pid": gone.pid, "url": "http://127.0.0.1:1", "tenants": []}))
    assert local.host_status(tmp_path) == {
        "running": False,
        "url": None,
        "tenants": [],
        "plugins": [],
        "error": None,
    }

    with socket.socket() as sock:  # a port nothing listens on any more
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    silent = {"pid": os.getpid(), "url": f"http://127.0.0.1:{port}", "tenants": ["dev"]}
    info.write_text(json.dumps(silent))
    found = local.host_status(tmp_path)
    assert found["running"] and "did not answer its status" in found["error"]

    for status, body, problem in (
        (500, b"{}", "HTTP 500"),
        (200, b'{"plugins": 3}', "lists no plugins"),
        (200, b"x" * (local.MAX_STATUS_BYTES + 10), "larger than"),
    ):
        server = StatusServer(status, body)
        try:
            info.write_text(json.dumps({**silent, "url": server.url}))
            assert problem in local.host_status(tmp_path)["error"]
        finally:
            server.close()


def test_a_broken_tenant_file_shows_in_its_row(release_repo: Repo, tmp_path: Path) -> None:
    store = tmp_path / "store"
    TenantStore(store).ensure("dev")
    TenantStore(store).ensure("ops")
    (store / "tenants" / "ops" / "tenant.yaml").write_text("kind: Tenant\nname: [\n")
    data = local.local_data(source_of(release_repo, store, tmp_path), Params({}))
    rows = {t["name"]: t for t in data["tenants"]}
    assert rows["dev"]["error"] is None and rows["dev"]["plugins"] == []
    assert "tenant.yaml" in rows["ops"]["error"]
    page = bytes(Console(release_repo.path, store).page("local.html", data).body).decode()
    assert '<p class="held">unreadable: ' in page and "No host running" in page
    with pytest.raises(InputError) as caught:
        local.local_plugin_data(
            source_of(release_repo, store, tmp_path), Params({"tenant": "ops", "plugin": "tiny"})
        )
    assert "tenant.yaml" in str(caught.value.location)
