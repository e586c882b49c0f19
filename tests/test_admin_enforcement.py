"""Grants from git are enforced at activation: by the agent for its tenant, and by the local
host for each tenant of the store (issue 15, item 2). Real packages, stores, syncs and hosts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from factories import yaml_text
from hostplugins import ServerProcess, run, stop_host, write_plugin
from test_agent_support import PASS, environment, manifest, state
from waiting import wait_until

from pipeline.agent import PluginStore, sync
from pipeline.agent.grants import missing_permissions
from pipeline.host.tenants import TenantStore
from pipeline.packaging import build_plugin, pack_plugin

ENV = "prod"


def package(root: Path, name: str, version: str, permissions: list[str]) -> tuple[Path, str]:
    """A real package that declares `permissions`: (path, sha256)."""
    source = root / "src" / f"{name}-{version}"
    (source / "dist").mkdir(parents=True)
    data = {**manifest(name, version, {"command": PASS}), "permissions": permissions}
    (source / "plugin.yaml").write_text(yaml_text(data))
    (source / "dist" / "main.py").write_text("print('hi')\n")
    packed = pack_plugin(source, root / "out")
    return packed.path, packed.sha256


def write_env(env_dir: Path, grants: dict[str, dict[str, list[str]]]) -> None:
    """environment.yaml with these tenants and their grants."""
    data = environment(ENV)
    data["tenants"] = [{"id": t, "grants": g} for t, g in grants.items()]
    env_dir.mkdir(parents=True, exist_ok=True)
    (env_dir / "environment.yaml").write_text(yaml_text(data))


@pytest.fixture
def site(tmp_path: Path) -> tuple[Path, PluginStore]:
    """An environment folder asking for `meter` (declares read + network) and `plain`
    (declares nothing), both in a real plugin store's CAS."""
    env_dir = tmp_path / "environments" / ENV
    store = PluginStore(tmp_path / "store")
    for name, perms in (("meter", ["tenant-data:read", "network"]), ("plain", [])):
        path, digest = package(tmp_path / "packages", name, "1.0.0", perms)
        store.artifacts.put(path)
        (env_dir / "plugins").mkdir(parents=True, exist_ok=True)
        (env_dir / "plugins" / f"{name}.yaml").write_text(yaml_text(state(name, "1.0.0", digest)))
    return env_dir, store


def test_the_one_rule_is_declared_minus_granted() -> None:
    declared = ["tenant-data:read", "network", "network"]
    assert missing_permissions(declared, ["tenant-data:read"]) == ("network",)
    assert missing_permissions(declared, declared) == ()
    assert missing_permissions([], []) == ()


def test_the_agent_refuses_what_the_tenant_did_not_grant_then_activates_once_granted(
    site: tuple[Path, PluginStore],
) -> None:
    env_dir, store = site
    write_env(env_dir, {"acme": {"meter": ["tenant-data:read"]}, "globex": {}})
    result = sync(env_dir, store, tenant="acme")
    meter = result.plugin("meter")
    assert meter.action == "ungranted" and not result.ok and result.exit_code == 1
    assert "meter declares 'network', which tenant 'acme' has not granted" in meter.message
    assert "px-admin grant acme meter network --env prod" in meter.message
    assert store.active_target("meter") is None
    assert result.plugin("plain").action == "installed"  # other plugins are unaffected
    status = store.read_status()
    assert status is not None and status.plugins["meter"].last_action == "ungranted"
    assert "px-admin grant acme meter network" in (status.plugins["meter"].last_error or "")
    # the git grants are carried into the store's tenant settings (the host reads them)
    assert TenantStore(store.root).load("acme").grants == {"meter": ["tenant-data:read"]}
    assert TenantStore(store.root).load("acme").grants_from == "prod"

    write_env(env_dir, {"acme": {"meter": ["tenant-data:read", "network"]}, "globex": {}})
    again = sync(env_dir, store, tenant="acme")
    assert again.plugin("meter").action == "installed" and again.ok
    assert store.active_target("meter") is not None
    assert TenantStore(store.root).load("acme").granted("meter") == {"tenant-data:read", "network"}


def test_a_tenant_with_no_grants_runs_only_plugins_that_declare_nothing(
    site: tuple[Path, PluginStore],
) -> None:
    env_dir, store = site
    write_env(env_dir, {"acme": {"meter": ["tenant-data:read", "network"]}, "globex": {}})
    result = sync(env_dir, store, tenant="globex")
    assert result.plugin("meter").action == "ungranted"
    assert "'tenant-data:read', 'network'" in result.plugin("meter").message
    assert result.plugin("plain").action == "installed"
    assert TenantStore(store.root).names() == ["globex"]  # only the synced tenant is carried


def test_the_agent_cli_shows_the_refusal(site: tuple[Path, PluginStore]) -> None:
    env_dir, store = site
    write_env(env_dir, {"acme": {}})
    argv = ["powerx", "agent", "sync", "--env-dir", str(env_dir)]
    argv += ["--plugin-store", str(store.root), "--tenant", "acme", "--format", "json"]
    result = run(argv)
    assert result.returncode == 1, result.stdout + result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    rows = {row["name"]: row for row in report["plugins"]}
    assert rows["meter"]["action"] == "ungranted"
    assert (
        "px-admin grant acme meter tenant-data:read network --env prod" in rows["meter"]["message"]
    )

    # a local grant on a tenant whose grants come from git works, and says it will not last
    local = ["powerx", "plugin", "grant", "meter", "network", "--tenant", "acme"]
    granted = run([*local, "--plugin-store", str(store.root)])
    assert granted.returncode == 0, granted.stderr
    assert "now: tenant acme grants meter: network" in granted.stdout
    assert "grants come from git (environment prod)" in granted.stderr
    assert "px-admin grant acme meter network --env prod" in granted.stderr
    local[2] = "revoke"
    revoked = run([*local, "--plugin-store", str(store.root)])
    assert revoked.returncode == 0 and "px-admin revoke acme meter network --env prod" in (
        revoked.stderr
    )


def test_the_host_refuses_per_tenant_the_grants_a_sync_carried_from_git(tmp_path: Path) -> None:
    """A sync without a tenant activates the plugin for the store and carries every tenant's
    grants; the host runs it for the tenant that granted it, refuses the other naming what
    is missing, and starts it once git grants it and the store is synced again."""
    folder = write_plugin(tmp_path / "src", "greeter", permissions=("tenant-data:read",))
    build_plugin(folder)
    packed = pack_plugin(folder, tmp_path / "out")
    store = PluginStore(tmp_path / "store")
    store.artifacts.put(packed.path)
    env_dir = tmp_path / "environments" / ENV
    (env_dir / "plugins").mkdir(parents=True)
    (env_dir / "plugins" / "greeter.yaml").write_text(
        yaml_text(state("greeter", "0.1.0", packed.sha256))
    )
    write_env(env_dir, {"acme": {"greeter": ["tenant-data:read"]}, "globex": {}})
    assert sync(env_dir, store).ok
    host = ServerProcess(["powerx", "host", "--plugin-store", str(store.root), "--port", "0"])
    host.start()
    try:
        host.wait_for("following the store")
        assert host.state("acme", "greeter") == "running"
        assert host.state("globex", "greeter") == "refused"
        detail = next(
            item["detail"] for item in host.status()["plugins"] if item["tenant"] == "globex"
        )
        assert "greeter declares 'tenant-data:read', which tenant 'globex' has not granted" in (
            detail
        )
        # git's grants: the remedy is in git, not in the store (the next sync would undo it)
        assert "grant it with: px-admin grant globex greeter tenant-data:read --env prod" in detail
        granted = {"greeter": ["tenant-data:read"]}
        write_env(env_dir, {"acme": granted, "globex": granted})
        assert sync(env_dir, store).ok
        wait_until(lambda: host.state("globex", "greeter") == "running", "globex running")
    finally:
        stop_host(host, store.root)
