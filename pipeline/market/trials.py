"""Trials and purchases: a tenant's entitlement to a paid plugin, one commit each.

`px-market trial start PLUGIN --tenant T` writes `entitlements/<plugin>/<tenant>/trial.yaml`
for the listing's `pricing.trialDays`; `px-market purchase PLUGIN --tenant T --plan NAME`
writes `entitlements/<plugin>/<tenant>/purchase.yaml` until the end of the plan's period (or
`--until`). The agent's sync and the offline import check these files
(`pipeline.bundle.entitlements`): when the trial ends, the next sync deactivates the plugin
for that tenant with a clear status, and a purchase activates it again.

Refused: a plugin without a listing, an unknown tenant or plan (bad input); a free plugin, a
plugin without a trial, a second trial for the same tenant and plugin, a trial while a
purchase runs (said no).
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from pipeline.bundle.entitlements import tenant_entitlement_path, tenant_entitlements
from pipeline.errors import GateError, InputError
from pipeline.gitrepo import ChangeSet, Commit, GitRepo, Trailers, compose_message
from pipeline.market.records import load_listing
from pipeline.market.review import commit_change
from pipeline.models.base import API_VERSION
from pipeline.models.entitlement import Entitlement, EntitlementType
from pipeline.models.listing import Listing, Plan
from pipeline.names import environment_names, require_environment, require_name, require_plugin
from pipeline.snapshot import Snapshot
from pipeline.yamlio import dump_yaml

_Maker = Callable[[Snapshot], tuple[Entitlement, str]]
"""Reads the repo at a tip, checks the request and returns (entitlement, commit subject)."""

PERPETUAL = datetime(9999, 12, 31, tzinfo=UTC)
"""The end of a plan bought once (`period: once`)."""


@dataclass(frozen=True)
class TrialRequest:
    """Start a trial of `plugin` for `tenant` (of `environment`, or of any environment)."""

    plugin: str
    tenant: str
    now: datetime
    environment: str | None = None
    days: int | None = None
    """Shorter than the listing's trial (never longer); None: the listing's."""
    operator: str | None = None


@dataclass(frozen=True)
class PurchaseRequest:
    """Buy `plan` of `plugin` for `tenant`, until `until` (None: the end of the plan's period)."""

    plugin: str
    tenant: str
    plan: str
    now: datetime
    environment: str | None = None
    until: date | None = None
    operator: str | None = None


@dataclass(frozen=True)
class Issued:
    """An entitlement written and committed."""

    entitlement: Entitlement
    path: str
    commit: str


def start_trial(
    git: GitRepo, request: TrialRequest, *, branch: str = "main", remote: str | None = None
) -> Issued:
    """Issue the tenant's trial entitlement in one commit (see the module docstring)."""

    def change(snapshot: Snapshot) -> tuple[Entitlement, str]:
        listing = _paid_listing(snapshot, request.plugin, request.tenant, request.environment)
        days = listing.pricing.trial_days
        if days == 0:
            raise GateError(
                f"{request.plugin} offers no trial (its listing's pricing.trialDays is 0)",
                hint=f"purchase a plan: {_purchase_command(request.plugin, request.tenant)}",
            )
        if request.days is not None:
            if not 1 <= request.days <= days:
                raise InputError(
                    f"--days {request.days}: the trial of {request.plugin} lasts 1 to {days} days"
                )
            days = request.days
        held = tenant_entitlements(snapshot, request.plugin, request.tenant)
        if "trial" in held:
            trial = held["trial"]
            raise GateError(
                f"tenant {request.tenant} already had a trial of {request.plugin} "
                f"({_window(trial)}): one trial per tenant and plugin",
                hint=f"purchase a plan: {_purchase_command(request.plugin, request.tenant)}",
            )
        bought = held.get("purchase")
        if bought is not None and request.now < bought.not_after:
            raise GateError(
                f"tenant {request.tenant} has bought {request.plugin} ({bought.plan} plan, "
                f"{_window(bought)}): there is nothing to try"
            )
        until = request.now + timedelta(days=days)
        entitlement = _entitlement(request.plugin, request.tenant, "trial", request.now, until)
        subject = f"Start a {days}-day trial of {request.plugin} for tenant {request.tenant}"
        return entitlement, subject

    return _issue(git, request.plugin, request.tenant, "trial", change, request, branch, remote)


def purchase(
    git: GitRepo, request: PurchaseRequest, *, branch: str = "main", remote: str | None = None
) -> Issued:
    """Issue (or renew) the tenant's purchase entitlement in one commit."""

    def change(snapshot: Snapshot) -> tuple[Entitlement, str]:
        listing = _paid_listing(snapshot, request.plugin, request.tenant, request.environment)
        plans = {plan.name: plan for plan in listing.pricing.plans}
        require_name(
            "plan",
            request.plan,
            plans,
            where=f"of {request.plugin}",
            hint=f"the listing's plans: {', '.join(plans)}",
        )
        plan = plans[request.plan]
        current = tenant_entitlements(snapshot, request.plugin, request.tenant).get("purchase")
        start = request.now
        if current is not None and current.plan == plan.name and current.not_after > start:
            start = current.not_after  # a renewal keeps the days already paid for
        until = _until(request, plan, start)
        entitlement = _entitlement(
            request.plugin, request.tenant, "purchase", request.now, until, plan=plan.name
        )
        subject = f"Purchase the {plan.name} plan of {request.plugin} for tenant {request.tenant}"
        return entitlement, subject

    return _issue(git, request.plugin, request.tenant, "purchase", change, request, branch, remote)


# -- checks -----------------------------------------------------------------------------------


def _paid_listing(snapshot: Snapshot, plugin: str, tenant: str, environment: str | None) -> Listing:
    require_plugin(snapshot, plugin)
    loaded = load_listing(snapshot, plugin)
    if loaded is None:
        raise InputError(
            f"{plugin} has no Marketplace listing (releases/{plugin}/listing.yaml)",
            hint="only listed plugins can be tried or bought",
        )
    require_tenant(snapshot, tenant, environment)
    listing = loaded.model
    if listing.pricing.model == "free":
        raise GateError(
            f"{plugin} is free: it needs no trial and no purchase",
            hint="install it: it runs without an entitlement",
        )
    return listing


def require_tenant(snapshot: Snapshot, tenant: str, environment: str | None) -> list[str]:
    """The environments `tenant` belongs to (only `environment` when given); the "did you
    mean" InputError when none."""
    names = [require_environment(snapshot, environment)] if environment else None
    found: list[str] = []
    known: set[str] = set()
    for env in sorted(names or environment_names(snapshot)):
        loaded = snapshot.environment(env)
        if loaded is None:
            continue
        ids = {t.id for t in loaded.model.tenants}
        known |= ids
        if tenant in ids:
            found.append(env)
    if not found:
        where = f"of environment {environment}" if environment else "of any environment"
        require_name("tenant", tenant, known, where=where)
    return found


def _until(request: PurchaseRequest, plan: Plan, start: datetime) -> datetime:
    if request.until is not None:
        until = datetime.combine(request.until, time(), tzinfo=UTC)
        if until <= request.now:
            raise InputError(f"--until {request.until.isoformat()} is not in the future")
        return until
    if plan.period == "once":
        return PERPETUAL
    return add_months(start, 1 if plan.period == "month" else 12)


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later (the month's last day when it is shorter)."""
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


# -- the entitlement and its commit -----------------------------------------------------------


def _entitlement(
    plugin: str,
    tenant: str,
    kind: EntitlementType,
    now: datetime,
    until: datetime,
    *,
    plan: str | None = None,
) -> Entitlement:
    return Entitlement.model_validate(
        {
            "apiVersion": API_VERSION,
            "kind": "Entitlement",
            "plugin": plugin,
            "licensee": tenant,
            "versions": "*",
            "notBefore": now.astimezone(UTC).replace(microsecond=0),
            "notAfter": until.astimezone(UTC).replace(microsecond=0),
            "type": kind,
            "tenant": tenant,
            "plan": plan,
        }
    )


def _issue(
    git: GitRepo,
    plugin: str,
    tenant: str,
    kind: EntitlementType,
    make: _Maker,
    request: TrialRequest | PurchaseRequest,
    branch: str,
    remote: str | None,
) -> Issued:
    path = tenant_entitlement_path(plugin, tenant, kind)
    made: list[Entitlement] = []

    def change(tip: Commit | None) -> tuple[ChangeSet, str]:
        if tip is None:
            where = f" on {remote!r}" if remote is not None else ""
            raise InputError(f"branch {branch!r} does not exist{where}")
        entitlement, subject = make(Snapshot(git, tip))
        made[:] = [entitlement]
        trailers = Trailers(
            action=kind,
            plugin=plugin,
            environment=request.environment,
            operator=request.operator,
            extra={"Tenant": tenant, "Until": entitlement.not_after.isoformat()},
        )
        data = entitlement.model_dump(mode="json", by_alias=True, exclude_none=True)
        return {path: dump_yaml(data).encode()}, compose_message(subject, "", trailers)

    commit = commit_change(git, branch, remote, change)
    return Issued(made[0], path, str(commit.id))


def _window(entitlement: Entitlement) -> str:
    start = entitlement.not_before.date().isoformat() if entitlement.not_before else "?"
    return f"{start} to {entitlement.not_after.date().isoformat()}"


def _purchase_command(plugin: str, tenant: str) -> str:
    return f"px-market purchase {plugin} --tenant {tenant} --plan PLAN"
