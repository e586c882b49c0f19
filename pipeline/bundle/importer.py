"""`powerx plugin import --offline`: verify a bundle against the site's trust, then apply it.

Order (nothing changes in the site repo or the store until every check has passed):

1. the manifest's signature against the site's `policies/signing.yaml` (`bundles:` signers);
2. every checksum, streamed into a scratch folder (`<store>/incoming/`);
3. each release's own signature, against the same policy (with the environment's rules),
   and its package read through (archive safety, checksums, the plugin it names);
   the signed index is held to the site's limits (`bundles.limits`) before a byte of
   content is written, and every entry's streamed bytes to its declared size;
4. anti-rollback and freshness (`imports/<env>.yaml`), with recorded overrides;
5. host compatibility, licences (entitlements) and dependencies, all problems at once;
6. the artifacts into the store's content-addressed `objects/` (idempotent, atomic);
7. ONE commit into the site repo (environment, releases, entitlements, import record);
8. deployment through the host agent, health checks, and an automatic rollback commit of
   the site's desired state when the agent had to roll the host back.

Artifacts are stored before the commit so that a commit never names an artifact the store
lacks. Killed anywhere and run again, an import finishes: a landed commit is recognised by
the bundle digest in `imports/<env>.yaml`, store puts are no-ops for existing objects.
"""

from __future__ import annotations

import fcntl
import os
import posixpath
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pipeline import layout
from pipeline.bundle.contents import (
    ENTITLEMENTS,
    MAX_FILE_BYTES,
    artifact_path,
    entitlement_path,
)
from pipeline.bundle.deploy import Deploy, Deployed, deploy_with_agent
from pipeline.bundle.entitlements import entitlement_problem
from pipeline.bundle.freshness import (
    Freshness,
    check_freshness,
    import_state_path,
    load_import_state,
    next_state,
)
from pipeline.bundle.manifest import (
    check_limits,
    manifest_digest,
    parse_manifest,
    verify_manifest,
)
from pipeline.bundle.progress import Progress, no_progress
from pipeline.bundle.tarstream import BundleReader, ScanResult
from pipeline.errors import GateError, InputError
from pipeline.fsutil import fsync_directory, make_dirs
from pipeline.gitrepo import Commit, GitRepo, Trailers, compose_message
from pipeline.models.bundle import BundleManifest, BundleRelease, ImportState
from pipeline.models.entitlement import Entitlement
from pipeline.models.environment import Environment, PluginState
from pipeline.models.load import parse_document
from pipeline.models.release import Release
from pipeline.models.semver import Version, VersionRange
from pipeline.models.signing import BundleLimits, SigningPolicy
from pipeline.names import require_name
from pipeline.packaging import inspect_package
from pipeline.promotion.rollback import RollbackRequest, rollback
from pipeline.signing.statement import check_release_names
from pipeline.signing.trust import TrustInputs, seed_signing_policy
from pipeline.signing.verify import verify_bundle
from pipeline.snapshot import Snapshot
from pipeline.store.cas import OBJECT_MODE, ContentAddressedDirectory
from pipeline.yamlio import MAX_YAML_BYTES, dump_yaml

INCOMING = "incoming"
OBJECTS = "objects"
SIGNING_POLICY = "policies/signing.yaml"

Pause = Callable[[str], None]
"""A test seam called at named stages ("scanned", "verified", "stored", "committed")."""


def _no_pause(_stage: str) -> None:
    return None


@dataclass(frozen=True)
class ImportRequest:
    """Which bundle, into which site repo and store, checked against which host."""

    bundle: Path
    repo: Path
    store: Path
    now: datetime
    branch: str | None = None
    host_version: str | None = None
    operator: str | None = None
    allow_rollback: bool = False
    allow_expired: bool = False
    deploy: bool = True
    tenant: str | None = None
    health_timeout: float = 30.0


@dataclass
class ImportResult:
    """A completed import (refusals raise GateError instead)."""

    digest: str
    manifest: BundleManifest
    commit: str | None
    resumed: bool
    overrides: tuple[str, ...]
    stored: list[str] = field(default_factory=list)
    deployed: list[Deployed] = field(default_factory=list)
    deploy_note: str | None = None
    rollbacks: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """False when a health check failed and the import was rolled back."""
        return not self.rollbacks and all(d.action != "failed" for d in self.deployed)


@dataclass
class _Checked:
    """A bundle that passed checks 1-3: its scan, releases and environment."""

    scan: ScanResult
    digest: str
    releases: dict[tuple[str, str], Release]
    """Every release the environment needs, from the bundle or the site."""
    from_site: set[tuple[str, str]]
    states: list[PluginState]
    entitlements: dict[str, Entitlement]


def import_bundle(
    request: ImportRequest,
    *,
    progress: Progress = no_progress,
    pause: Pause = _no_pause,
    deploy: Deploy = deploy_with_agent,
) -> ImportResult:
    """Import the bundle; GateError naming every reason it is refused."""
    if request.now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if request.host_version is not None:
        _host_version(request.host_version)
    git = GitRepo(request.repo)
    branch = request.branch or _current_branch(git)
    objects = ContentAddressedDirectory(request.store / OBJECTS)
    with _scratch(request.store) as scratch:  # one import at a time: read the tip inside
        tip = git.resolve(f"refs/heads/{branch}")
        policy = _site_policy(git, tip)
        checked = _verify(request, git, tip, policy, objects, scratch, progress)
        pause("verified")
        manifest = checked.scan.manifest
        state = load_import_state(git, tip, manifest.environment)
        freshness = check_freshness(
            manifest,
            checked.digest,
            state,
            now=request.now,
            allow_rollback=request.allow_rollback,
            allow_expired=request.allow_expired,
        )
        _check_site_fit(request, checked, objects)
        _check_tenant(request, checked)
        result = ImportResult(
            checked.digest, manifest, None, freshness.already_imported, freshness.overrides
        )
        result.stored = _store_artifacts(checked, objects, pause)
        pause("stored")
        if freshness.already_imported:
            result.commit = str(tip.id)
        else:
            result.commit = _commit(request, git, branch, tip, checked, state, freshness)
        pause("committed")
        if request.deploy:
            _deploy(request, git, branch, scratch, deploy, result)
        else:
            result.deploy_note = "not deployed: run 'powerx agent sync' on the host"
    return result


def _store_artifacts(
    checked: _Checked, objects: ContentAddressedDirectory, pause: Pause
) -> list[str]:
    stored = []
    for entry in checked.scan.manifest.files:
        if entry.path.startswith("artifacts/"):
            path = checked.scan.files[entry.path]
            stored.append(store_verified(objects, path, entry.sha256))
            pause("storing")
    return stored


def _deploy(
    request: ImportRequest,
    git: GitRepo,
    branch: str,
    scratch: Path,
    deploy: Deploy,
    result: ImportResult,
) -> None:
    """Let the agent deploy the committed environment; roll the site back where it had to."""
    manifest = result.manifest
    env_dir = _materialise(git, git.resolve(f"refs/heads/{branch}"), manifest, scratch)
    result.deployed, result.deploy_note = deploy(
        env_dir, request.store, request.tenant, request.health_timeout
    )
    result.rollbacks = _roll_back_unhealthy(request, git, branch, manifest, result)


def store_verified(objects: ContentAddressedDirectory, path: Path, sha256: str) -> str:
    """Move a staged artifact whose sha256 was checked while it streamed into the store.

    The staged file sits on the store's file system, so a rename stores it atomically
    without copying or hashing 1 GB again; an object already there goes through `put`,
    which keeps an intact one and repairs a damaged one.
    """
    if objects.exists(sha256):
        return objects.put(path).sha256
    target = objects.object_path(sha256)
    make_dirs(target.parent)
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
    path.chmod(OBJECT_MODE)
    path.replace(target)
    fsync_directory(target.parent)
    return sha256


def _host_version(text: str) -> Version:
    try:
        return Version.parse(text)
    except ValueError:
        raise InputError(
            f"--host-version {text!r} is not a semantic version", hint="e.g. --host-version 2.6.0"
        ) from None


# -- checks 1-3 ---------------------------------------------------------------------------


def _current_branch(git: GitRepo) -> str:
    if git.repo.head_is_detached or git.repo.head_is_unborn:
        raise InputError(
            f"{git.root} has no branch checked out", hint="pass --branch NAME (e.g. main)"
        )
    return git.repo.head.shorthand


def _site_policy(git: GitRepo, tip: Commit) -> SigningPolicy:
    loaded = Snapshot(git, tip).load(SIGNING_POLICY, SigningPolicy)
    return loaded.model if loaded is not None else seed_signing_policy()


@contextmanager
def _scratch(store: Path) -> Iterator[Path]:
    """A private folder under `<store>/incoming/`, one import at a time (flock)."""
    incoming = store / INCOMING
    make_dirs(incoming)
    fd = os.open(incoming / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        for leftover in incoming.glob("import-*"):  # an interrupted run's scratch
            shutil.rmtree(leftover, ignore_errors=True)
        work = Path(tempfile.mkdtemp(prefix="import-", dir=incoming))
        try:
            yield work
        finally:
            shutil.rmtree(work, ignore_errors=True)
    finally:
        os.close(fd)


def _verify(
    request: ImportRequest,
    git: GitRepo,
    tip: Commit,
    policy: SigningPolicy,
    objects: ContentAddressedDirectory,
    scratch: Path,
    progress: Progress,
) -> _Checked:
    digests: list[str] = []

    def head_check(raw: bytes, signature: bytes) -> BundleManifest:
        verify_manifest(raw, signature, policy, now=request.now)
        digests.append(manifest_digest(raw))
        manifest = parse_manifest(raw)
        _check_accounted(manifest)  # before a byte of content is written
        check_limits(manifest, policy.bundles.limits if policy.bundles else BundleLimits())
        return manifest

    scan = BundleReader(request.bundle, scratch / "bundle", head_check, progress).run()
    manifest = scan.manifest
    trust = TrustInputs(policy=policy)
    snapshot = Snapshot(git, tip)
    releases: dict[tuple[str, str], Release] = {}
    from_site: set[tuple[str, str]] = set()
    for entry in manifest.releases:
        key = (entry.plugin, entry.version)
        if entry.included:
            releases[key] = _verified_release(entry, scan, trust, manifest.environment, request)
        else:
            loaded = snapshot.release(entry.plugin, entry.version)
            if loaded is not None and loaded.model.artifact.sha256 == entry.artifact:
                releases[key] = loaded.model
                from_site.add(key)
    states = _states(scan, manifest, releases)
    entitlements = {
        name[len(ENTITLEMENTS) + 1 : -len(".yaml")]: parse_document(
            path.read_bytes(), f"bundle!{name}", Entitlement
        )
        for name, path in scan.files.items()
        if name.startswith(f"{ENTITLEMENTS}/")
    }
    for plugin in {key[0] for key in releases} - entitlements.keys():
        site = snapshot.load(entitlement_path(plugin), Entitlement)
        if site is not None:
            entitlements[plugin] = site.model
    return _Checked(scan, digests[0], releases, from_site, states, entitlements)


def _check_accounted(manifest: BundleManifest) -> None:
    """Every release folder, artifact and entitlement belongs to a release the manifest
    includes: nothing lands in the site repo without its release signature checked."""
    included = [r for r in manifest.releases if r.included]
    folders = {layout.release_dir(r.plugin, r.version) + "/" for r in included}
    artifacts = {artifact_path(r.artifact) for r in included}
    plugins = {entitlement_path(r.plugin) for r in manifest.releases}
    for entry in manifest.files:
        path = entry.path
        if (
            (path.startswith("releases/") and not path.startswith(tuple(folders)))
            or (path.startswith("artifacts/") and path not in artifacts)
            or (path.startswith(f"{ENTITLEMENTS}/") and path not in plugins)
        ):
            raise GateError(
                f"the bundle carries {path}, which belongs to no release it includes",
                hint="a bundle may only carry the releases its manifest lists; export it again",
            )


def _verified_release(
    entry: BundleRelease,
    scan: ScanResult,
    trust: TrustInputs,
    environment: str,
    request: ImportRequest,
) -> Release:
    """Check 3: the release's own signature covers its artifact, under the site's policy."""
    folder = layout.release_dir(entry.plugin, entry.version)
    path = scan.files.get(layout.release_path(entry.plugin, entry.version))
    if path is None:
        raise GateError(
            f"the bundle lists {entry.plugin}@{entry.version} but lacks its release.yaml"
        )
    release = parse_document(path.read_bytes(), f"bundle!{folder}/release.yaml", Release)
    if (release.plugin, release.version, release.artifact.sha256) != (
        entry.plugin,
        entry.version,
        entry.artifact,
    ):
        raise GateError(
            f"bundle!{folder}/release.yaml does not describe {entry.plugin}@{entry.version}"
            f" with artifact {entry.artifact}"
        )
    artifact = scan.files.get(artifact_path(entry.artifact))
    if artifact is None:
        raise GateError(f"the bundle lacks the artifact of {release.ref}")
    signature = scan.files.get(posixpath.join(folder, release.artifact.signature or ""))
    if release.artifact.signature is None or signature is None:
        raise GateError(f"{release.ref} comes without its signature bundle")
    try:
        verification = verify_bundle(
            signature.read_bytes(),
            digest=release.artifact.sha256,
            trust=trust,
            environment=environment,
            now=request.now,
        )
    except (GateError, InputError) as error:
        raise GateError(
            f"the signature of {release.ref} does not hold: {error.message}",
            hint=error.hint or "the release or its signature bundle was altered or swapped",
        ) from None
    try:
        check_release_names(verification.release, release.plugin, release.version)
    except GateError as error:
        raise GateError(f"{release.ref}: {error.message}", hint=error.hint) from None
    _check_package(artifact, release)
    return release


def _check_package(artifact: Path, release: Release) -> None:
    """The package is safe and whole (the one archive-entry validator, checksums, its
    plugin.yaml) and names this release: before anything is stored or committed."""
    try:
        package = inspect_package(artifact)
    except InputError as error:
        raise GateError(
            f"the package of {release.ref} is refused: {error.message}",
            hint="the bundle carries an unsafe or damaged package; nothing was imported",
        ) from None
    if (package.manifest.name, package.manifest.version) != (release.plugin, release.version):
        raise GateError(
            f"the package of {release.ref} holds {package.manifest.ref}",
            hint="the release names another plugin's package; nothing was imported",
        )


def _states(
    scan: ScanResult, manifest: BundleManifest, releases: dict[tuple[str, str], Release]
) -> list[PluginState]:
    """The environment's plugin states; each must name a release the bundle accounts for."""
    states = []
    for name, path in sorted(scan.files.items()):
        if name.startswith("environment/plugins/") and name.endswith(".yaml"):
            states.append(parse_document(path.read_bytes(), f"bundle!{name}", PluginState))
    if "environment/environment.yaml" not in scan.files:
        raise GateError("the bundle carries no environment/environment.yaml")
    listed = {(r.plugin, r.version): r.artifact for r in manifest.releases}
    for state in states:
        versions = [(state.version, state.digest)]
        if state.canary is not None:
            versions.append((state.canary.version, state.canary.digest))
        for version, digest in versions:
            if listed.get((state.plugin, version)) != digest:
                raise GateError(
                    f"the environment runs {state.plugin}@{version}, which the signed manifest "
                    "does not list with that digest"
                )
    return states


# -- checks 5 -----------------------------------------------------------------------------


def _check_site_fit(
    request: ImportRequest, checked: _Checked, objects: ContentAddressedDirectory
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
        licence = entitlement_problem(
            release, checked.entitlements.get(release.plugin), now=request.now
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
        if any("entitlement" in p for p in problems):
            hints.append("ask the vendor for a current entitlements/<plugin>.yaml")
        raise GateError(
            "the bundle does not fit this site:\n    " + "\n    ".join(problems),
            hint="; ".join(hints) or None,
        )


# -- the commit ---------------------------------------------------------------------------


def _commit(
    request: ImportRequest,
    git: GitRepo,
    branch: str,
    tip: Commit,
    checked: _Checked,
    state: ImportState | None,
    freshness: Freshness,
) -> str:
    manifest = checked.scan.manifest
    env = manifest.environment
    changes: dict[str, bytes | None] = {}
    folder = f"{layout.ENVIRONMENTS}/{env}"
    for old in git.files(tip, folder):
        changes[old] = None
    for name, path in checked.scan.files.items():
        if name.startswith("environment/"):
            changes[f"{folder}/{name[len('environment/') :]}"] = path.read_bytes()
        elif name.startswith(("releases/", f"{ENTITLEMENTS}/")):
            data = path.read_bytes()
            existing = git.read(tip, name, max_bytes=MAX_FILE_BYTES)
            if name.startswith("releases/") and existing is not None and existing != data:
                raise GateError(
                    f"{name} differs from the site's copy: a released version is locked",
                    hint="the source repo changed a published release; release a new version",
                )
            changes[name] = data
    record = next_state(
        state,
        manifest,
        checked.digest,
        now=request.now,
        operator=request.operator,
        overrides=freshness.overrides,
    )
    changes[import_state_path(env)] = dump_yaml(
        record.model_dump(mode="json", by_alias=True, exclude_none=True)
    ).encode()
    versions = ", ".join(
        f"{s.plugin}@{s.version}" for s in sorted(checked.states, key=lambda s: s.plugin)
    )
    extra = {
        "Bundle-Digest": checked.digest,
        "Sequence": str(manifest.sequence),
        "Source-Commit": manifest.source.commit,
        "Timestamp": request.now.isoformat(),
    }
    if freshness.overrides:
        extra["Override"] = "; ".join(freshness.overrides)
    trailers = Trailers(
        action="import", version=versions, environment=env, operator=request.operator, extra=extra
    )
    body = (
        f"Offline bundle {checked.digest[:12]} from {manifest.source.repo} at "
        f"{manifest.source.commit[:12]}, sequence {manifest.sequence}."
    )
    message = compose_message(f"Import {env} offline: {versions}", body, trailers)
    return str(git.commit(branch, changes, message, parent=tip, when=request.now.timestamp()).id)


def _materialise(git: GitRepo, commit: Commit, manifest: BundleManifest, scratch: Path) -> Path:
    """The committed environment folder, written out for the agent."""
    folder = f"{layout.ENVIRONMENTS}/{manifest.environment}"
    target = scratch / "deploy" / manifest.environment
    for path in git.files(commit, folder):
        data = git.read(commit, path, max_bytes=MAX_YAML_BYTES)
        if data is not None:
            out = target / path[len(folder) + 1 :]
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
    return target


def _roll_back_unhealthy(
    request: ImportRequest,
    git: GitRepo,
    branch: str,
    manifest: BundleManifest,
    result: ImportResult,
) -> list[str]:
    """Roll the site's desired state back for every plugin the agent had to roll back."""
    done: list[str] = []
    for outcome in result.deployed:
        if outcome.action != "rolled-back":
            continue
        reason = (
            f"health check failed after offline import {result.digest[:12]}: "
            f"{outcome.message}".strip()
        )
        try:
            landed = rollback(
                git,
                RollbackRequest(
                    outcome.plugin, manifest.environment, reason, operator=request.operator
                ),
                branch=branch,
                when=request.now.timestamp(),
            )
        except InputError as error:
            done.append(f"{outcome.plugin}: host rolled back; site state kept ({error.message})")
            continue
        done.append(
            f"{outcome.plugin}: {landed.plan.from_version} -> {landed.plan.to_version} "
            f"(commit {landed.commit[:12]})"
        )
    return done


def _check_tenant(request: ImportRequest, checked: _Checked) -> None:
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
