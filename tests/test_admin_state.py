"""`pipeline.admin.state`: what `px-admin diff` and `drift` read of a revision."""

from __future__ import annotations

from pathlib import Path

import pytest
from admin_support import Site
from conftest import RunCli

from pipeline.admin.state import (
    entitlement_records,
    environment_names,
    environment_view,
    environment_views,
    load_environment,
    snapshot_at,
)
from pipeline.errors import InputError
from pipeline.gitrepo import GitRepo


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path)


def test_the_reader_sees_environments_tenants_groups_grants_and_entitlements(
    run_cli: RunCli, site: Site
) -> None:
    store = str(site.store)
    assert (
        site.admin(
            run_cli, "grant", "acme", "hello", "network", "--env", "prod", "--store", store
        ).code
        == 0
    )
    until = ["--plan", "pro", "--until", "2099-01-01"]
    assert site.admin(run_cli, "entitlement", "add", "acme", "hello", *until).code == 0
    site.repo.commit(
        {
            "entitlements/hello.yaml": "apiVersion: powerx.io/v1alpha1\nkind: Entitlement\n"
            "plugin: hello\nlicensee: Site\nnotAfter: 2099-01-01T00:00:00Z\n",
            "entitlements/README.md": "not a record\n",
        }
    )
    snapshot = snapshot_at(GitRepo(site.repo.path), "main")
    assert environment_names(snapshot) == ["test", "staging", "prod"]
    views = environment_views(snapshot)
    assert list(views) == ["test", "staging", "prod"]
    prod = views["prod"]
    assert prod.position == 2 and prod.groups == {"canary": ("globex",)}
    assert prod.grants()["acme"] == {"hello": ("network",)}
    assert prod.groups_of("globex") == ["canary"] and prod.tenant("nobody") is None
    everything = [record.path for record in entitlement_records(snapshot)]
    assert everything == ["entitlements/hello.yaml", "entitlements/hello/acme/purchase.yaml"]
    assert [r.path for r in entitlement_records(snapshot, "acme")] == everything[1:]
    assert environment_view(snapshot, "test").tenants[0].id == "acme"


def test_an_environment_without_its_file_or_name_is_bad_input(site: Site) -> None:
    site.repo.commit({"environments/staging/environment.yaml": None}, "no staging file")
    snapshot = snapshot_at(GitRepo(site.repo.path), "main")
    with pytest.raises(InputError, match=r"has no environments/staging/environment\.yaml"):
        load_environment(snapshot, "staging")
    with pytest.raises(InputError, match="did you mean 'prod'"):
        load_environment(snapshot, "prd")
    assert "staging" not in environment_views(snapshot)


def test_a_plugin_not_running_in_the_environment_is_judged_by_its_newest_release(
    run_cli: RunCli, site: Site
) -> None:
    site.repo.commit(site.release("tally", "2.0.0", ("secrets:read",), ("test",)), "tally")
    store = ["--env", "prod", "--store", str(site.store)]
    ok = site.admin(run_cli, "grant", "globex", "tally", "secrets:read", *store)
    assert ok.code == 0, ok.err
    refused = site.admin(run_cli, "grant", "globex", "tally", "network", *store)
    assert refused.code == 2 and "tally's plugin.yaml (2.0.0)" in refused.err
