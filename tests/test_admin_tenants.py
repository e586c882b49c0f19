"""`px-admin tenant|group`: environment.yaml edited with its comments, one commit each,
by an admin of that environment only."""

from __future__ import annotations

from pathlib import Path

import pytest
from admin_support import Site, json_of
from conftest import RunCli

from pipeline.cli.admin import cli


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path)


PROD = "environments/prod/environment.yaml"


def test_tenant_add_commits_the_file_with_its_comments_and_trailers(
    run_cli: RunCli, site: Site
) -> None:
    before = site.repo.head()
    result = site.admin(
        run_cli, "tenant", "add", "initech", "--env", "prod", "--name", "Initech",
        "--group", "canary",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "+  - id: initech" in result.out and "+  canary: [globex, initech]" in result.out
    assert "Add tenant initech to prod: commit" in result.out
    assert site.repo.git("rev-parse", "main~1") == before  # exactly one commit
    text = site.read(PROD)
    assert "# Production: every paying tenant." in text
    assert "  - id: acme   # the first customer" in text
    assert "  # Tenants that take new versions first.\n  canary: [globex, initech]" in text
    assert "position: 2   # index in policies/promotion.yaml" in text
    trailers = site.trailers()
    assert trailers["Action"] == "tenant-add" and trailers["Environment"] == "prod"
    assert trailers["Operator"] == "ada" and trailers["Tenant"] == "initech"
    assert site.repo.git("status", "--porcelain") == ""  # the work tree follows


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["tenant", "add", "acme", "--env", "prod"], f"{PROD}:7:5: tenant 'acme' already exists"),
        (["tenant", "add", "zed", "--env", "prd"], "did you mean 'prod'?"),
        (["tenant", "add", "Zed!", "--env", "prod"], "tenant name 'Zed!' must be lower-case"),
        (["tenant", "add", "zed", "--env", "prod", "--group", "canery"], "did you mean 'canary'"),
        (["tenant", "remove", "acmee", "--env", "prod"], "did you mean 'acme'?"),
        (["group", "assign", "canary", "globx", "--env", "prod"], "did you mean 'globex'?"),
        (["group", "assign", "canary", "globex", "--env", "prod"], "already in group canary"),
        (["group", "assign", "canary", "acme", "--remove", "--env", "prod"], "no member 'acme'"),
        (["group", "add", "canary", "--env", "prod"], "group 'canary' already exists"),
        (["group", "remove", "canery", "--env", "prod"], "did you mean 'canary'?"),
        (["group", "add", "beta", "acm", "--env", "prod"], "did you mean 'acme'?"),
    ],
)
def test_bad_input_is_exit_2_with_nothing_committed(
    run_cli: RunCli, site: Site, argv: list[str], message: str
) -> None:
    before = site.repo.head()
    result = site.admin(run_cli, *argv)
    assert result.code == 2, result.out + result.err
    assert message in result.err
    assert site.repo.head() == before and site.repo.git("status", "--porcelain") == ""


def test_an_admin_of_test_cannot_change_prod(run_cli: RunCli, site: Site) -> None:
    before = site.repo.head()
    refused = site.admin(run_cli, "tenant", "add", "zed", "--env", "prod", operator="tom")
    assert refused.code == 1
    assert "tom may not change prod: the role there is viewer in prod" in refused.err
    assert site.repo.head() == before
    allowed = site.admin(run_cli, "tenant", "add", "zed", "--env", "test", operator="tom")
    assert allowed.code == 0, allowed.err
    assert site.trailers()["Operator"] == "tom"
    nobody = run_cli(cli, "tenant", "add", "zoe", "--env", "test", "--repo", str(site.repo.path))
    assert nobody.code == 2 and "--operator" in nobody.err


def test_dry_run_prints_the_plan_and_writes_nothing(run_cli: RunCli, site: Site) -> None:
    before = site.repo.head()
    result = site.admin(run_cli, "group", "assign", "canary", "acme", "--env", "prod", "--dry-run")
    assert result.code == 0, result.err
    assert "-  canary: [globex]\n+  canary: [globex, acme]" in result.out
    assert "dry run: nothing committed" in result.out
    assert site.repo.head() == before and site.repo.git("status", "--porcelain") == ""


def test_groups_are_added_assigned_and_removed(run_cli: RunCli, site: Site) -> None:
    assert site.admin(run_cli, "group", "add", "beta", "acme", "--env", "prod").code == 0
    assert "  beta: [acme]" in site.read(PROD)
    assert site.trailers()["Action"] == "group-add"
    assign = site.admin(run_cli, "group", "assign", "beta", "globex", "--env", "prod")
    assert assign.code == 0 and "  beta: [acme, globex]" in site.read(PROD)
    out = site.admin(run_cli, "group", "assign", "beta", "acme", "--remove", "--env", "prod")
    assert out.code == 0 and "  beta: [globex]" in site.read(PROD)
    assert site.trailers()["Action"] == "group-unassign"
    for group in ("beta", "canary"):
        assert site.admin(run_cli, "group", "remove", group, "--env", "prod").code == 0
    text = site.read(PROD)
    assert "groups: {}" in text and "canary" not in text  # the last group leaves valid YAML


def test_a_group_running_a_canary_is_not_removed(run_cli: RunCli, site: Site) -> None:
    state = site.read("environments/prod/plugins/hello.yaml")
    canary = (
        "\ncanary:\n  version: 1.0.0\n  digest: " + "a" * 64 + "\n  weight: 10\n  step: 0\n"
        "  group: canary\n  startedAt: 2026-01-01T00:00:00Z\n"
        "  stepStartedAt: 2026-01-01T00:00:00Z\n"
    )
    site.repo.commit({"environments/prod/plugins/hello.yaml": state + canary}, "a rollout")
    result = site.admin(run_cli, "group", "remove", "canary", "--env", "prod")
    assert result.code == 2 and "runs the canary of hello" in result.err


def test_removal_is_refused_while_grants_or_entitlements_remain(
    run_cli: RunCli, site: Site
) -> None:
    store = str(site.store)
    grant = ["grant", "globex", "hello", "network", "--env", "prod", "--store", store]
    assert site.admin(run_cli, *grant).code == 0
    until = ["--plan", "pro", "--until", "2099-01-01"]
    assert site.admin(run_cli, "entitlement", "add", "globex", "hello", *until).code == 0
    before = site.repo.head()
    refused = site.admin(run_cli, "tenant", "remove", "globex", "--env", "prod")
    assert refused.code == 2
    assert "still has plugin hello (granted network); entitlement" in refused.err
    assert "--offboard" in refused.err and site.repo.head() == before
    done = site.admin(run_cli, "tenant", "remove", "globex", "--env", "prod", "--offboard")
    assert done.code == 0, done.err
    assert "revoked the grant of plugin hello (granted network)" in done.out
    assert "revoked entitlement entitlements/hello/globex/purchase.yaml" in done.out
    assert "removed from group canary" in done.out
    assert site.repo.git("rev-parse", "main~1") == before  # one commit did it all
    assert "globex" not in site.read(PROD)
    assert site.repo.git("ls-tree", "-r", "--name-only", "main", "entitlements") == ""
    assert site.trailers()["Action"] == "tenant-offboard"


def test_a_tenant_without_grants_is_simply_removed(run_cli: RunCli, site: Site) -> None:
    result = site.admin(run_cli, "tenant", "remove", "acme", "--env", "test")
    assert result.code == 0, result.err
    assert "tenants: []" in site.read("environments/test/environment.yaml")
    assert site.trailers()["Action"] == "tenant-remove"


def test_tenant_list_and_show(run_cli: RunCli, site: Site) -> None:
    repo = ["--repo", str(site.repo.path)]
    listed = json_of(run_cli(cli, "tenant", "list", *repo, "--format", "json"))
    rows = {(row["environment"], row["tenant"]): row for row in listed["tenants"]}
    assert set(rows) == {("test", "acme"), ("prod", "acme"), ("prod", "globex")}
    assert rows[("prod", "globex")]["groups"] == ["canary"]
    text = run_cli(cli, "tenant", "list", "--env", "prod", *repo)
    assert text.code == 0 and "globex" in text.out and "canary" in text.out
    shown = json_of(run_cli(cli, "tenant", "show", "acme", *repo, "--format", "json"))
    assert [e["environment"] for e in shown["environments"]] == ["test", "prod"]
    assert "Acme Corporation" in run_cli(cli, "tenant", "show", "acme", *repo).out
    missing = run_cli(cli, "tenant", "show", "acmee", *repo)
    assert missing.code == 2 and "did you mean 'acme'?" in missing.err
