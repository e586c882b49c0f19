"""`px-admin drift`: a real release repo, a real plugin store synced by the real agent, then
git moving on and hands changing the store; every cause found, in text, JSON and the
Prometheus text format (checked by the real `promtool`)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import Repo, RunCli, git
from factories import yaml_text
from test_agent_support import FAIL, PASS, manifest, state

from pipeline.agent import PluginStore, sync
from pipeline.cli.admin import cli
from pipeline.host.tenants import TenantStore
from pipeline.packaging import pack_plugin
from pipeline.scaffold import init_repo

ENV_DIR = "environments/prod"
NEEDS_READ = ["tenant-data:read"]


def prod(tenants: dict[str, dict[str, list[str]]]) -> str:
    return yaml_text(
        {
            "apiVersion": "powerx.io/v1alpha1",
            "kind": "Environment",
            "name": "prod",
            "position": 2,
            "tenants": [{"id": t, "grants": g} for t, g in tenants.items()],
        }
    )


class Site:
    """A release repo whose prod folder a real plugin store is synced from (tenant acme)."""

    def __init__(self, root: Path) -> None:
        init_repo(root / "repo")
        self.repo = Repo(root / "repo")
        self.root = root
        self.store = PluginStore(root / "store")
        self.digests: dict[tuple[str, str], str] = {}

    def build(self, name: str, version: str, *, health: list[str] = PASS, **extra: Any) -> str:
        """A real package of name@version in the store's CAS (`stored=False`: only built)."""
        stored = extra.pop("stored", True)
        source = self.root / "src" / f"{name}-{version}"
        (source / "dist").mkdir(parents=True)
        data = {**manifest(name, version, {"command": health}), **extra}
        (source / "plugin.yaml").write_text(yaml_text(data))
        (source / "dist" / "main.py").write_text("print('hi')\n")
        packed = pack_plugin(source, self.root / "out")
        if stored:
            self.store.artifacts.put(packed.path)
        self.digests[name, version] = packed.sha256
        return packed.sha256

    def want(self, name: str, version: str, **extra: Any) -> dict[str, str]:
        """The state file asking for name@version, as a file of the repo."""
        data = state(name, version, self.digests[name, version], **extra)
        return {f"{ENV_DIR}/plugins/{name}.yaml": yaml_text(data)}

    def sync(self) -> None:
        sync(self.repo.path / ENV_DIR, self.store, tenant="acme")

    def drift(self, run_cli: RunCli, *args: str) -> Any:
        return run_cli(cli, "drift", "--repo", str(self.repo.path), *args)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """Synced for acme, then: git moves on (moving 2.0.0, newbie added, gone removed) and
    hands change the store (handoff deactivated, off activated, flip back to 1.0.0, tdis
    disabled in acme's tenant.yaml)."""
    site = Site(tmp_path_factory.mktemp("drift"))
    for name in ("steady", "moving", "gone", "off", "flip", "handoff", "tdis", "newbie"):
        site.build(name, "1.0.0")
    site.build("moving", "2.0.0")
    site.build("flip", "2.0.0")
    site.build("sick", "1.0.0", health=FAIL)
    site.build("missing", "1.0.0", stored=False)
    site.build("meter", "1.0.0", permissions=[*NEEDS_READ, "network"])
    site.build("paid", "1.0.0", license="LicenseRef-Acme-Commercial")
    files = {f"{ENV_DIR}/environment.yaml": prod({"acme": {"meter": NEEDS_READ}})}
    for name in ("steady", "moving", "gone", "flip", "handoff", "tdis", "sick", "missing"):
        files |= site.want(name, "1.0.0")
    files |= site.want("meter", "1.0.0") | site.want("paid", "1.0.0")
    files |= site.want("off", "1.0.0", enabled=False)
    site.repo.write(files)
    site.sync()
    site.repo.write(site.want("flip", "2.0.0"))
    site.sync()
    site.repo.commit({}, "what the site synced")
    changes: dict[str, str | bytes | None] = {f"{ENV_DIR}/plugins/gone.yaml": None}
    site.repo.commit(
        changes | site.want("moving", "2.0.0") | site.want("newbie", "1.0.0"), "git moves on"
    )
    store = site.store
    assert store.deactivate("handoff")
    store.activate("off", store.version_dir("off", "1.0.0", site.digests["off", "1.0.0"]))
    store.activate("flip", store.version_dir("flip", "1.0.0", site.digests["flip", "1.0.0"]))
    TenantStore(store.root).set_disabled("acme", "tdis", True)
    return site


EXPECTED_FROM_STATUS = {
    "moving": "not-synced",
    "newbie": "not-synced",
    "gone": "unknown-plugin",
    "sick": "health-failed",
    "missing": "install-failed",
    "meter": "ungranted",
    "paid": "unlicensed",
}
EXPECTED_BY_HAND = {
    "handoff": "disabled-by-hand",
    "tdis": "disabled-by-hand",
    "off": "enabled-by-hand",
    "flip": "changed-by-hand",
}


def causes(report: dict[str, Any]) -> dict[str, str]:
    return {item["plugin"]: item["cause"] for site in report["sites"] for item in site["items"]}


def test_a_plugin_store_shows_every_cause(site: Site, run_cli: RunCli) -> None:
    result = site.drift(run_cli, "--plugin-store", str(site.store.root), "--format", "json")
    assert result.code == 1, result.out + result.err
    report = json.loads(result.out)
    assert causes(report) == EXPECTED_FROM_STATUS | EXPECTED_BY_HAND  # steady: no drift
    assert report["drift"] == 11
    prod_counts = report["environments"]["prod"]
    assert prod_counts["sites"] == 1 and prod_counts["drift"] == 11
    assert prod_counts["byCause"]["disabled-by-hand"] == 2
    items = {i["plugin"]: i for i in report["sites"][0]["items"]}
    assert (items["moving"]["desired"], items["moving"]["observed"]) == ("2.0.0", "1.0.0")
    assert "px-admin grant acme meter network --env prod" in items["meter"]["detail"]
    assert "sick 1.0.0 failed its health check" in items["sick"]["detail"]
    assert (items["flip"]["desired"], items["flip"]["observed"]) == ("2.0.0", "1.0.0")
    assert "powerx plugin enable tdis --tenant TENANT" in items["tdis"]["detail"]


def test_a_status_file_shows_what_the_agent_reported(site: Site, run_cli: RunCli) -> None:
    status = str(site.store.status_path)
    result = site.drift(run_cli, "--status", status, "--env", "prod")
    assert result.code == 1, result.out + result.err
    assert f"{status} (prod, tenant acme, last sync " in result.out
    assert "  moving  not-synced  (git 2.0.0, site 1.0.0)" in result.out
    assert "git asks for 2.0.0; the last sync" in result.out
    assert "drift: 7 difference(s)" in result.out
    report = json.loads(site.drift(run_cli, "--status", status, "--format", "json").out)
    assert causes(report) == EXPECTED_FROM_STATUS


def test_prometheus_output_passes_promtool(site: Site, run_cli: RunCli) -> None:
    result = site.drift(run_cli, "--plugin-store", str(site.store.root), "--format", "prometheus")
    assert result.code == 1
    text = result.out
    assert "# TYPE powerx_drift_plugins gauge" in text
    assert 'powerx_drift_plugins{environment="prod"} 11\n' in text
    assert 'powerx_drift_plugins_by_cause{environment="prod",cause="not-synced"} 2\n' in text
    assert 'powerx_drift_plugins_by_cause{environment="prod",cause="unknown-tenant"} 0\n' in text
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool (Debian's prometheus package) is needed: make setup"
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_no_drift_exits_0_and_an_unknown_tenant_is_drift(tmp_path: Path, run_cli: RunCli) -> None:
    site = Site(tmp_path)
    site.build("steady", "1.0.0")
    site.repo.commit(
        {f"{ENV_DIR}/environment.yaml": prod({"acme": {}})} | site.want("steady", "1.0.0")
    )
    site.sync()
    clean = site.drift(run_cli, "--plugin-store", str(site.store.root))
    assert clean.code == 0, clean.out + clean.err
    assert "no drift" in clean.out
    site.repo.commit({f"{ENV_DIR}/environment.yaml": prod({"globex": {}})}, "acme leaves prod")
    result = site.drift(run_cli, "--plugin-store", str(site.store.root), "--format", "json")
    assert result.code == 1
    assert causes(json.loads(result.out)) == {None: "unknown-tenant"}
    older = site.drift(run_cli, "--plugin-store", str(site.store.root), "--rev", "HEAD~1")
    assert older.code == 0  # at the revision the site synced, nothing drifts


def test_bad_input_exits_2(site: Site, run_cli: RunCli, tmp_path: Path) -> None:
    nothing = site.drift(run_cli)
    assert nothing.code == 2 and "--status FILE or --plugin-store DIR" in nothing.err
    status = str(site.store.status_path)
    other = site.drift(run_cli, "--status", status, "--env", "staging")
    assert other.code == 2 and "reports environment prod, not staging" in other.err
    absent = site.drift(run_cli, "--status", str(tmp_path / "none.json"))
    assert absent.code == 2 and "does not exist" in absent.err
    never = site.drift(run_cli, "--plugin-store", str(tmp_path))
    assert never.code == 2 and "never synced" in never.err
    moved = tmp_path / "status.json"
    moved.write_text(site.store.status_path.read_text().replace('"prod"', '"prdo"'))
    unknown = site.drift(run_cli, "--status", str(moved))
    assert unknown.code == 2 and "did you mean" in unknown.err
    git(site.repo.path, "status")  # the repo is untouched


def test_a_tenant_the_host_refuses_is_drift(tmp_path: Path, run_cli: RunCli) -> None:
    """A store synced for every tenant runs the plugin; the host refuses it for the tenant
    whose git grant lacks what it declares: drift, found from the store (not the status)."""
    site = Site(tmp_path)
    site.build("meter", "1.0.0", permissions=NEEDS_READ)
    grants = {"acme": {"meter": NEEDS_READ}, "globex": {}}
    site.repo.commit({f"{ENV_DIR}/environment.yaml": prod(grants)} | site.want("meter", "1.0.0"))
    assert sync(site.repo.path / ENV_DIR, site.store).ok
    result = site.drift(run_cli, "--plugin-store", str(site.store.root), "--format", "json")
    assert result.code == 1, result.out + result.err
    items = json.loads(result.out)["sites"][0]["items"]
    assert [(i["plugin"], i["cause"]) for i in items] == [("meter", "ungranted")]
    detail = items[0]["detail"]
    assert "meter is enabled in prod, but tenant(s) globex (missing tenant-data:read)" in detail
    assert "the host does not start it for them" in detail
    assert "px-admin grant globex meter tenant-data:read --env prod" in items[0]["detail"]
    status_only = site.drift(run_cli, "--status", str(site.store.status_path))
    assert status_only.code == 0  # the status file cannot see the host's refusals
    granted = {"acme": {"meter": NEEDS_READ}, "globex": {"meter": NEEDS_READ}}
    site.repo.commit({f"{ENV_DIR}/environment.yaml": prod(granted)}, "grant globex")
    assert site.drift(run_cli, "--plugin-store", str(site.store.root)).code == 0
