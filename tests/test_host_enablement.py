"""Enable and disable an installed plugin for one tenant of the local host.

A real store from real installs (`powerx plugin install --from`), the library
(`pipeline.host.enablement`), the `powerx plugin enable|disable --tenant` command, and a
real `powerx host` that stops a disabled plugin's instance and starts it again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hostplugins import (
    ServerProcess,
    fetch,
    install,
    plugin_processes,
    run,
    stop_host,
    write_plugin,
)
from waiting import wait_until

from pipeline.errors import InputError
from pipeline.host.enablement import EnableRequest, plan_enabled, set_enabled
from pipeline.host.tenants import TenantStore

PLUGIN = "tiny"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A store where `tiny` is installed for tenants dev and acme (both granted)."""
    folder = write_plugin(tmp_path, PLUGIN, greeting="Hello")
    store = tmp_path / "store"
    install(folder, store, "dev", "--grant-declared")
    granted = run(["powerx", "plugin", "grant", PLUGIN, "tenant-data:read", "--tenant", "acme",
                   "--plugin-store", str(store)])  # fmt: skip
    assert granted.returncode == 0, granted.stderr
    return store


def settings_text(store: Path, tenant: str) -> str:
    return (store / "tenants" / tenant / "tenant.yaml").read_text()


def test_disable_and_enable_edit_the_tenant_only(store: Path) -> None:
    before = settings_text(store, "dev")
    assert before.startswith("# A tenant of the local PowerX host")
    plan = plan_enabled(EnableRequest(store, "dev", PLUGIN, False))
    assert (plan.tenant, plan.plugin, plan.enabled, plan.changed) == ("dev", PLUGIN, False, True)
    assert settings_text(store, "dev") == before  # a plan writes nothing

    done = set_enabled(EnableRequest(store, "dev", PLUGIN, False))
    assert done.changed and not done.enabled
    after = settings_text(store, "dev")
    assert after.startswith("# A tenant of the local PowerX host")  # the comment is kept
    assert TenantStore(store).load("dev").disabled == [PLUGIN]
    assert TenantStore(store).load("dev").granted(PLUGIN)  # grants untouched
    assert TenantStore(store).load("acme").enabled(PLUGIN)  # another tenant untouched

    again = set_enabled(EnableRequest(store, "dev", PLUGIN, False))
    assert not again.changed
    assert settings_text(store, "dev") == after
    assert plan_enabled(EnableRequest(store, "dev", PLUGIN, True)).changed

    enabled = set_enabled(EnableRequest(store, "dev", PLUGIN, True))
    assert enabled.changed and enabled.enabled
    assert "disabled" not in settings_text(store, "dev")
    assert TenantStore(store).load("dev").enabled(PLUGIN)


def test_unknown_names_are_refused_with_a_suggestion(store: Path) -> None:
    with pytest.raises(InputError, match=r"no tenant 'acm'.*did you mean 'acme'"):
        plan_enabled(EnableRequest(store, "acm", PLUGIN, False))
    with pytest.raises(InputError, match=r"no plugin 'tinny'.*did you mean 'tiny'") as caught:
        set_enabled(EnableRequest(store, "dev", "tinny", False))
    assert "powerx plugin install --from DIR --tenant dev" in (caught.value.hint or "")
    with pytest.raises(InputError, match="not a valid tenant name"):
        plan_enabled(EnableRequest(store, "Bad Name", PLUGIN, False))
    assert TenantStore(store).load("dev").disabled == []


def test_the_command_switches_a_local_tenant(store: Path) -> None:
    base = ["--plugin-store", str(store), "--tenant", "acme"]
    disabled = run(["powerx", "plugin", "disable", PLUGIN, *base])
    assert disabled.returncode == 0, disabled.stderr
    assert disabled.stdout.splitlines()[0] == f"disabled {PLUGIN} for tenant acme in {store}"
    again = run(["powerx", "plugin", "disable", PLUGIN, *base, "--format", "json"])
    assert json.loads(again.stdout) == {
        "plugin": PLUGIN,
        "tenant": "acme",
        "store": str(store),
        "enabled": False,
        "changed": False,
    }
    assert TenantStore(store).load("acme").disabled == [PLUGIN]
    enabled = run(["powerx", "plugin", "enable", PLUGIN, *base])
    assert enabled.returncode == 0, enabled.stderr
    assert "a running host starts it by itself" in enabled.stdout

    unknown = run(["powerx", "plugin", "enable", "tiyn", *base])
    assert unknown.returncode == 2
    assert "did you mean 'tiny'" in unknown.stderr and "Traceback" not in unknown.stderr
    both = run(["powerx", "plugin", "enable", PLUGIN, *base, "--env", "prod"])
    assert both.returncode == 2 and "not both" in both.stderr
    site_only = run(["powerx", "plugin", "disable", PLUGIN, *base, "--reason", "why"])
    assert site_only.returncode == 2 and "--reason only go with --env" in site_only.stderr
    environ = {k: v for k, v in os.environ.items() if k != "POWERX_PLUGIN_STORE"}
    no_store = run(["powerx", "plugin", "enable", PLUGIN, "--env", "prod"], env=environ)
    assert no_store.returncode == 2 and "--env needs --plugin-store" in no_store.stderr


def test_a_running_host_stops_and_starts_the_plugin(store: Path) -> None:
    host = ServerProcess(["powerx", "host", "--plugin-store", str(store), "--port", "0"])
    with host:
        url = host.url
        wait_until(lambda: host.state("dev", PLUGIN) == "running", "dev's tiny running")
        wait_until(lambda: host.state("acme", PLUGIN) == "running", "acme's tiny running")
        assert {p.tenant for p in plugin_processes(store, PLUGIN)} == {"dev", "acme"}

        disabled = run(["powerx", "plugin", "disable", PLUGIN, "--tenant", "acme",
                        "--plugin-store", str(store)])  # fmt: skip
        assert disabled.returncode == 0, disabled.stderr
        wait_until(lambda: host.state("acme", PLUGIN) == "disabled", "acme's tiny disabled")
        host.wait_for(f"acme/{PLUGIN}: disabled for this tenant, not running")
        wait_until(
            lambda: {p.tenant for p in plugin_processes(store, PLUGIN)} == {"dev"},
            "acme's instance stopped",
        )
        status, body = fetch(f"{url}/t/acme/p/{PLUGIN}/")
        answer = json.loads(body)
        assert status == 503 and answer["state"] == "disabled", answer
        assert answer["error"] == "plugin disabled"
        command = f"powerx plugin enable {PLUGIN} --tenant acme --plugin-store {store}"
        assert command in answer["message"]
        assert fetch(f"{url}/t/dev/p/{PLUGIN}/")[0] == 200  # the other tenant still served

        enabled = run(["powerx", "plugin", "enable", PLUGIN, "--tenant", "acme",
                       "--plugin-store", str(store)])  # fmt: skip
        assert enabled.returncode == 0, enabled.stderr
        wait_until(lambda: host.state("acme", PLUGIN) == "running", "acme's tiny running again")
        status, body = fetch(f"{url}/t/acme/p/{PLUGIN}/")
        assert status == 200 and body.startswith(b"Hello, acme!"), body
        assert {p.tenant for p in plugin_processes(store, PLUGIN)} == {"dev", "acme"}
        assert stop_host(host, store) == 0


def test_a_host_started_on_a_disabled_plugin_does_not_run_it(store: Path) -> None:
    set_enabled(EnableRequest(store, "dev", PLUGIN, False))
    host = ServerProcess(["powerx", "host", "--plugin-store", str(store), "--port", "0",
                          "--tenant", "dev"])  # fmt: skip
    with host:
        wait_until(lambda: host.state("dev", PLUGIN) == "disabled", "dev's tiny disabled")
        assert plugin_processes(store, PLUGIN) == []
        set_enabled(EnableRequest(store, "dev", PLUGIN, True))
        wait_until(lambda: host.state("dev", PLUGIN) == "running", "dev's tiny running")
        assert fetch(f"{host.url}/t/dev/p/{PLUGIN}/")[0] == 200
        assert stop_host(host, store) == 0
