"""Licence state: a release under a `LicenseRef-...` licence needs a valid entitlement.

Open-source licences (SPDX ids) need nothing. A release whose licence expression names a
`LicenseRef-` (SPDX's marker for a licence outside the SPDX list: a commercial one) may
only be deployed where an `entitlements/<plugin>.yaml` covers its version and is within its
validity window. The entitlement comes from the bundle (the vendor's newest) or, failing
that, from the site's repo.
"""

from __future__ import annotations

from datetime import datetime

from pipeline.models.entitlement import Entitlement
from pipeline.models.release import Release
from pipeline.models.semver import Version, VersionRange

LICENSE_REF = "LicenseRef-"


def needs_entitlement(release: Release) -> bool:
    """Whether the release's licence is not an open-source one."""
    return LICENSE_REF in release.license


def entitlement_problem(
    release: Release, entitlement: Entitlement | None, *, now: datetime
) -> str | None:
    """Why `release` may not be deployed under `entitlement` (None: it may)."""
    if not needs_entitlement(release):
        return None
    if entitlement is None:
        return f"{release.ref} ({release.license}) has no entitlement"
    if entitlement.plugin != release.plugin:
        return f"the entitlement for {release.plugin} names plugin {entitlement.plugin!r}"
    if not VersionRange.parse(entitlement.versions).contains(Version.parse(release.version)):
        return (
            f"the entitlement for {release.plugin} covers {entitlement.versions}, "
            f"not {release.version}"
        )
    if entitlement.not_before is not None and now < entitlement.not_before:
        return (
            f"the entitlement for {release.plugin} is not valid before "
            f"{entitlement.not_before.isoformat()}"
        )
    if now >= entitlement.not_after:
        return (
            f"the entitlement for {release.plugin} ({entitlement.licensee}) expired at "
            f"{entitlement.not_after.isoformat()}"
        )
    return None
