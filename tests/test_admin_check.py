"""`powerx check` judges admin changes like any other: groups, grants, entitlements."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from admin_support import PROD, Site
from conftest import RunCli

from pipeline.cli.powerx import cli as powerx

PROD_FILE = "environments/prod/environment.yaml"


@pytest.fixture
def site(tmp_path: Path) -> Site:
    site = Site(tmp_path)
    site.repo.git("checkout", "-q", "-b", "change")
    return site


def check(run_cli: RunCli, site: Site, *extra: str) -> tuple[int, list[dict[str, Any]]]:
    result = run_cli(
        powerx, "check", "--repo", str(site.repo.path), "--base", "main", "--format", "json",
        *extra,
    )  # fmt: skip
    return result.code, json.loads(result.out)["results"]


def with_grant(plugin: str, *permissions: str) -> str:
    listed = ", ".join(permissions)
    return PROD.replace(
        "    name: Acme Corporation\n",
        f"    name: Acme Corporation\n    grants:\n      {plugin}: [{listed}]\n",
    )


def failing(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in results if r["status"] in ("fail", "error")]


def test_a_group_naming_an_unknown_tenant_is_refused(run_cli: RunCli, site: Site) -> None:
    site.repo.commit({PROD_FILE: PROD.replace("[globex]", "[globex, initch]")})
    code, results = check(run_cli, site)
    assert code == 2
    (bad,) = failing(results)
    assert "group 'canary' names unknown tenants: initch" in bad["message"]
    assert bad["file"] == PROD_FILE


def test_a_grant_for_an_unknown_plugin_is_refused(run_cli: RunCli, site: Site) -> None:
    site.repo.commit({PROD_FILE: with_grant("helo", "network")})
    code, results = check(run_cli, site)
    assert code == 1
    (bad,) = failing(results)
    assert (
        bad["gate"] == "grants" and "unknown plugin 'helo': did you mean 'hello'?" in bad["message"]
    )
    assert (bad["file"], bad["line"]) == (PROD_FILE, 10)


def test_a_grant_for_an_undeclared_permission_is_refused_with_the_store(
    run_cli: RunCli, site: Site
) -> None:
    site.repo.commit({PROD_FILE: with_grant("hello", "network", "secrets:read")})
    code, results = check(run_cli, site, "--store", str(site.store))
    assert code == 1
    (bad,) = failing(results)
    assert "does not declare secrets:read" in bad["message"]
    unchecked_code, unchecked = check(run_cli, site)
    assert unchecked_code == 0
    assert any(r["gate"] == "grants" and r["status"] == "warn" for r in unchecked)


def test_a_declared_grant_passes(run_cli: RunCli, site: Site) -> None:
    site.repo.commit({PROD_FILE: with_grant("hello", "network")})
    code, results = check(run_cli, site, "--store", str(site.store))
    assert code == 0, failing(results)
    assert any(r["gate"] == "grants" and r["status"] == "pass" for r in results)


def entitlement(plugin: str, tenant: str | None, kind: str = "purchase") -> str:
    lines = [
        "apiVersion: powerx.io/v1alpha1",
        "kind: Entitlement",
        f"plugin: {plugin}",
        "licensee: Acme",
        "notAfter: 2099-01-01T00:00:00Z",
        f"type: {kind}",
    ]
    if tenant:
        lines.append(f"tenant: {tenant}")
    if kind == "purchase":
        lines.append("plan: pro")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("path", "text", "message"),
    [
        ("entitlements/helo/acme/purchase.yaml", entitlement("helo", "acme"), "did you mean 'hello'"),
        ("entitlements/hello/acmee/purchase.yaml", entitlement("hello", "acmee"), "unknown tenant 'acmee'"),
        ("entitlements/hello/acme/trial.yaml", entitlement("hello", "acme"), "do not match the file's path"),
        ("entitlements/hello.yaml", entitlement("hello", None, "contract"), ""),
    ],
)  # fmt: skip
def test_entitlements_are_checked(
    run_cli: RunCli, site: Site, path: str, text: str, message: str
) -> None:
    site.repo.commit({path: text})
    code, results = check(run_cli, site)
    if not message:
        assert code == 0 and any(
            r["gate"] == "entitlement" and r["status"] == "pass" for r in results
        )
        return
    assert code == 1
    (bad,) = failing(results)
    assert bad["gate"] == "entitlement" and message in bad["message"]


def test_a_removed_or_misplaced_entitlement_is_a_warning(run_cli: RunCli, site: Site) -> None:
    site.repo.git("checkout", "-q", "main")
    site.repo.commit({"entitlements/hello.yaml": entitlement("hello", None, "contract")})
    site.repo.git("checkout", "-q", "-B", "change")
    site.repo.commit({"entitlements/hello.yaml": None, "entitlements/notes.txt": "x"})
    code, results = check(run_cli, site)
    assert code == 0
    messages = {r["message"] for r in results if r["gate"] == "entitlement"}
    assert messages == {"entitlement removed", "not an entitlement path: it is not checked"}
