"""`px-admin entitlement add|revoke|list`: one tenant's licences, as the records the offline
import and the agent's activation already check (`pipeline.bundle.entitlements`):
`entitlements/<plugin>/<tenant>/purchase.yaml` (a plan) or `.../trial.yaml`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pipeline.admin.plan import AdminEdit, Editor
from pipeline.admin.state import EntitlementRecord, entitlement_records, environment_names
from pipeline.bundle.entitlements import TENANT_TYPES, tenant_entitlement_path
from pipeline.errors import InputError
from pipeline.market.trials import require_tenant
from pipeline.models.base import API_VERSION
from pipeline.models.entitlement import Entitlement, EntitlementType
from pipeline.names import require_plugin, unknown_name
from pipeline.snapshot import Snapshot
from pipeline.yamlio import dump_yaml


@dataclass(frozen=True)
class EntitlementRequest:
    """A licence for `tenant` to run `plugin` under `plan` until `expires`."""

    tenant: str
    plugin: str
    expires: datetime
    now: datetime
    plan: str | None = None
    kind: EntitlementType = "purchase"
    environment: str | None = None
    versions: str = "*"
    reference: str | None = None


def tenant_environments(snapshot: Snapshot, tenant: str, environment: str | None) -> list[str]:
    """The environments `tenant` is in (only `environment` when given), in the promotion
    order; "did you mean" when none (the one tenant lookup: `pipeline.market.trials`)."""
    found = set(require_tenant(snapshot, tenant, environment))
    return [env for env in environment_names(snapshot) if env in found]


def add_entitlement(request: EntitlementRequest) -> Editor:
    """Write (or replace) the tenant's purchase or trial of the plugin."""
    if request.kind not in TENANT_TYPES:
        raise InputError(f"a tenant's entitlement is one of: {', '.join(TENANT_TYPES)}")
    if request.expires <= request.now:
        raise InputError(
            f"--until {request.expires.date().isoformat()}: the licence would already have "
            "ended (an expiry in the past)",
            hint="give a day after today, e.g. --until 2027-12-31",
        )
    if request.kind == "purchase" and not request.plan:
        raise InputError("a purchase names its plan: pass --plan NAME")

    def edit(snapshot: Snapshot) -> AdminEdit:
        require_plugin(snapshot, request.plugin)
        envs = tenant_environments(snapshot, request.tenant, request.environment)
        path = tenant_entitlement_path(request.plugin, request.tenant, request.kind)
        data = {
            "apiVersion": API_VERSION,
            "kind": "Entitlement",
            "plugin": request.plugin,
            "licensee": request.tenant,
            "versions": request.versions,
            "notBefore": request.now.astimezone(UTC).replace(microsecond=0),
            "notAfter": request.expires.astimezone(UTC).replace(microsecond=0),
            "reference": request.reference,
            "type": request.kind,
            "tenant": request.tenant,
            "plan": request.plan,
        }
        entitlement = Entitlement.model_validate(data)
        text = entitlement.model_dump(mode="json", by_alias=True, exclude_none=True)
        replaced = snapshot.read(path) is not None
        what = f"the {request.plan} plan" if request.plan else f"a {request.kind}"
        return AdminEdit(
            "entitlement-add",
            tuple(envs),
            f"Entitle tenant {request.tenant} to {what} of {request.plugin}",
            {path: dump_yaml(text).encode()},
            (f"replaces the {request.kind} that was there",) if replaced else (),
            plugin=request.plugin,
            extra={"Tenant": request.tenant, "Until": entitlement.not_after.isoformat()},
        )

    return edit


def revoke_entitlement(
    tenant: str, plugin: str, kind: EntitlementType | None = None, environment: str | None = None
) -> Editor:
    """Remove the tenant's entitlements of `plugin` (only the `kind` one when given)."""

    def edit(snapshot: Snapshot) -> AdminEdit:
        envs = tenant_environments(snapshot, tenant, environment)
        held = [r for r in entitlement_records(snapshot, tenant) if r.entitlement.plugin == plugin]
        if not held:
            plugins = [r.entitlement.plugin for r in entitlement_records(snapshot, tenant)]
            raise unknown_name("entitlement", plugin, plugins, where=f"of tenant {tenant}")
        if kind is not None:
            held = [r for r in held if r.entitlement.type == kind]
            if not held:
                raise InputError(f"tenant {tenant} holds no {kind} of {plugin}")
        return AdminEdit(
            "entitlement-revoke",
            tuple(envs),
            f"Revoke the entitlement of tenant {tenant} to {plugin}",
            {record.path: None for record in held},
            tuple(f"removed {record.path}" for record in held),
            plugin=plugin,
            extra={"Tenant": tenant},
        )

    return edit


@dataclass(frozen=True)
class EntitlementRow:
    """One entitlement for `px-admin entitlement list`."""

    path: str
    plugin: str
    tenant: str | None
    type: str
    plan: str | None
    not_after: datetime
    state: str


def entitlement_rows(
    snapshot: Snapshot, now: datetime, tenant: str | None = None, plugin: str | None = None
) -> list[EntitlementRow]:
    """Every entitlement (a tenant's, and the site-wide ones a tenant is covered by)."""
    rows = []
    for record in entitlement_records(snapshot):
        model = record.entitlement
        if tenant is not None and model.tenant not in (None, tenant):
            continue
        if plugin is not None and model.plugin != plugin:
            continue
        rows.append(_row(record, now))
    return rows


def _row(record: EntitlementRecord, now: datetime) -> EntitlementRow:
    model = record.entitlement
    if model.not_before is not None and now < model.not_before:
        state = "not yet valid"
    else:
        state = "expired" if now >= model.not_after else "active"
    return EntitlementRow(
        record.path, model.plugin, model.tenant, model.type, model.plan, model.not_after, state
    )
