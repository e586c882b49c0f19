"""What a revision says about administration: environments, tenants, groups, grants and
entitlements, read (never written) from a `Snapshot`.

The one reader the admin commands, `px-admin diff` and `px-admin drift` share. Entitlements
are the records of `pipeline.bundle.entitlements`: site-wide `entitlements/<plugin>.yaml`
and one tenant's `entitlements/<plugin>/<tenant>/{trial,purchase}.yaml`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline import layout
from pipeline.bundle.contents import ENTITLEMENTS
from pipeline.errors import InputError
from pipeline.gitrepo import GitRepo
from pipeline.models.entitlement import Entitlement
from pipeline.models.environment import Environment, Tenant
from pipeline.names import environment_names as _environment_set
from pipeline.names import require_environment
from pipeline.snapshot import Loaded, Snapshot


def snapshot_at(git: GitRepo, revision: str = "HEAD") -> Snapshot:
    """The repo at `revision` (a branch, tag or commit id)."""
    return Snapshot(git, git.resolve(revision))


def environment_names(snapshot: Snapshot) -> list[str]:
    """Every environment the repo defines: the promotion order first, then other folders."""
    order = snapshot.policies().promotion.order
    found = _environment_set(snapshot)
    return [env for env in order if env in found] + sorted(found - set(order))


def load_environment(snapshot: Snapshot, env: str) -> Loaded[Environment]:
    """`environments/<env>/environment.yaml`, validated; the "did you mean" InputError for
    an environment the repo does not define (or one without its file)."""
    require_environment(snapshot, env)
    loaded = snapshot.environment(env)
    if loaded is None:
        raise InputError(
            f"environment {env} has no {layout.environment_path(env)}",
            hint=f"create it with px-admin env create {env} --after ENV",
        )
    return loaded


@dataclass(frozen=True)
class EnvironmentView:
    """One environment's administration at a revision: tenants (with grants) and groups."""

    name: str
    position: int
    tenants: tuple[Tenant, ...]
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def tenant(self, tenant_id: str) -> Tenant | None:
        """The tenant called `tenant_id`, None if it is not in this environment."""
        return next((t for t in self.tenants if t.id == tenant_id), None)

    def grants(self) -> dict[str, dict[str, tuple[str, ...]]]:
        """tenant -> plugin -> the permissions granted."""
        return {t.id: {p: tuple(perms) for p, perms in t.grants.items()} for t in self.tenants}

    def groups_of(self, tenant_id: str) -> list[str]:
        """The groups `tenant_id` belongs to."""
        return [name for name, members in self.groups.items() if tenant_id in members]


def environment_view(snapshot: Snapshot, env: str) -> EnvironmentView:
    """`load_environment` as an `EnvironmentView`."""
    model = load_environment(snapshot, env).model
    groups = {name: tuple(members) for name, members in model.groups.items()}
    return EnvironmentView(model.name, model.position, tuple(model.tenants), groups)


def environment_views(snapshot: Snapshot) -> dict[str, EnvironmentView]:
    """Every environment with a file, in `environment_names` order."""
    return {
        env: environment_view(snapshot, env)
        for env in environment_names(snapshot)
        if snapshot.environment(env) is not None
    }


@dataclass(frozen=True)
class EntitlementRecord:
    """An entitlement and the file it lives in."""

    path: str
    entitlement: Entitlement


def entitlement_records(snapshot: Snapshot, tenant: str | None = None) -> list[EntitlementRecord]:
    """Every entitlement file of the repo (site-wide and per tenant), sorted by path.

    With `tenant`: only that tenant's own ones (trials and purchases).
    """
    found = []
    for path in sorted(snapshot.git.files(snapshot.commit, ENTITLEMENTS)):
        parts = path.split("/")
        if not path.endswith(".yaml") or len(parts) not in (2, 4):
            continue
        if tenant is not None and (len(parts) != 4 or parts[2] != tenant):
            continue
        loaded = snapshot.load(path, Entitlement)
        if loaded is not None:
            found.append(EntitlementRecord(path, loaded.model))
    return found
