"""`px-admin diff ENV_A ENV_B`: what runs differently in two environments at one revision.

Plugins (present, version, digest, enabled, canary), tenants (present, name), groups
(present, members), grants (per tenant in both, per plugin) and entitlements (the licences
of a tenant that only one of the two environments serves). A plugin whose state file is the
same blob in both environments is not parsed at all, so two environments that mostly agree
are compared at the cost of listing their folders.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from pipeline import layout
from pipeline.admin.state import EnvironmentView, entitlement_records, environment_view
from pipeline.errors import InputError
from pipeline.market.catalog_read import read_model
from pipeline.models.environment import Canary, PluginState
from pipeline.names import deployed_plugins
from pipeline.snapshot import Snapshot

DiffKind = Literal["plugin", "tenant", "group", "grant", "entitlement"]
KINDS: tuple[DiffKind, ...] = ("plugin", "tenant", "group", "grant", "entitlement")


@dataclass(frozen=True)
class Difference:
    """One thing that differs: `field` of `subject` is `a` in ENV_A and `b` in ENV_B
    (None: absent there)."""

    kind: DiffKind
    subject: str
    field: str
    a: Any
    b: Any

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EnvironmentDiff:
    """Every difference between two environments, grouped by kind, in name order."""

    env_a: str
    env_b: str
    revision: str
    differences: tuple[Difference, ...]

    def of_kind(self, kind: DiffKind) -> list[Difference]:
        return [d for d in self.differences if d.kind == kind]

    def to_json(self) -> dict[str, Any]:
        counts = {kind: len(self.of_kind(kind)) for kind in KINDS}
        return {
            "a": self.env_a,
            "b": self.env_b,
            "revision": self.revision,
            "count": len(self.differences),
            "counts": counts,
            "differences": [d.to_json() for d in self.differences],
        }

    def text(self) -> str:
        """For people: one line per difference under its kind, `a | b`."""
        head = f"{self.env_a} vs {self.env_b} at {self.revision}"
        if not self.differences:
            return f"{head}: no differences\n"
        lines = [f"{head}: {len(self.differences)} difference(s)  ({self.env_a} | {self.env_b})"]
        width = max(len(d.subject) for d in self.differences)
        for kind in KINDS:
            found = self.of_kind(kind)
            if not found:
                continue
            lines.append(f"{kind}s:")
            for d in found:
                lines.append(f"  {d.subject:<{width}}  {d.field:<11} {shown(d.a)} | {shown(d.b)}")
        return "\n".join(lines) + "\n"


def shown(value: Any) -> str:
    """A value for the text view: '-' when absent."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    if isinstance(value, dict):
        return " ".join(f"{k}={shown(v)}" for k, v in value.items() if v is not None)
    return str(value)


def diff_environments(snapshot: Snapshot, env_a: str, env_b: str) -> EnvironmentDiff:
    """Compare two environments of the repo at `snapshot`; InputError for an unknown one."""
    if env_a == env_b:
        raise InputError(
            f"both sides are {env_a}: name two different environments",
            hint="e.g. px-admin diff staging prod",
        )
    a, b = environment_view(snapshot, env_a), environment_view(snapshot, env_b)
    found = [
        *plugin_differences(snapshot, env_a, env_b),
        *tenant_differences(a, b),
        *group_differences(a, b),
        *grant_differences(a, b),
        *entitlement_differences(snapshot, a, b),
    ]
    return EnvironmentDiff(env_a, env_b, snapshot.short_id, tuple(found))


# -- plugins ---------------------------------------------------------------------------


def canary_summary(canary: Canary | None) -> dict[str, Any] | None:
    """What a canary runs: version, weight, step and group."""
    if canary is None:
        return None
    return {
        "version": canary.version,
        "weight": canary.weight,
        "step": canary.step,
        "group": canary.group,
    }


def plugin_differences(snapshot: Snapshot, env_a: str, env_b: str) -> list[Difference]:
    """Plugins present in one only, and fields of those in both that differ."""
    in_a, in_b = deployed_plugins(snapshot, env_a), deployed_plugins(snapshot, env_b)
    found: list[Difference] = []
    for name in sorted(in_a | in_b):
        path_a = layout.plugin_state_path(env_a, name)
        path_b = layout.plugin_state_path(env_b, name)
        if name in in_a and name in in_b and snapshot.blob_id(path_a) == snapshot.blob_id(path_b):
            continue  # the same file: nothing differs
        state_a = _state(snapshot, env_a, name) if name in in_a else None
        state_b = _state(snapshot, env_b, name) if name in in_b else None
        found.extend(_state_differences(name, state_a, state_b))
    return found


def _state(snapshot: Snapshot, env: str, plugin: str) -> PluginState | None:
    """The state file, read without line numbers unless it is invalid (`read_model`)."""
    return read_model(snapshot, layout.plugin_state_path(env, plugin), PluginState)


def _state_differences(name: str, a: PluginState | None, b: PluginState | None) -> list[Difference]:
    if a is None or b is None:
        return [Difference("plugin", name, "present", _version(a), _version(b))]
    found = []
    if a.version != b.version:
        found.append(Difference("plugin", name, "version", a.version, b.version))
    elif a.digest != b.digest:  # the same version built twice: a different artifact
        found.append(Difference("plugin", name, "digest", a.digest, b.digest))
    if a.enabled != b.enabled:
        found.append(Difference("plugin", name, "enabled", a.enabled, b.enabled))
    canary_a, canary_b = canary_summary(a.canary), canary_summary(b.canary)
    if canary_a != canary_b:
        found.append(Difference("plugin", name, "canary", canary_a, canary_b))
    return found


def _version(state: PluginState | None) -> str | None:
    return state.version if state is not None else None


# -- tenants, groups, grants -------------------------------------------------------------


def tenant_differences(a: EnvironmentView, b: EnvironmentView) -> list[Difference]:
    """Tenants served by one environment only, and display names that differ."""
    found: list[Difference] = []
    for tenant in _union(t.id for t in (*a.tenants, *b.tenants)):
        ta, tb = a.tenant(tenant), b.tenant(tenant)
        if ta is None or tb is None:
            title_a = (ta.name or ta.id) if ta else None
            title_b = (tb.name or tb.id) if tb else None
            found.append(Difference("tenant", tenant, "present", title_a, title_b))
        elif ta.name != tb.name:
            found.append(Difference("tenant", tenant, "name", ta.name, tb.name))
    return found


def group_differences(a: EnvironmentView, b: EnvironmentView) -> list[Difference]:
    """Groups defined in one environment only, and members that differ."""
    found: list[Difference] = []
    for group in _union([*a.groups, *b.groups]):
        ma, mb = a.groups.get(group), b.groups.get(group)
        list_a = sorted(ma) if ma is not None else None
        list_b = sorted(mb) if mb is not None else None
        if list_a != list_b:
            field = "members" if ma is not None and mb is not None else "present"
            found.append(Difference("group", group, field, list_a, list_b))
    return found


def grant_differences(a: EnvironmentView, b: EnvironmentView) -> list[Difference]:
    """For each tenant of both: the plugins whose granted permissions differ."""
    found: list[Difference] = []
    grants_a, grants_b = a.grants(), b.grants()
    for tenant in sorted(set(grants_a) & set(grants_b)):
        ga, gb = grants_a[tenant], grants_b[tenant]
        for plugin in _union([*ga, *gb]):
            pa = sorted(ga[plugin]) if plugin in ga else None
            pb = sorted(gb[plugin]) if plugin in gb else None
            if pa != pb:
                found.append(Difference("grant", f"{tenant}/{plugin}", "permissions", pa, pb))
    return found


def entitlement_differences(
    snapshot: Snapshot, a: EnvironmentView, b: EnvironmentView
) -> list[Difference]:
    """A tenant's own entitlements (trials, purchases) count where the tenant is served:
    those of a tenant that one environment serves and the other does not.

    Site-wide entitlements (contracts) hold in every environment alike.
    """
    only_a = {t.id for t in a.tenants} - {t.id for t in b.tenants}
    only_b = {t.id for t in b.tenants} - {t.id for t in a.tenants}
    if not only_a and not only_b:
        return []
    found: list[Difference] = []
    for record in entitlement_records(snapshot):
        held = record.entitlement
        if held.tenant is None or held.tenant not in only_a | only_b:
            continue
        summary = {
            "type": held.type,
            "plan": held.plan,
            "notAfter": held.not_after.isoformat(),
        }
        subject = f"{held.tenant}/{held.plugin}"
        in_a = held.tenant in only_a
        found.append(
            Difference(
                "entitlement",
                subject,
                held.type,
                summary if in_a else None,
                None if in_a else summary,
            )
        )
    return sorted(found, key=lambda d: (d.subject, d.field))


def _union(names: Iterable[str]) -> list[str]:
    return sorted(set(names))
