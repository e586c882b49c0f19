"""An expired trial deactivates at the next real agent sync (injected clock); a purchase
activates the plugin again; the offline import's licence check sees tenant entitlements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from factories import API
from test_market_trials_support import COMMERCIAL, T0, commercial_package, market_repo

from pipeline.agent import PluginStore, sync
from pipeline.agent.licence import licence_root_for
from pipeline.bundle.entitlements import (
    Licensed,
    covering_entitlement,
    entitlement_problem,
    licence_problem,
)
from pipeline.gitrepo import GitRepo
from pipeline.market.trials import PurchaseRequest, TrialRequest, purchase, start_trial
from pipeline.models.entitlement import Entitlement


def test_an_expired_trial_deactivates_and_a_purchase_reactivates(tmp_path: Path) -> None:
    store = PluginStore(tmp_path / "store")
    digest = commercial_package(tmp_path / "packages", store)
    repo = market_repo(tmp_path / "repo", digest=digest)
    env_dir = repo.path / "environments" / "prod"

    # no entitlement yet: installed (files there), not active, a clear status
    first = sync(env_dir, store, tenant="acme", clock=lambda: T0).plugin("meter")
    assert first.action == "unlicensed" and store.active_target("meter") is None
    assert "has no entitlement for tenant acme" in first.message
    assert store.is_installed("meter", "1.0.0", digest)

    git = GitRepo(repo.path)
    start_trial(git, TrialRequest("meter", "acme", T0))
    during = sync(env_dir, store, tenant="acme", clock=lambda: T0 + timedelta(days=13))
    assert during.ok and during.plugin("meter").action == "installed"
    assert store.active_target("meter") == store.version_dir("meter", "1.0.0", digest)
    data = store.active_target("meter")
    assert data is not None
    (data / "tenant-data.db").write_text("kept")

    ended = T0 + timedelta(days=14, hours=1)
    result = sync(env_dir, store, tenant="acme", clock=lambda: ended)
    outcome = result.plugin("meter")
    assert outcome.action == "unlicensed" and result.ok and result.exit_code == 0
    assert outcome.message.startswith(
        "licence expired: the trial of meter for tenant acme ended 2026-11-30T09:00:00+00:00"
    )
    assert "px-market purchase meter --tenant acme --plan PLAN" in outcome.message
    assert "files and data kept" in outcome.message
    assert store.active_target("meter") is None
    assert (store.version_dir("meter", "1.0.0", digest) / "tenant-data.db").read_text() == "kept"
    status = store.read_status()
    assert status is not None
    entry = status.plugins["meter"]
    assert entry.last_action == "unlicensed" and entry.observed_version is None
    assert entry.last_error is not None and "licence expired" in entry.last_error

    # the same state at the next sync: no change, same status
    again = sync(env_dir, store, tenant="acme", clock=lambda: ended).plugin("meter")
    assert again.action == "unlicensed" and store.active_target("meter") is None

    # another tenant's host never had a trial
    other = sync(env_dir, store, tenant="globex", clock=lambda: T0).plugin("meter")
    assert "no entitlement for tenant globex" in other.message

    purchase(git, PurchaseRequest("meter", "acme", "standard", ended))
    back = sync(env_dir, store, tenant="acme", clock=lambda: ended).plugin("meter")
    assert back.action == "installed" and "active" in back.message
    assert store.active_target("meter") == store.version_dir("meter", "1.0.0", digest)
    entry = store.read_status().plugins["meter"]  # type: ignore[union-attr]
    assert entry.last_error is None and entry.observed_version == "1.0.0"


def test_a_damaged_entitlement_is_the_reason_given(tmp_path: Path) -> None:
    store = PluginStore(tmp_path / "store")
    digest = commercial_package(tmp_path / "packages", store)
    repo = market_repo(tmp_path / "repo", digest=digest)
    repo.write({"entitlements/meter/acme/trial.yaml": "kind: Entitlement\nplugin: [\n"})
    outcome = sync(repo.path / "environments" / "prod", store, tenant="acme").plugin("meter")
    assert outcome.action == "unlicensed" and "cannot read its entitlement" in outcome.message


def test_an_environment_folder_outside_a_repo_is_not_licence_checked(tmp_path: Path) -> None:
    assert licence_root_for(tmp_path / "deploy" / "prod") is None
    assert licence_root_for(tmp_path / "environments" / "prod") == tmp_path.absolute()


def entitlement(**fields: object) -> Entitlement:
    data = {
        "apiVersion": API,
        "kind": "Entitlement",
        "plugin": "meter",
        "licensee": "Acme",
        "notAfter": datetime(2027, 1, 1, tzinfo=UTC),
        **fields,
    }
    return Entitlement.model_validate(data)


def test_one_home_decides_which_entitlement_covers_a_tenant() -> None:
    wanted = Licensed("meter", "1.0.0", COMMERCIAL, "acme")
    site = entitlement()
    trial = entitlement(type="trial", tenant="acme", notAfter=T0)
    theirs = entitlement(type="purchase", tenant="globex", plan="standard")
    assert covering_entitlement(wanted, [trial, site], now=T0) is site
    assert licence_problem(wanted, [trial], now=T0) is not None
    assert "is for tenant globex" in (licence_problem(wanted, [theirs], now=T0) or "")
    assert licence_problem(Licensed("meter", "1.0.0", "MIT"), [], now=T0) is None
    old = entitlement(versions="<1")
    assert "covers <1, not 1.0.0" in (licence_problem(wanted, [old], now=T0) or "")
    early = entitlement(notBefore=datetime(2026, 12, 1, tzinfo=UTC))
    assert "not valid before" in (licence_problem(wanted, [early], now=T0) or "")
    expired_plan = entitlement(type="purchase", tenant="acme", plan="standard", notAfter=T0)
    assert "the standard plan of meter for tenant acme ended" in (
        licence_problem(wanted, [expired_plan], now=T0) or ""
    )
    other = entitlement(plugin="other")
    assert "names plugin 'other'" in (licence_problem(wanted, [other], now=T0) or "")
    with pytest.raises(ValueError, match="names its tenant"):
        entitlement(type="trial")
    with pytest.raises(ValueError, match="names its plan"):
        entitlement(type="purchase", tenant="acme")


def test_the_import_check_keeps_its_site_wide_messages() -> None:
    from factories import release

    from pipeline.models.release import Release

    meter = Release.model_validate(release("meter", "1.0.0", license=COMMERCIAL))
    assert "has no entitlement" in (entitlement_problem(meter, None, now=T0) or "")
    expired = entitlement(notAfter=datetime(2026, 1, 1, tzinfo=UTC))
    assert "(Acme) expired at" in (entitlement_problem(meter, expired, now=T0) or "")


def test_the_offline_import_counts_the_tenants_trial(tmp_path: Path) -> None:
    from bundle_support import Site, Source
    from factories import yaml_text

    from pipeline.bundle.importer import import_bundle
    from pipeline.errors import GateError

    source, site = Source(tmp_path / "a"), Site(tmp_path / "b")
    source.release("meter", "1.0.0", license=COMMERCIAL)
    bundle = tmp_path / "meter.bundle"
    source.export(bundle)
    with pytest.raises(GateError, match="has no entitlement for tenant acme") as refused:
        import_bundle(site.request(bundle, deploy=False, tenant="acme"))
    assert "px-market trial start" in (refused.value.hint or "")
    now = datetime.now(UTC)
    trial = entitlement(
        type="trial", tenant="acme", notBefore=now, notAfter=now + timedelta(days=14)
    )
    site.repo.commit(
        {
            "entitlements/meter/acme/trial.yaml": yaml_text(
                trial.model_dump(mode="json", by_alias=True, exclude_none=True)
            )
        },
        "trial",
    )
    assert import_bundle(site.request(bundle, deploy=False, tenant="acme")).ok


def test_a_host_without_a_tenant_needs_the_site_wide_entitlement(tmp_path: Path) -> None:
    from factories import yaml_text

    store = PluginStore(tmp_path / "store")
    digest = commercial_package(tmp_path / "packages", store)
    repo = market_repo(tmp_path / "repo", digest=digest)
    env_dir = repo.path / "environments" / "prod"
    start_trial(GitRepo(repo.path), TrialRequest("meter", "acme", T0))
    refused = sync(env_dir, store, clock=lambda: T0).plugin("meter")
    assert refused.action == "unlicensed"
    assert "ask the vendor for a current entitlements/meter.yaml" in refused.message
    contract = entitlement(notAfter=T0 + timedelta(days=365))
    repo.write(
        {"entitlements/meter.yaml": yaml_text(contract.model_dump(mode="json", by_alias=True))}
    )
    assert sync(env_dir, store, clock=lambda: T0).plugin("meter").action == "installed"
    # the contract covers every tenant's host too, after their trial ended
    later = T0 + timedelta(days=30)
    assert sync(env_dir, store, tenant="acme", clock=lambda: later).plugin("meter").ok
    wanted = Licensed("meter", "1.0.0", COMMERCIAL, "acme")
    assert covering_entitlement(wanted, [contract], now=later) is contract
    assert covering_entitlement(wanted, [], now=later) is None
