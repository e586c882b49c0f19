"""The local host's HTTP face, end to end: the host API, its grants, the proxy, the template.

One real `powerx host` serves a store in which real test plugins (tests/hostplugins.py) were
installed with `powerx plugin install --from DIR`. Each plugin answers `/api/host/<route>` by
calling the host API `$POWERX_API/<route>` with its own token, so a test sees exactly what a
plugin sees. Every test uses plugins of its own, so none depends on another's calls.
"""

from __future__ import annotations

import json
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from hostplugins import (
    Answer,
    ServerProcess,
    install,
    listening_addresses,
    plugin_processes,
    request,
    run,
    stop_host,
    write_plugin,
)

READ, WRITE, SECRETS = "tenant-data:read", "tenant-data:write", "secrets:read"

PLUGINS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # name: (declared permissions, tenants it is installed for with --grant-declared)
    "alpha": ((READ, WRITE), ("acme", "globex")),
    "beta": ((READ, WRITE), ("acme",)),
    "gamma": ((READ,), ("acme",)),
    "delta": ((READ, SECRETS), ("acme",)),
    "exact": ((READ,), ("acme",)),
    "loose": ((READ, SECRETS), ("acme",)),
}


@dataclass
class Api:
    """A running host and the store and plugin folders behind it."""

    url: str
    store: Path
    sources: Path
    server: ServerProcess
    revisions: dict[tuple[str, str], str]
    """(tenant, plugin) -> the revision `powerx plugin install` printed"""

    def via(
        self,
        plugin: str,
        path: str,
        *,
        tenant: str = "acme",
        method: str = "GET",
        body: bytes | None = None,
    ) -> Answer:
        """A request to `path` of `plugin`'s own server, through the host's proxy."""
        return request(f"{self.url}/t/{tenant}/p/{plugin}/{path}", method=method, body=body)

    def call(
        self,
        plugin: str,
        route: str,
        *,
        tenant: str = "acme",
        method: str = "GET",
        body: bytes | None = None,
    ) -> Answer:
        """The host-API call `route` (e.g. 'tenant') made by `plugin` with its token."""
        return self.via(plugin, f"api/host/{route}", tenant=tenant, method=method, body=body)

    def direct(self, route: str, headers: dict[str, str] | None = None) -> Answer:
        """A host-API request made by the test itself (not by a plugin)."""
        return request(f"{self.url}/v1/{route}", headers=headers)

    def powerx(self, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return run(["powerx", "plugin", *argv, "--plugin-store", str(self.store)], input=stdin)

    def template(self, plugin: str, *argv: str) -> subprocess.CompletedProcess[str]:
        folder = str(self.sources / plugin)
        store = ["--plugin-store", str(self.store)]
        return run(["px-plugin", "permissions", "template", folder, *store, *argv])

    def token(self, plugin: str, tenant: str = "acme") -> str:
        (found,) = [p for p in plugin_processes(self.store, plugin) if p.tenant == tenant]
        return found.token


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    root = tmp_path_factory.mktemp("hostapi")
    store, sources = root / "store", root / "src"
    revisions = {}
    for name, (permissions, tenants) in PLUGINS.items():
        folder = write_plugin(sources, name, permissions=permissions)
        for tenant in tenants:
            out = install(folder, store, tenant, "--grant-declared").stdout
            revisions[tenant, name] = out.split(f"installed {name} ", 1)[1].split(" for tenant")[0]
    server = ServerProcess(["powerx", "host", "--plugin-store", str(store), "--port", "0"])
    server.start()
    try:
        server.wait_for("following the store")
        yield Api(server.url, store, sources, server, revisions)
    finally:
        stop_host(server, store)


def test_a_granted_call_reaches_the_host_api(api: Api) -> None:
    acme = api.call("alpha", "tenant")
    assert (acme.status, acme.json()) == (200, {"name": "acme", "displayName": "acme"})
    globex = api.call("alpha", "tenant", tenant="globex")
    assert (globex.status, globex.json()) == (200, {"name": "globex", "displayName": "globex"})


def test_a_call_outside_the_grant_is_refused_until_granted_without_a_restart(api: Api) -> None:
    pids = [p.pid for p in plugin_processes(api.store, "gamma")]
    # a permission gamma does not declare: refused, whatever the tenant grants
    refused = api.call("gamma", "tenant/data/k", method="PUT", body=b"value")
    assert refused.status == 403
    body = refused.json()
    write_grant = f"powerx plugin grant gamma {WRITE} --tenant acme --plugin-store {api.store}"
    assert body["permission"] == WRITE and body["grant"] == write_grant  # both are missing
    assert WRITE in body["message"] and "gamma" in body["message"]
    assert "plugin.yaml" in body["declare"]
    api.server.wait_for("! refused: gamma may not call PUT /v1/tenant/data/{key}")
    granted = api.powerx("grant", "gamma", WRITE, "--tenant", "acme")
    assert granted.returncode == 0, granted.stderr
    assert f"now: tenant acme grants gamma: {READ}, {WRITE}" in granted.stdout
    still = api.call("gamma", "tenant/data/k", method="PUT", body=b"value")
    assert still.status == 403 and "grant" not in still.json()
    assert "does not declare" in still.json()["message"] and "declare" in still.json()
    assert api.call("gamma", "tenant/data/k").status == 404  # nothing was written

    secret = api.call("gamma", "secrets/x")
    assert (secret.status, secret.json()["permission"]) == (403, SECRETS)
    api.server.wait_for("! refused: gamma may not call GET /v1/secrets/{name}")

    # a permission gamma declares, revoked by the tenant: refused with the grant command,
    # then allowed again once granted, without a restart
    revoked = api.powerx("revoke", "gamma", READ, "--tenant", "acme")
    assert revoked.returncode == 0, revoked.stderr
    refused = api.call("gamma", "tenant")
    grant = f"powerx plugin grant gamma {READ} --tenant acme --plugin-store {api.store}"
    assert (refused.status, refused.json()["permission"]) == (403, READ)
    assert refused.json()["grant"] == grant and "declare" not in refused.json()
    assert api.powerx("grant", "gamma", READ, "--tenant", "acme").returncode == 0
    assert api.call("gamma", "tenant").status == 200
    assert api.powerx("revoke", "gamma", WRITE, "--tenant", "acme").returncode == 0

    # the same host and the same plugin process answered all along
    assert [p.pid for p in plugin_processes(api.store, "gamma")] == pids
    assert api.server.process is not None and api.server.process.poll() is None
    assert api.server.output.count("PowerX local host at") == 1


def test_data_put_then_get_round_trips(api: Api) -> None:
    assert api.call("alpha", "tenant/data/note").status == 404
    assert api.call("alpha", "tenant/data/note", method="PUT", body=b"first").status == 204
    assert api.call("alpha", "tenant/data/note").body == b"first"
    binary = bytes(range(256)) * 4
    assert api.call("alpha", "tenant/data/note", method="PUT", body=binary).status == 204
    again = api.call("alpha", "tenant/data/note")
    assert (again.status, again.body) == (200, binary)

    bad_key = api.call("alpha", "tenant/data/.hidden", method="PUT", body=b"x")
    assert bad_key.status == 400 and "not a valid data key" in bad_key.json()["message"]
    newline = api.call("alpha", "tenant/data/note%0A", method="PUT", body=b"x")
    assert newline.status == 400 and "not a valid data key" in newline.json()["message"]
    slash = api.call("alpha", "tenant/data/a%2F..%2Fescape", method="PUT", body=b"x")
    assert slash.status == 404  # no such route: the host decodes before it routes
    assert not list(api.store.rglob("*escape*"))
    too_large = api.call("alpha", "tenant/data/note", method="PUT", body=b"x" * (1024 * 1024 + 1))
    assert too_large.status == 413
    assert api.call("alpha", "tenant/data/note").body == binary


def test_one_plugins_token_never_opens_another_plugins_or_tenants_data(api: Api) -> None:
    assert api.call("alpha", "tenant/data/shared", method="PUT", body=b"alpha").status == 204
    assert api.call("beta", "tenant/data/shared").status == 404
    assert api.call("beta", "tenant/data/shared", method="PUT", body=b"beta").status == 204
    assert api.call("alpha", "tenant/data/shared").body == b"alpha"
    assert api.call("beta", "tenant/data/shared").body == b"beta"

    # the same plugin for another tenant: another namespace
    assert api.call("alpha", "tenant/data/shared", tenant="globex").status == 404
    put = api.call("alpha", "tenant/data/shared", tenant="globex", method="PUT", body=b"globex")
    assert put.status == 204
    assert api.call("alpha", "tenant/data/shared").body == b"alpha"
    assert api.call("alpha", "tenant/data/shared", tenant="globex").body == b"globex"

    # each instance's own token, used directly, opens its own namespace and nothing else
    tokens = {
        "alpha@acme": api.token("alpha"),
        "beta@acme": api.token("beta"),
        "alpha@globex": api.token("alpha", "globex"),
    }
    assert len(set(tokens.values())) == 3
    seen = {
        who: api.direct("tenant/data/shared", {"Authorization": f"Bearer {token}"}).body
        for who, token in tokens.items()
    }
    assert seen == {"alpha@acme": b"alpha", "beta@acme": b"beta", "alpha@globex": b"globex"}


def test_a_call_without_the_right_bearer_token_is_401(api: Api) -> None:
    token = api.token("alpha")
    assert api.direct("tenant", {"Authorization": f"Bearer {token}"}).status == 200
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": f"Bearer {token[:-1]}"},
        {"Authorization": f"Basic {token}"},
        {"Authorization": token},
    ):
        answer = api.direct("tenant", headers)
        assert answer.status == 401, headers
        assert answer.json()["error"] == "unauthorized"
        assert "POWERX_TOKEN" in answer.json()["message"]
    sneaky = request(f"{api.url}/v1/tenant/data/sneaky", method="PUT", body=b"x")
    assert sneaky.status == 401
    looked = api.direct("tenant/data/sneaky", {"Authorization": f"Bearer {token}"})
    assert looked.status == 404  # nothing was written


def test_a_secret_set_from_stdin_is_readable_with_secrets_read_and_never_printed(
    api: Api,
) -> None:
    value = "s3cr3t-Value-4711"
    for output_format in ("text", "json"):
        options = ["--tenant", "acme", "--format", output_format]
        result = api.powerx("secret", "delta", "api-key", *options, stdin=value + "\n")
        assert result.returncode == 0, result.stderr
        assert value not in result.stdout + result.stderr
        assert "api-key" in result.stdout
    assert json.loads(result.stdout)["characters"] == len(value)

    path = api.store / "tenants" / "acme" / "secrets" / "delta.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    read = api.call("delta", "secrets/api-key")
    assert (read.status, read.body.decode()) == (200, value)
    assert api.call("delta", "secrets/other").status == 404
    # a plugin without secrets:read cannot read it, nor its own (alpha has none set)
    refused = api.call("alpha", "secrets/api-key")
    assert refused.status == 403 and value.encode() not in refused.body


def test_an_unknown_tenant_or_plugin_is_404_with_a_guess(api: Api) -> None:
    tenant = request(f"{api.url}/t/acmee/p/alpha/")
    assert tenant.status == 404 and tenant.headers["content-type"] == "application/json"
    assert tenant.json()["error"] == "unknown tenant"
    assert "did you mean 'acme'?" in tenant.json()["message"]
    assert tenant.json()["known"] == ["acme", "globex"]

    plugin = request(f"{api.url}/t/acme/p/alpah/page")
    assert plugin.status == 404 and plugin.json()["error"] == "unknown plugin"
    assert "did you mean 'alpha'?" in plugin.json()["message"]

    nothing_close = request(f"{api.url}/t/acme/p/zzzzzz/")
    assert nothing_close.status == 404 and "did you mean" not in nothing_close.json()["message"]


def test_the_proxy_forwards_the_prefix_and_names_the_revision(api: Api) -> None:
    for tenant in ("acme", "globex"):
        answer = api.via("alpha", "api/headers", tenant=tenant)
        assert answer.status == 200
        headers = {k.lower(): v for k, v in answer.json().items()}
        assert headers["x-forwarded-prefix"] == f"/t/{tenant}/p/alpha"
        revision = api.revisions[tenant, "alpha"]
        assert answer.headers["x-powerx-revision"] == revision
        (shown,) = [
            p
            for p in api.server.status()["plugins"]
            if (p["tenant"], p["plugin"]) == (tenant, "alpha")
        ]
        assert (shown["state"], shown["revision"]) == ("running", revision)

    # the path and query reach the plugin as sent; no query adds no '?'
    page = api.via("alpha", "some/page?x=1&y=%20")
    assert page.body == b"Hello, acme! /some/page?x=1&y=%20"
    assert api.via("alpha", "").body == b"Hello, acme! /"
    # still percent-encoded: an encoded '/' stays inside its segment, nothing is dropped
    assert api.via("alpha", "a%2Fb/c%20d%0A").body == b"Hello, acme! /a%2Fb/c%20d%0A"
    encoded_prefix = request(f"{api.url}/t/ac%6De/p/alpha/page%20one")
    assert encoded_prefix.body == b"Hello, acme! /page%20one"


def test_the_plugin_address_without_a_slash_redirects(api: Api) -> None:
    for method in ("GET", "POST"):
        answer = request(f"{api.url}/t/acme/p/alpha", method=method)
        assert answer.status == 307
        assert answer.headers["location"] == "/t/acme/p/alpha/"


def test_the_host_listens_on_loopback_by_default(api: Api) -> None:
    assert api.url.startswith("http://127.0.0.1:")
    port = int(api.url.rsplit(":", 1)[1])
    assert listening_addresses(port) == {"127.0.0.1"}
    info = json.loads((api.store / "host" / "host.json").read_text())
    assert info["url"] == api.url and info["pid"] == api.server.process.pid  # type: ignore[union-attr]


def test_a_broken_tenant_yaml_answers_500_naming_the_file_without_a_traceback(api: Api) -> None:
    settings = api.store / "tenants" / "globex" / "tenant.yaml"
    text = settings.read_text()
    settings.write_text(text + "grants: [oops\n")  # a hand edit half done
    try:
        broken = api.call("alpha", "tenant", tenant="globex")
        assert broken.status == 500
        assert broken.json()["message"].startswith(f"{settings}:")
        assert "invalid YAML" in broken.json()["message"]
        api.server.wait_for(f"! GET /v1/tenant: {settings}:")
        assert api.call("alpha", "tenant").status == 200  # acme's file is fine
    finally:
        settings.write_text(text)
    assert api.call("alpha", "tenant", tenant="globex").status == 200
    assert "Traceback" not in api.server.output


# -- px-plugin permissions template ----------------------------------------------------------


def test_the_template_lists_exactly_what_was_used_and_exits_0_when_exact(
    api: Api, tmp_path: Path
) -> None:
    before = api.template("exact", "--format", "json")
    assert before.returncode == 1
    assert json.loads(before.stdout)["permissions"] == []
    assert json.loads(before.stdout)["unused"] == [READ]
    assert f"over-privileged: {READ}" in before.stderr

    assert api.call("exact", "tenant").status == 200
    assert api.call("exact", "tenant/data/missing").status == 404  # allowed, just empty
    assert api.call("exact", "tenant").status == 200  # the same call again: no new entry

    result = api.template("exact", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "plugin": "exact",
        "permissions": [READ],
        "used": {READ: ["GET /v1/tenant", "GET /v1/tenant/data/{key}"]},
        "declared": [READ],
        "unused": [],
        "undeclared": [],
        "unobserved": [],
    }
    assert result.stderr == ""

    text = api.template("exact")
    assert text.returncode == 0
    assert f"  - {READ}\n" in text.stdout
    assert "needed by GET /v1/tenant\n" in text.stdout
    assert "needed by GET /v1/tenant/data/{key}\n" in text.stdout
    assert "OVER-PRIVILEGED" not in text.stdout and "UNDECLARED" not in text.stdout

    out = tmp_path / "permissions.yaml"
    written = api.template("exact", "-o", str(out))
    assert written.returncode == 0
    assert written.stdout == f"wrote {out}\n"
    assert out.read_text() == text.stdout
    assert yaml.safe_load(out.read_text()) == {"permissions": [READ]}


def test_the_template_flags_over_privileged_and_undeclared_permissions(api: Api) -> None:
    assert api.call("loose", "tenant").status == 200
    assert api.call("loose", "tenant/data/k", method="PUT", body=b"v").status == 403

    result = api.template("loose", "--format", "json")
    assert result.returncode == 1
    assert json.loads(result.stdout) == {
        "plugin": "loose",
        "permissions": [READ, WRITE],
        "used": {READ: ["GET /v1/tenant"], WRITE: ["PUT /v1/tenant/data/{key}"]},
        "declared": [READ, SECRETS],
        "unused": [SECRETS],
        "undeclared": [WRITE],
        "unobserved": [],
    }
    assert f"over-privileged: {SECRETS} is declared but no call used it" in result.stderr
    assert f"undeclared: {WRITE} is used but not declared" in result.stderr

    text = api.template("loose")
    assert text.returncode == 1
    assert f"  - {WRITE}  # UNDECLARED" in text.stdout
    assert f"# - {SECRETS}  # OVER-PRIVILEGED" in text.stdout
    # what it should paste: exactly the permissions used
    assert yaml.safe_load(text.stdout) == {"permissions": [READ, WRITE]}
