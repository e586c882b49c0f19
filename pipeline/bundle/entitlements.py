"""Licence state: a release under a `LicenseRef-...` licence needs a valid entitlement.

Open-source licences (SPDX ids) need nothing. A release whose licence expression names a
`LicenseRef-` (SPDX's marker for a licence outside the SPDX list: a commercial one) may
only be deployed where an entitlement covers its version and is within its validity window:
the site-wide `entitlements/<plugin>.yaml` (from the bundle, the vendor's newest, or from the
site's repo), or, for one tenant, its trial or purchase under `entitlements/<plugin>/<tenant>/`.

One home for "which entitlement covers this tenant, plugin and version now"
(`licence_problem`): the offline import (`bundle.site_fit`) and the agent's activation
(`agent.reconcile`) both call it. Entitlements are read from a revision of the repo
(`tenant_entitlements`) or from a checked-out folder (`folder_entitlements`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.bundle.contents import ENTITLEMENTS, entitlement_path
from pipeline.errors import FileSystemError, InputError
from pipeline.models.entitlement import Entitlement, EntitlementType
from pipeline.models.load import parse_document
from pipeline.models.release import Release
from pipeline.models.semver import Version, VersionRange
from pipeline.yamlio import MAX_YAML_BYTES

if TYPE_CHECKING:
    from pipeline.snapshot import Snapshot

LICENSE_REF = "LicenseRef-"
TENANT_TYPES: tuple[EntitlementType, ...] = ("purchase", "trial")
"""The kinds of entitlement one tenant holds, one file each (the purchase is looked at first)."""


def tenant_entitlement_path(plugin: str, tenant: str, kind: EntitlementType) -> str:
    """One tenant's trial or purchase of a plugin."""
    return f"{ENTITLEMENTS}/{plugin}/{tenant}/{kind}.yaml"


def licence_needs_entitlement(licence: str) -> bool:
    """Whether a licence expression is not an open-source one."""
    return LICENSE_REF in licence


def needs_entitlement(release: Release) -> bool:
    """Whether the release's licence is not an open-source one."""
    return licence_needs_entitlement(release.license)


@dataclass(frozen=True)
class Licensed:
    """What is being run: a plugin version under a licence, for a tenant (None: the site)."""

    plugin: str
    version: str
    licence: str
    tenant: str | None = None

    @property
    def ref(self) -> str:
        """`plugin@version`."""
        return f"{self.plugin}@{self.version}"


def licence_problem(
    wanted: Licensed, candidates: Sequence[Entitlement], *, now: datetime
) -> str | None:
    """Why `wanted` may not run at `now` under any of `candidates` (None: it may).

    An entitlement covers it when it names the plugin, is site-wide or for the tenant,
    covers the version and is within its window. Otherwise the reason given is the one of
    the entitlement that came closest (the tenant's own first), or that there is none.
    """
    if not licence_needs_entitlement(wanted.licence):
        return None
    reasons = [_problem(wanted, entitlement, now) for entitlement in _closest_first(candidates)]
    if None in reasons:
        return None
    if reasons:
        return reasons[0]
    who = f" for tenant {wanted.tenant}" if wanted.tenant else ""
    return f"{wanted.ref} ({wanted.licence}) has no entitlement{who}"


def covering_entitlement(
    wanted: Licensed, candidates: Sequence[Entitlement], *, now: datetime
) -> Entitlement | None:
    """The entitlement that lets `wanted` run at `now` (None: none does)."""
    for entitlement in _closest_first(candidates):
        if _problem(wanted, entitlement, now) is None:
            return entitlement
    return None


def entitlement_problem(
    release: Release, entitlement: Entitlement | None, *, now: datetime
) -> str | None:
    """Why `release` may not be deployed site-wide under `entitlement` (None: it may)."""
    wanted = Licensed(release.plugin, release.version, release.license)
    return licence_problem(wanted, [entitlement] if entitlement else [], now=now)


def _closest_first(candidates: Sequence[Entitlement]) -> list[Entitlement]:
    order = {"purchase": 0, "trial": 1, "contract": 2}
    return sorted(candidates, key=lambda e: (order[e.type], -e.not_after.timestamp()))


def _problem(wanted: Licensed, entitlement: Entitlement, now: datetime) -> str | None:
    plugin = wanted.plugin
    if entitlement.plugin != plugin:
        return f"the entitlement for {plugin} names plugin {entitlement.plugin!r}"
    if entitlement.tenant is not None and entitlement.tenant != wanted.tenant:
        return f"the {entitlement.type} of {plugin} is for tenant {entitlement.tenant}"
    if not VersionRange.parse(entitlement.versions).contains(Version.parse(wanted.version)):
        return f"the entitlement for {plugin} covers {entitlement.versions}, not {wanted.version}"
    if entitlement.not_before is not None and now < entitlement.not_before:
        return (
            f"the entitlement for {plugin} is not valid before {entitlement.not_before.isoformat()}"
        )
    if now >= entitlement.not_after:
        ended = entitlement.not_after.isoformat()
        if entitlement.type == "trial":
            return (
                f"licence expired: the trial of {plugin} for tenant {entitlement.tenant} "
                f"ended {ended}"
            )
        if entitlement.type == "purchase":
            return (
                f"licence expired: the {entitlement.plan} plan of {plugin} for tenant "
                f"{entitlement.tenant} ended {ended}"
            )
        return f"the entitlement for {plugin} ({entitlement.licensee}) expired at {ended}"
    return None


def renewal_hint(wanted: Licensed) -> str:
    """What to do about a missing or expired licence."""
    if wanted.tenant is None:
        return f"ask the vendor for a current {entitlement_path(wanted.plugin)}"
    return (
        f"purchase a plan: px-market purchase {wanted.plugin} --tenant {wanted.tenant} "
        "--plan PLAN (the plans are in the listing's pricing)"
    )


# -- reading them ---------------------------------------------------------------------------


def tenant_entitlements(snapshot: Snapshot, plugin: str, tenant: str) -> dict[str, Entitlement]:
    """The tenant's own entitlements of `plugin` (`trial`, `purchase`), at a revision."""
    found: dict[str, Entitlement] = {}
    for kind in TENANT_TYPES:
        loaded = snapshot.load(tenant_entitlement_path(plugin, tenant, kind), Entitlement)
        if loaded is not None:
            found[kind] = loaded.model
    return found


def folder_entitlements(root: Path, plugin: str, tenant: str | None) -> list[Entitlement]:
    """The site-wide entitlement of `plugin` and, with `tenant`, the tenant's own, from a
    checked-out repo folder `root`.

    InputError (file:line) when one of the files is not a valid entitlement.
    """
    paths = [entitlement_path(plugin)]
    if tenant is not None:
        paths += [tenant_entitlement_path(plugin, tenant, kind) for kind in TENANT_TYPES]
    found = []
    for relative in paths:
        path = root / relative
        try:
            with path.open("rb") as handle:
                raw = handle.read(MAX_YAML_BYTES + 1)
        except FileNotFoundError:
            continue
        except OSError as error:
            raise FileSystemError("read", path, error) from None
        if len(raw) > MAX_YAML_BYTES:
            raise InputError(f"{path} is larger than {MAX_YAML_BYTES} bytes")
        found.append(parse_document(raw, str(path), Entitlement))
    return found
