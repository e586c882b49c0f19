"""The local host's building blocks, called directly on real files.

`pipeline.host.tenants` (settings and grants, data, secrets), `pipeline.host.permissions`
(the check, the template, the usage record), `pipeline.host.sources` (what counts as a
source, its digest) and the runtime contract of plugin.yaml (`serve`, the HTTP check).
"""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from pipeline.errors import InputError
from pipeline.host.permissions import (
    ROUTES,
    UsageRecorder,
    authorize,
    grant_command,
    permission_template,
)
from pipeline.host.sources import is_source, source_digest
from pipeline.host.tenants import (
    MAX_DATA_BYTES,
    TenantStore,
    check_data_key,
    check_tenant_name,
)
from pipeline.models.plugin import PluginManifest, ServeSpec
from pipeline.packaging.manifest import parse_manifest

READ, WRITE, SECRETS = "tenant-data:read", "tenant-data:write", "secrets:read"

HAND_WRITTEN = """\
# Our staging tenant: edited by hand and by powerx plugin grant.
apiVersion: powerx.io/v1alpha1
kind: Tenant
name: acme
displayName: ACME Corp  # shown to people
grants:
  # reports only reads
  reports: [tenant-data:read]
"""


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def identity(path: Path) -> tuple[int, int]:
    """What changes whenever a file is written again (atomic writes replace the inode)."""
    info = path.stat()
    return info.st_ino, info.st_mtime_ns


# -- tenants ----------------------------------------------------------------------------------


@pytest.fixture
def tenants(tmp_path: Path) -> TenantStore:
    store = TenantStore(tmp_path)
    path = store.settings_path("acme")
    path.parent.mkdir(parents=True)
    path.write_text(HAND_WRITTEN)
    return store


def test_grant_and_revoke_keep_the_comments_and_order_of_tenant_yaml(
    tenants: TenantStore,
) -> None:
    path = tenants.settings_path("acme")
    change = tenants.set_grant("acme", "ledger", [READ, WRITE], grant=True)
    assert (change.granted, change.changed, change.created) == ((READ, WRITE), True, False)
    text = path.read_text()
    for comment in ("# Our staging tenant", "# shown to people", "# reports only reads"):
        assert comment in text
    assert text.index("displayName") < text.index("grants:") < text.index("reports")
    settings = tenants.load("acme")
    assert settings.title == "ACME Corp"
    assert settings.granted("ledger") == {READ, WRITE}
    assert settings.granted("reports") == {READ}

    before = identity(path)
    again = tenants.set_grant("acme", "ledger", [WRITE], grant=True)
    assert (again.changed, identity(path)) == (False, before)  # nothing to do: not rewritten

    assert tenants.set_grant("acme", "ledger", [READ], grant=False).granted == (WRITE,)
    assert tenants.set_grant("acme", "ledger", [WRITE], grant=False).granted == ()
    text = path.read_text()
    assert "ledger" not in text  # nothing left: the entry is gone, not an empty list
    assert "# shown to people" in text and "# reports only reads" in text
    assert tenants.load("acme").granted("reports") == {READ}


def test_a_grant_creates_a_missing_tenant_and_a_revoke_does_not(tmp_path: Path) -> None:
    tenants = TenantStore(tmp_path)
    with pytest.raises(InputError, match="tenant 'acme'"):
        tenants.set_grant("acme", "ledger", [READ], grant=False)
    assert tenants.names() == []
    change = tenants.set_grant("acme", "ledger", [READ], grant=True)
    assert change.created and change.granted == (READ,)
    assert tenants.names() == ["acme"]
    assert tenants.load("acme").granted("ledger") == {READ}


@pytest.mark.parametrize(
    "name", ["Acme", "-acme", "ac/me", "..", "", "a" * 64, "ac me", "acme\n", "acme-"]
)
def test_an_invalid_tenant_name_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(InputError, match="not a valid tenant name"):
        check_tenant_name(name)
    with pytest.raises(InputError, match="not a valid tenant name"):
        TenantStore(tmp_path).set_grant(name, "ledger", [READ], grant=True)
    assert not (tmp_path / "tenants").exists()


def test_invalid_plugin_names_permissions_and_unknown_tenants_are_refused(
    tenants: TenantStore,
) -> None:
    path = tenants.settings_path("acme")
    before = path.read_bytes()
    for plugin in ("Led Ger", "ledger\n", "../ledger"):
        with pytest.raises(InputError, match="not a valid plugin name"):
            tenants.set_grant("acme", plugin, [READ], grant=True)
    with pytest.raises(InputError, match="did you mean 'tenant-data:read'"):
        tenants.set_grant("acme", "ledger", ["tenant-data:raed"], grant=True)
    assert path.read_bytes() == before
    with pytest.raises(InputError, match="did you mean 'acme'"):
        tenants.load("acmee")


def test_a_tenant_yaml_naming_another_tenant_is_refused(tenants: TenantStore) -> None:
    path = tenants.settings_path("acme")
    path.write_text(HAND_WRITTEN.replace("name: acme", "name: globex"))
    with pytest.raises(InputError, match="name 'globex'") as caught:
        tenants.load("acme")
    assert str(path) in str(caught.value.location)


@pytest.mark.parametrize("key", ["note", "a.b_c-1", "A" * 128, "0"])
def test_a_valid_data_key_round_trips(tenants: TenantStore, key: str) -> None:
    assert check_data_key(key) == key
    assert tenants.read_data("acme", "ledger", key) is None
    tenants.write_data("acme", "ledger", key, b"\x00value\xff")
    assert tenants.read_data("acme", "ledger", key) == b"\x00value\xff"
    assert tenants.read_data("acme", "reports", key) is None  # another plugin's namespace
    assert mode(tenants.data_path("acme", "ledger", key)) == 0o600


@pytest.mark.parametrize("key", [".hidden", "a/b", "..", "", "x" * 129, "a b", "k\n", "-"])
def test_an_invalid_data_key_is_refused_and_nothing_is_written(
    tenants: TenantStore, key: str
) -> None:
    with pytest.raises(InputError, match="not a valid data key"):
        tenants.write_data("acme", "ledger", key, b"value")
    with pytest.raises(InputError, match="not a valid data key"):
        tenants.read_data("acme", "ledger", key)
    assert not (tenants.tenants_dir / "acme" / "data").exists()


def test_a_too_large_value_is_refused_and_the_old_one_kept(tenants: TenantStore) -> None:
    largest = b"x" * MAX_DATA_BYTES
    tenants.write_data("acme", "ledger", "big", largest)
    assert tenants.read_data("acme", "ledger", "big") == largest
    with pytest.raises(InputError, match=f"at most {MAX_DATA_BYTES} bytes"):
        tenants.write_data("acme", "ledger", "big", largest + b"y")
    assert tenants.read_data("acme", "ledger", "big") == largest


def test_secrets_are_kept_owner_only_and_per_plugin(tenants: TenantStore) -> None:
    tenants.set_secret("acme", "ledger", "api-key", "one")
    tenants.set_secret("acme", "ledger", "other", "two")
    path = tenants.secrets_path("acme", "ledger")
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert json.loads(path.read_text()) == {"api-key": "one", "other": "two"}
    assert tenants.read_secret("acme", "ledger", "api-key") == "one"
    assert tenants.read_secret("acme", "reports", "api-key") is None
    tenants.set_secret("acme", "ledger", "api-key", "three")
    assert tenants.read_secret("acme", "ledger", "api-key") == "three"
    assert mode(path) == 0o600  # still, after a rewrite


def test_bad_secrets_are_refused(tenants: TenantStore) -> None:
    for name in ("../key", "key\n", ".key", ""):
        with pytest.raises(InputError, match="not a valid secret name"):
            tenants.set_secret("acme", "ledger", name, "value")
    with pytest.raises(InputError, match="tenant 'globex'"):
        tenants.set_secret("globex", "ledger", "key", "value")
    with pytest.raises(InputError, match="secrets may take at most"):
        tenants.set_secret("acme", "ledger", "key", "x" * 70_000)
    assert not tenants.secrets_path("acme", "ledger").exists()
    tenants.secrets_path("acme", "ledger").parent.mkdir(parents=True)
    tenants.secrets_path("acme", "ledger").write_text('["not", "a", "map"]')
    with pytest.raises(InputError, match="must map names to strings"):
        tenants.read_secret("acme", "ledger", "key")


# -- permissions -----------------------------------------------------------------------------


def test_every_route_needs_its_permission_and_a_refusal_says_how_to_grant_it(
    tmp_path: Path,
) -> None:
    assert ROUTES == {
        ("GET", "/v1/tenant"): READ,
        ("GET", "/v1/tenant/data/{key}"): READ,
        ("PUT", "/v1/tenant/data/{key}"): WRITE,
        ("GET", "/v1/secrets/{name}"): SECRETS,
    }
    for call, needed in ROUTES.items():
        others = frozenset({READ, WRITE, SECRETS} - {needed})
        ok = authorize(
            call,
            plugin="p",
            tenant="t",
            granted=frozenset({needed}),
            declared=frozenset({needed}),
            store=tmp_path,
        )
        assert ok is None
        # granted by the tenant, but not declared by the plugin: refused, nothing to grant
        undeclared = authorize(
            call,
            plugin="p",
            tenant="t",
            granted=frozenset({needed}),
            declared=others,
            store=tmp_path,
        )
        assert undeclared is not None and undeclared.permission == needed
        assert "does not declare" in undeclared.message
        assert "grant" not in undeclared.body() and "declare" in undeclared.body()
        refusal = authorize(
            call,
            plugin="p",
            tenant="t",
            granted=others,
            declared=frozenset({needed}),
            store=tmp_path,
        )
        assert refusal is not None and refusal.permission == needed
        assert (
            refusal.grant == f"powerx plugin grant p {needed} --tenant t --plugin-store {tmp_path}"
        )
        body = refusal.body()
        assert body["permission"] == needed and body["grant"] == refusal.grant
        assert "declare" not in body  # declared, just not granted


def test_a_refusal_of_an_undeclared_permission_says_to_declare_it(tmp_path: Path) -> None:
    refusal = authorize(
        ("PUT", "/v1/tenant/data/{key}"),
        plugin="ledger",
        tenant="acme",
        granted=frozenset({READ}),
        declared=frozenset({READ}),
        store=tmp_path,
    )
    assert refusal is not None
    assert refusal.body()["declare"] == f"add '{WRITE}' to permissions in plugin.yaml"
    assert "does not declare it" in refusal.message
    assert refusal.body()["call"] == "PUT /v1/tenant/data/{key}"
    assert refusal.grant == grant_command("ledger", WRITE, "acme", tmp_path)


def test_the_usage_record_is_written_only_when_a_new_kind_of_call_is_made(
    tmp_path: Path,
) -> None:
    ticks = iter(datetime(2026, 1, 1, 0, 0, n, tzinfo=UTC) for n in range(60))
    recorder = UsageRecorder(tmp_path, clock=lambda: next(ticks))
    tenant_call = ("GET", "/v1/tenant")
    recorder.record("ledger", "acme", tenant_call, allowed=True)
    path = recorder.path("ledger")
    first = identity(path)
    for _ in range(5):
        recorder.record("ledger", "acme", tenant_call, allowed=True)
    assert identity(path) == first

    # a fresh recorder (a new host run) reads what was seen and does not write it again
    fresh = UsageRecorder(tmp_path, clock=lambda: next(ticks))
    fresh.record("ledger", "acme", tenant_call, allowed=True)
    assert identity(path) == first

    for tenant, call, allowed in (
        ("acme", tenant_call, False),  # refused this time: new
        ("globex", tenant_call, True),  # another tenant: new
        ("acme", ("GET", "/v1/tenant/data/{key}"), True),  # another call: new
    ):
        before = identity(path)
        fresh.record("ledger", tenant, call, allowed=allowed)
        assert identity(path) != before, (tenant, call, allowed)

    usage = UsageRecorder(tmp_path).load("ledger")
    seen = [(c.call, c.tenant, c.allowed, c.first_seen.second) for c in usage.used[READ]]
    assert seen == [
        ("GET /v1/tenant", "acme", True, 0),
        ("GET /v1/tenant", "acme", False, 1),
        ("GET /v1/tenant", "globex", True, 2),
        ("GET /v1/tenant/data/{key}", "acme", True, 3),
    ]
    assert list(usage.used) == [READ]
    assert not UsageRecorder(tmp_path).path("reports").exists()


def test_a_damaged_usage_record_is_bad_input_naming_the_file(tmp_path: Path) -> None:
    recorder = UsageRecorder(tmp_path)
    recorder.path("ledger").parent.mkdir(parents=True)
    recorder.path("ledger").write_text('{"kind": "PermissionUsage"}')
    with pytest.raises(InputError, match="usage record is not valid") as caught:
        recorder.load("ledger")
    assert str(recorder.path("ledger")) in str(caught.value.location)


def test_the_template_is_what_was_used_with_what_is_over_and_under_declared(
    tmp_path: Path,
) -> None:
    recorder = UsageRecorder(tmp_path)
    recorder.record("ledger", "acme", ("GET", "/v1/tenant"), allowed=True)
    recorder.record("ledger", "globex", ("GET", "/v1/tenant"), allowed=True)
    recorder.record("ledger", "acme", ("GET", "/v1/tenant/data/{key}"), allowed=True)
    recorder.record("ledger", "acme", ("PUT", "/v1/tenant/data/{key}"), allowed=False)
    usage = recorder.load("ledger")

    loose = permission_template(usage, [READ, SECRETS])
    assert loose.minimum == (READ, WRITE)
    assert loose.used == {
        READ: ("GET /v1/tenant", "GET /v1/tenant/data/{key}"),
        WRITE: ("PUT /v1/tenant/data/{key}",),
    }
    assert (loose.unused, loose.undeclared, loose.ok) == ((SECRETS,), (WRITE,), False)
    text = loose.to_yaml()
    assert yaml.safe_load(text) == {"permissions": [READ, WRITE]}
    assert f"# - {SECRETS}  # OVER-PRIVILEGED" in text
    assert f"- {WRITE}  # UNDECLARED" in text
    assert loose.to_json()["unused"] == [SECRETS]

    exact = permission_template(usage, [WRITE, READ])
    assert (exact.unused, exact.undeclared, exact.ok) == ((), (), True)
    assert "OVER-PRIVILEGED" not in exact.to_yaml() and "UNDECLARED" not in exact.to_yaml()

    nothing = permission_template(UsageRecorder(tmp_path).load("quiet"), [READ])
    assert (nothing.minimum, nothing.unused, nothing.ok) == ((), (READ,), False)
    assert yaml.safe_load(nothing.to_yaml()) == {"permissions": []}
    assert "No host-API call was observed" in nothing.to_yaml()


# -- sources ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "output", "expected"),
    [
        ("plugin.yaml", "build", True),
        ("src/ledger/server.py", "build", True),
        ("buildx/a.py", "build", True),
        ("dist/ledger/server.py", "build", False),
        ("build/ledger/server.py", "build", False),
        ("build", "build", False),
        ("out/gen/a.js", "out/gen", False),
        ("out/other.js", "out/gen", True),
        ("src/__pycache__/a.cpython-311.pyc", "build", False),
        ("src/a.pyc", "build", False),
        ("node_modules/x/index.js", "build", False),
        (".git/config", "build", False),
        ("src/.cache/x", "build", False),
        (".env", "build", False),
        ("src/a.py.swp", "build", False),
        ("src/a.py~", "build", False),
    ],
)
def test_what_counts_as_a_source(relative: str, output: str, expected: bool) -> None:
    assert is_source(relative, output) is expected


def test_the_source_digest_follows_the_sources_not_the_builds(tmp_path: Path) -> None:
    plugin = tmp_path / "ledger"
    (plugin / "src").mkdir(parents=True)
    (plugin / "plugin.yaml").write_text("name: ledger\n")
    (plugin / "src" / "app.py").write_text("GREETING = 'Hello'\n")
    os.utime(plugin / "plugin.yaml", (1_700_000_000, 1_700_000_000))
    os.utime(plugin / "src" / "app.py", (1_700_000_100, 1_700_000_100))
    first, newest = source_digest(plugin, "build")
    assert newest == 1_700_000_100

    for produced in ("dist/app.py", "build/app.py", "src/__pycache__/app.cpython-311.pyc"):
        (plugin / produced).parent.mkdir(parents=True, exist_ok=True)
        (plugin / produced).write_text("anything")
    assert source_digest(plugin, "build") == (first, newest)

    (plugin / "src" / "app.py").write_text("GREETING = 'Bonjour'\n")
    changed, newer = source_digest(plugin, "build")
    assert changed != first and newer > newest
    (plugin / "src" / "app.py").write_text("GREETING = 'Hello'\n")
    assert source_digest(plugin, "build")[0] == first  # contents, not times

    (plugin / "src" / "app.py").rename(plugin / "src" / "main.py")
    assert source_digest(plugin, "build")[0] != first  # names count too
    (plugin / "src" / "main.py").rename(plugin / "src" / "app.py")
    (plugin / "src" / "extra.py").write_text("")
    assert source_digest(plugin, "build")[0] != first  # a new (even empty) file counts


# -- the runtime contract in plugin.yaml -------------------------------------------------------


def manifest(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "apiVersion": "powerx.io/v1alpha1",
        "kind": "Plugin",
        "name": "ledger",
        "version": "1.0.0",
        "description": "A ledger.",
        "license": "MIT",
        "compatibility": {"powerx": ">=2.4,<3"},
        "entrypoint": "ledger/server.py",
        "healthCheck": {"http": {"path": "/healthz"}},
        "build": {"command": ["make"]},
        "serve": {"command": ["python3", "-m", "ledger.server"]},
    }
    for key, value in changes.items():
        if value is None:
            del data[key]
        else:
            data[key] = value
    return data


@pytest.mark.parametrize(
    "program", ["bin/serve", "python3", "./serve", "bin/../serve-inside", "/usr/bin/python3"]
)
def test_a_serve_program_given_as_a_path_must_stay_in_dist(program: str) -> None:
    inside = program in ("bin/serve", "python3", "./serve")
    if inside:
        assert ServeSpec.model_validate({"command": [program, "--port"]}).command[0] == program
        return
    with pytest.raises(ValidationError, match=f"the program {program!r}"):
        ServeSpec.model_validate({"command": [program]})


@pytest.mark.parametrize(
    ("program", "reason"),
    [
        ("../outside/serve", "must stay inside the plugin folder"),
        ("/usr/bin/python3", "not an absolute one"),
        ("bin\\serve", "use '/'"),
        ("C:/serve.exe", "not an absolute one"),
    ],
)
def test_a_serve_program_leaving_dist_is_refused_with_file_and_line(
    program: str, reason: str
) -> None:
    text = yaml.safe_dump(manifest(serve={"command": [program, "x"]}), sort_keys=False)
    with pytest.raises(InputError) as caught:
        parse_manifest(text.encode(), "plugin.yaml")
    assert reason in caught.value.message
    assert f"the program {program!r}" in caught.value.message
    line = next(n for n, ln in enumerate(text.splitlines(), 1) if ln.startswith("serve:"))
    assert caught.value.location is not None
    assert str(caught.value.location).startswith("plugin.yaml:")
    assert int(str(caught.value.location).split(":")[1]) > line  # at the command, not above


@pytest.mark.parametrize(
    "serve",
    [
        {"command": []},
        {"command": ["x"], "readySeconds": 0},
        {"command": ["x"], "readySeconds": 301},
    ],
)
def test_a_bad_serve_block_is_refused(serve: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        PluginManifest.model_validate(manifest(serve=serve))


@pytest.mark.parametrize(
    ("http", "serve", "error"),
    [
        ({"path": "/healthz"}, True, None),
        ({"path": "/healthz", "port": 8080}, False, None),
        ({"path": "/healthz"}, False, "needs a port unless the plugin has a 'serve' block"),
        ({"path": "/healthz", "port": 8080}, True, "leave out healthCheck.http.port"),
        ({"path": "/healthz", "port": 0}, False, "greater than or equal to 1"),
        ({"path": "healthz"}, True, "should match pattern"),
    ],
)
def test_the_http_check_port_rules(http: dict[str, Any], serve: bool, error: str | None) -> None:
    data = manifest(healthCheck={"http": http}, serve=None if not serve else manifest()["serve"])
    if error is None:
        loaded = PluginManifest.model_validate(data)
        assert loaded.health_check.http is not None
        assert loaded.health_check.http.port == http.get("port")
        assert (loaded.serve is not None) is serve
        return
    with pytest.raises(ValidationError, match=error):
        PluginManifest.model_validate(data)
