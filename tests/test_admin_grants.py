"""`px-admin grant|revoke` (only what plugin.yaml declares, read from the real package) and
`px-admin entitlement add|revoke|list` (the records activation and import check)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from admin_support import Site, json_of
from conftest import CliResult, RunCli

from pipeline.bundle.entitlements import Licensed, licence_problem, tenant_entitlements
from pipeline.cli.admin import cli
from pipeline.gitrepo import GitRepo
from pipeline.host.permissions import permission_template
from pipeline.models.base import API_VERSION
from pipeline.models.host import PermissionUsage
from pipeline.snapshot import Snapshot

PROD = "environments/prod/environment.yaml"


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path)


def grant(run_cli: RunCli, site: Site, *argv: str) -> CliResult:
    return site.admin(run_cli, "grant", *argv, "--env", "prod", "--store", str(site.store))


def test_a_grant_is_committed_under_the_tenant(run_cli: RunCli, site: Site) -> None:
    result = site.admin(
        run_cli, "grant", "acme", "hello", "tenant-data:read", "--env", "prod",
        "--store", str(site.store), "--format", "json",
    )  # fmt: skip
    data = json_of(result)
    assert data["action"] == "grant" and data["files"] == [PROD]
    assert "+    grants:\n+      hello:\n+        - tenant-data:read\n" in data["diff"]
    text = site.read(PROD)
    assert "  - id: acme   # the first customer\n    name: Acme Corporation\n    grants:" in text
    trailers = site.trailers()
    assert trailers["Plugin"] == "hello" and trailers["Permissions"] == "tenant-data:read"
    more = grant(run_cli, site, "acme", "hello", "network", "tenant-data:read")
    assert more.code == 0, more.err
    assert "        - tenant-data:read\n        - network" in site.read(PROD)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["acme", "hello", "secrets:read"], "does not declare secrets:read"),
        (["acme", "helo", "network"], "no plugin 'helo': did you mean 'hello'?"),
        (["acme", "hello", "netwrk"], "did you mean 'network'?"),
        (["acmee", "hello", "network"], "did you mean 'acme'?"),
        (["acme", "hello"], "at least one PERMISSION"),
    ],
)
def test_bad_grants_are_exit_2_with_nothing_committed(
    run_cli: RunCli, site: Site, argv: list[str], message: str
) -> None:
    before = site.repo.head()
    result = grant(run_cli, site, *argv)
    assert result.code == 2, result.out + result.err
    assert message in result.err
    assert site.repo.head() == before


def test_an_undeclared_permission_names_the_line_and_version(run_cli: RunCli, site: Site) -> None:
    result = grant(run_cli, site, "acme", "hello", "secrets:read")
    assert f"{PROD}:" in result.err and "hello's plugin.yaml (1.0.0)" in result.err


def test_a_grant_needs_the_artifact_store(
    run_cli: RunCli, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POWERX_STORE", raising=False)
    result = site.admin(run_cli, "grant", "acme", "hello", "network", "--env", "prod")
    assert result.code == 2 and "--store" in result.err
    empty = site.root / "empty-store"
    empty.mkdir()
    missing = site.admin(
        run_cli, "grant", "acme", "hello", "network", "--env", "prod", "--store", str(empty)
    )
    assert missing.code == 2 and "cannot read what hello@1.0.0 declares" in missing.err


def template_usage() -> PermissionUsage:
    return PermissionUsage.model_validate(
        {
            "apiVersion": API_VERSION,
            "kind": "PermissionUsage",
            "plugin": "hello",
            "used": {
                "tenant-data:read": [
                    {"call": "GET /v1/tenant", "tenant": "dev", "allowed": True,
                     "firstSeen": "2026-01-01T00:00:00Z"}
                ]
            },
        }
    )  # fmt: skip


@pytest.mark.parametrize("kind", ["yaml", "json"])
def test_a_least_privilege_template_is_granted(run_cli: RunCli, site: Site, kind: str) -> None:
    template = permission_template(template_usage(), ["tenant-data:read", "network"])
    path = site.root / f"hello.{kind}"
    text = template.to_yaml() if kind == "yaml" else json.dumps(template.to_json())
    path.write_text(text)
    result = site.admin(
        run_cli, "grant", "acme", "--from-template", str(path), "--env", "prod",
        "--store", str(site.store),
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "hello:\n        - network\n        - tenant-data:read" in site.read(PROD)


def test_bad_templates_are_refused(run_cli: RunCli, site: Site) -> None:
    store = ["--env", "prod", "--store", str(site.store)]
    other = site.root / "other.json"
    other.write_text(json.dumps({"plugin": "other", "permissions": ["network"]}))
    wrong = site.admin(run_cli, "grant", "acme", "hello", "--from-template", str(other), *store)
    assert wrong.code == 2 and "template of other, not of hello" in wrong.err
    bare = site.root / "bare.yaml"
    bare.write_text("permissions: [network]\n")
    nameless = site.admin(run_cli, "grant", "acme", "--from-template", str(bare), *store)
    assert nameless.code == 2 and "name PLUGIN" in nameless.err
    named = site.admin(run_cli, "grant", "acme", "hello", "--from-template", str(bare), *store)
    assert named.code == 0, named.err
    junk = site.root / "junk.yaml"
    junk.write_text("name: hello\n")
    assert site.admin(run_cli, "grant", "acme", "--from-template", str(junk), *store).code == 2
    typo = site.root / "typo.json"
    typo.write_text(json.dumps({"plugin": "hello", "permissions": ["netwrk"]}))
    refused = site.admin(run_cli, "grant", "acme", "--from-template", str(typo), *store)
    assert refused.code == 2 and "did you mean 'network'?" in refused.err
    broken = site.root / "broken.json"
    broken.write_text("{nope")
    assert site.admin(run_cli, "grant", "acme", "--from-template", str(broken), *store).code == 2
    extra = site.admin(run_cli, "grant", "acme", "hello", "x", "--from-template", str(bare), *store)
    assert extra.code == 2 and "no PERMISSION" in extra.err


def test_revoke_takes_permissions_back(run_cli: RunCli, site: Site) -> None:
    assert grant(run_cli, site, "acme", "hello", "network", "tenant-data:read").code == 0
    one = site.admin(run_cli, "revoke", "acme", "hello", "network", "--env", "prod")
    assert one.code == 0, one.err
    assert "network" not in site.read(PROD) and site.trailers()["Action"] == "revoke"
    unknown = site.admin(run_cli, "revoke", "acme", "hello", "network", "--env", "prod")
    assert unknown.code == 2 and "no granted permission 'network'" in unknown.err
    rest = site.admin(run_cli, "revoke", "acme", "hello", "--env", "prod")
    assert rest.code == 0 and "hello has no grant left for tenant acme" in rest.out
    assert "grants" not in site.read(PROD)
    none = site.admin(run_cli, "revoke", "acme", "hello", "--env", "prod")
    assert none.code == 2 and "granted to acme: nothing" in none.err


def test_an_entitlement_is_the_record_activation_checks(run_cli: RunCli, site: Site) -> None:
    result = site.admin(
        run_cli, "entitlement", "add", "acme", "hello", "--plan", "pro", "--until", "2099-01-01"
    )
    assert result.code == 0, result.err
    trailers = site.trailers()
    assert trailers["Action"] == "entitlement-add" and trailers["Environment"] == "test,prod"
    git = GitRepo(site.repo.path)
    held = tenant_entitlements(Snapshot(git, git.resolve("main")), "hello", "acme")
    purchase = held["purchase"]
    assert purchase.plan == "pro" and purchase.not_after.year == 2099
    wanted = Licensed("hello", "1.0.0", "LicenseRef-Hello", tenant="acme")
    assert licence_problem(wanted, [purchase], now=datetime.now(UTC)) is None
    trial = ["entitlement", "add", "acme", "hello", "--trial", "--until", "2098-01-01"]
    assert site.admin(run_cli, *trial).code == 0
    repo = ["--repo", str(site.repo.path)]
    listed = json_of(
        run_cli(cli, "entitlement", "list", "--tenant", "acme", *repo, "--format", "json")
    )
    assert {(e["type"], e["state"]) for e in listed["entitlements"]} == {
        ("purchase", "active"), ("trial", "active")
    }  # fmt: skip
    text = run_cli(cli, "entitlement", "list", "--plugin", "hello", *repo)
    assert "purchase  pro   2099-01-01  active" in text.out
    shown = run_cli(cli, "tenant", "show", "acme", *repo)
    assert "entitlement: hello purchase (pro plan) until 2099-01-01" in shown.out
    only_trial = site.admin(run_cli, "entitlement", "revoke", "acme", "hello", "--trial")
    assert only_trial.code == 0 and "trial.yaml" in only_trial.out
    gone = site.admin(run_cli, "entitlement", "revoke", "acme", "hello")
    assert gone.code == 0 and "purchase.yaml" in gone.out
    assert "no entitlements" in run_cli(cli, "entitlement", "list", *repo).out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["acme", "hello", "--plan", "pro", "--until", "2001-01-01"], "expiry in the past"),
        (["acme", "helo", "--plan", "pro", "--until", "2099-01-01"], "did you mean 'hello'?"),
        (["acmee", "hello", "--plan", "pro", "--until", "2099-01-01"], "did you mean 'acme'?"),
        (["acme", "hello", "--until", "2099-01-01"], "names its plan"),
        (["globex", "hello", "--plan", "p", "--until", "2099-01-01", "--env", "test"], "tenant"),
    ],
)
def test_bad_entitlements_are_exit_2(
    run_cli: RunCli, site: Site, argv: list[str], message: str
) -> None:
    before = site.repo.head()
    result = site.admin(run_cli, "entitlement", "add", *argv)
    assert result.code == 2, result.out + result.err
    assert message in result.err and site.repo.head() == before


def test_revoking_what_is_not_held_is_exit_2(run_cli: RunCli, site: Site) -> None:
    result = site.admin(run_cli, "entitlement", "revoke", "acme", "hello")
    assert result.code == 2 and "no entitlement 'hello'" in result.err
    site.admin(
        run_cli, "entitlement", "add", "acme", "hello", "--plan", "p", "--until", "2099-01-01"
    )
    trial = site.admin(run_cli, "entitlement", "revoke", "acme", "hello", "--trial")
    assert trial.code == 2 and "holds no trial of hello" in trial.err
