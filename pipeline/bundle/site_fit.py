"""Check 5 of an offline import: does the verified bundle fit this site (host version,
licences, dependencies, the --tenant to deploy to)? Every problem at once."""

from __future__ import annotations

from pipeline.bundle.entitlements import Licensed, licence_problem
from pipeline.bundle.import_request import ImportRequest
from pipeline.bundle.import_verify import CheckedBundle
from pipeline.errors import GateError
from pipeline.models.environment import Environment
from pipeline.models.load import parse_document
from pipeline.models.semver import Version, VersionRange
from pipeline.names import require_name
from pipeline.store.cas import ContentAddressedDirectory


def check_site_fit(
    request: ImportRequest, checked: CheckedBundle, objects: ContentAddressedDirectory
) -> None:
    """Host version, licences, dependencies: every problem at once, with what to do."""
    manifest = checked.scan.manifest
    problems: list[str] = []
    missing: list[str] = []
    for entry in manifest.releases:
        key = (entry.plugin, entry.version)
        if key not in checked.releases:
            missing.append(f"{entry.plugin}@{entry.version} (release not on the site)")
        elif key in checked.from_site and not objects.exists(entry.artifact):
            missing.append(f"{entry.plugin}@{entry.version} (artifact not in the store)")
    deployed = [
        checked.releases[key]
        for key in sorted(
            {(s.plugin, s.version) for s in checked.states}
            | {(s.plugin, s.canary.version) for s in checked.states if s.canary}
        )
        if key in checked.releases
    ]
    available = list(checked.releases.values())
    for release in deployed:
        for name, text in sorted(release.dependencies.items()):
            wanted = VersionRange.parse(text)
            if not any(
                r.plugin == name and wanted.contains(Version.parse(r.version)) for r in available
            ):
                missing.append(f"{name} {text} (needed by {release.ref})")
        if request.host_version is not None:
            host = request.host_version
            if not VersionRange.parse(release.compatibility["powerx"]).contains(
                Version.parse(host)
            ):
                problems.append(
                    f"{release.ref} runs on powerx {release.compatibility['powerx']}, "
                    f"this host is {host}"
                )
        site_wide = checked.entitlements.get(release.plugin)
        candidates = [site_wide] if site_wide else []
        candidates += checked.tenant_entitlements.get(release.plugin, [])
        licence = licence_problem(
            Licensed(release.plugin, release.version, release.license, request.tenant),
            candidates,
            now=request.now,
        )
        if licence is not None:
            problems.append(licence)
    if missing:
        problems.append("missing dependencies: " + "; ".join(missing))
    if problems:
        hints = []
        if missing:
            hints.append(
                "import the full bundle first, or export again without --since so it carries them"
            )
        if any("runs on powerx" in p for p in problems):
            hints.append("upgrade the host, or deploy releases built for it")
        if any("entitlement" in p or "licence expired" in p for p in problems):
            hints.append(
                "ask the vendor for a current entitlements/<plugin>.yaml, or start a trial "
                "or purchase a plan for the tenant (px-market trial start | purchase)"
            )
        raise GateError(
            "the bundle does not fit this site:\n    " + "\n    ".join(problems),
            hint="; ".join(hints) or None,
        )


def check_tenant(request: ImportRequest, checked: CheckedBundle) -> None:
    """--tenant names a tenant of the bundle's environment (checked before the commit)."""
    if request.tenant is None or not request.deploy:
        return
    path = checked.scan.files["environment/environment.yaml"]
    env = parse_document(path.read_bytes(), "environment/environment.yaml", Environment)
    require_name(
        "tenant",
        request.tenant,
        [tenant.id for tenant in env.tenants],
        message=f"tenant {request.tenant!r} is not a tenant of environment {env.name!r}",
        hint=f"known tenants: {', '.join(t.id for t in env.tenants) or '(none)'}",
    )
