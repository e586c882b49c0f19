"""Trials and purchases: one commit of a tenant's entitlement each, and every refusal."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import Repo, RunCli
from factories import load_yaml
from test_market_trials_support import T0, market_repo

from pipeline.cli.market import cli
from pipeline.errors import GateError, InputError
from pipeline.gitrepo import GitRepo, read_trailers
from pipeline.market.trials import (
    PERPETUAL,
    PurchaseRequest,
    TrialRequest,
    add_months,
    purchase,
    start_trial,
)


@pytest.fixture
def market(tmp_path: Path) -> Repo:
    return market_repo(tmp_path / "repo")


def test_a_trial_is_one_commit_of_the_tenants_entitlement(market: Repo) -> None:
    before = market.head()
    issued = start_trial(GitRepo(market.path), TrialRequest("meter", "acme", T0, operator="ada"))
    assert issued.path == "entitlements/meter/acme/trial.yaml"
    assert market.git("rev-parse", "HEAD~1") == before and market.head() == issued.commit
    data = load_yaml((market.path / issued.path).read_text())  # the work tree follows
    assert (data["type"], data["tenant"], data["plugin"]) == ("trial", "acme", "meter")
    assert issued.entitlement.not_after == T0 + timedelta(days=14)
    message = market.git("log", "-1", "--format=%B")
    assert message.startswith("Start a 14-day trial of meter for tenant acme")
    trailers = read_trailers(message)
    assert trailers["Action"] == "trial" and trailers["Tenant"] == "acme"
    assert trailers["Operator"] == "ada" and trailers["Plugin"] == "meter"


def test_a_second_trial_for_the_same_tenant_is_refused(market: Repo) -> None:
    git = GitRepo(market.path)
    start_trial(git, TrialRequest("meter", "acme", T0, days=3))
    head = market.head()
    later = T0 + timedelta(days=30)
    with pytest.raises(GateError, match="already had a trial of meter") as caught:
        start_trial(git, TrialRequest("meter", "acme", later))
    assert "px-market purchase meter --tenant acme" in (caught.value.hint or "")
    assert market.head() == head
    # another tenant may still try it
    assert start_trial(git, TrialRequest("meter", "globex", later)).path.endswith(
        "globex/trial.yaml"
    )


@pytest.mark.parametrize(
    ("request_", "error", "words"),
    [
        (TrialRequest("meter", "nobody", T0), InputError, "no tenant 'nobody' of any environment"),
        (
            TrialRequest("meter", "acme", T0, environment="staging"),
            InputError,
            "environment staging",
        ),
        (TrialRequest("meter", "initech", T0, environment="qa"), InputError, "environment"),
        (TrialRequest("hello", "acme", T0), GateError, "hello is free"),
        (TrialRequest("nothing", "acme", T0), InputError, "nothing"),
        (TrialRequest("meter", "acme", T0, days=30), InputError, "1 to 14 days"),
    ],
)
def test_refused_trials_change_nothing(
    market: Repo, request_: TrialRequest, error: type[Exception], words: str
) -> None:
    head = market.head()
    with pytest.raises(error, match=words):
        start_trial(GitRepo(market.path), request_)
    assert market.head() == head


def test_a_trial_of_a_tenant_of_another_environment(market: Repo) -> None:
    issued = start_trial(GitRepo(market.path), TrialRequest("meter", "initech", T0))
    assert issued.entitlement.tenant == "initech"


def test_a_plugin_without_a_trial_or_a_listing_is_refused(market: Repo) -> None:
    from factories import yaml_text
    from test_market_trials_support import listing

    data = listing()
    data["pricing"]["trialDays"] = 0
    market.commit({"releases/meter/listing.yaml": yaml_text(data)})
    with pytest.raises(GateError, match="offers no trial"):
        start_trial(GitRepo(market.path), TrialRequest("meter", "acme", T0))
    market.commit({"releases/meter/listing.yaml": None})
    with pytest.raises(InputError, match="has no Marketplace listing"):
        start_trial(GitRepo(market.path), TrialRequest("meter", "acme", T0))


def test_a_purchase_runs_one_period_of_its_plan_and_renews_from_its_end(market: Repo) -> None:
    git = GitRepo(market.path)
    first = purchase(git, PurchaseRequest("meter", "acme", "standard", T0))
    assert first.path == "entitlements/meter/acme/purchase.yaml"
    assert first.entitlement.not_after == add_months(T0, 1) and first.entitlement.plan == "standard"
    assert read_trailers(market.git("log", "-1", "--format=%B"))["Action"] == "purchase"
    renewed = purchase(git, PurchaseRequest("meter", "acme", "standard", T0 + timedelta(days=3)))
    assert renewed.entitlement.not_after == add_months(add_months(T0, 1), 1)
    yearly = purchase(git, PurchaseRequest("meter", "acme", "enterprise", T0))
    assert yearly.entitlement.not_after == T0.replace(year=T0.year + 1)
    until = purchase(
        git, PurchaseRequest("meter", "globex", "standard", T0, until=date(2027, 3, 1))
    )
    assert until.entitlement.not_after.date() == date(2027, 3, 1)
    # a trial while a purchase runs: nothing to try
    with pytest.raises(GateError, match="has bought meter"):
        start_trial(git, TrialRequest("meter", "acme", T0 + timedelta(days=1)))


def test_refused_purchases(market: Repo) -> None:
    git = GitRepo(market.path)
    with pytest.raises(InputError, match="no plan 'gold' of meter") as caught:
        purchase(git, PurchaseRequest("meter", "acme", "gold", T0))
    assert "standard" in (caught.value.hint or "")
    with pytest.raises(GateError, match="hello is free"):
        purchase(git, PurchaseRequest("hello", "acme", "standard", T0))
    with pytest.raises(InputError, match="not in the future"):
        purchase(git, PurchaseRequest("meter", "acme", "standard", T0, until=date(2020, 1, 1)))


def test_a_plan_bought_once_does_not_end() -> None:
    assert add_months(T0.replace(month=1, day=31), 1).day == 28
    assert PERPETUAL.year == 9999


def test_the_cli_starts_a_trial_and_records_a_purchase(market: Repo, run_cli: RunCli) -> None:
    repo = str(market.path)
    started = run_cli(cli, "trial", "start", "meter", "--tenant", "acme", "--repo", repo)
    assert started.code == 0, started.err
    assert "trial of meter for tenant acme until" in started.out
    again = run_cli(cli, "trial", "start", "meter", "--tenant", "acme", "--repo", repo)
    assert again.code == 1 and "already had a trial" in again.err
    unknown = run_cli(
        cli, "purchase", "meter", "--tenant", "acme", "--plan", "gold", "--repo", repo
    )
    assert unknown.code == 2 and "no plan" in unknown.err
    bought = run_cli(
        cli,
        "purchase",
        "meter",
        "--tenant",
        "acme",
        "--plan",
        "enterprise",
        "--until",
        "2030-01-01",
        "--repo",
        repo,
        "--format",
        "json",
    )
    assert bought.code == 0, bought.err
    assert '"notAfter": "2030-01-01T00:00:00Z"' in bought.out


def test_a_plan_bought_once_runs_for_good(market: Repo) -> None:
    from factories import yaml_text
    from test_market_trials_support import listing

    data = listing()
    data["pricing"]["plans"].append(
        {"name": "lifetime", "price": "1500.00", "currency": "EUR", "period": "once"}
    )
    market.commit({"releases/meter/listing.yaml": yaml_text(data)})
    issued = purchase(GitRepo(market.path), PurchaseRequest("meter", "acme", "lifetime", T0))
    assert issued.entitlement.not_after == PERPETUAL


def test_a_trial_pushed_to_the_remote(market: Repo, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    market.git("clone", "-q", "--bare", str(market.path), str(remote))
    market.git("remote", "add", "origin", str(remote))
    issued = start_trial(GitRepo(market.path), TrialRequest("meter", "acme", T0), remote="origin")
    assert market.git("--git-dir", str(remote), "rev-parse", "main") == issued.commit
    with pytest.raises(InputError, match="does not exist on 'origin'"):
        start_trial(
            GitRepo(market.path),
            TrialRequest("meter", "globex", T0),
            branch="nope",
            remote="origin",
        )


def test_a_trial_on_a_missing_local_branch_is_refused(market: Repo) -> None:
    with pytest.raises(InputError, match=r"branch 'nope' does not exist$"):
        start_trial(GitRepo(market.path), TrialRequest("meter", "acme", T0), branch="nope")
    assert market.git("branch", "--list", "nope") == ""
