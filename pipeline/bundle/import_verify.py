"""Checks 1-3 of an offline import: the signed manifest, every checksum and each release's
own signature and package, read into a `CheckedBundle` before anything is stored.

What is learnt on the way (the bundle's digest, environment, sequence and signer) is also
written into a `BundleFacts` as soon as it is known, so a refusal can still say it."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import layout
from pipeline.bundle.contents import ENTITLEMENTS, artifact_path, entitlement_path
from pipeline.bundle.entitlements import tenant_entitlements
from pipeline.bundle.import_request import ImportRequest
from pipeline.bundle.manifest import check_limits, manifest_digest, parse_manifest, verify_manifest
from pipeline.bundle.progress import Progress
from pipeline.bundle.tarstream import BundleReader, HeadCheck, ScanResult
from pipeline.errors import GateError, InputError
from pipeline.gitrepo import Commit, GitRepo
from pipeline.models.bundle import BundleManifest, BundleRelease
from pipeline.models.entitlement import Entitlement
from pipeline.models.environment import PluginState
from pipeline.models.load import parse_document
from pipeline.models.release import Release
from pipeline.models.signing import BundleLimits, SigningPolicy
from pipeline.packaging import inspect_package
from pipeline.signing.statement import check_release_names
from pipeline.signing.trust import TrustInputs
from pipeline.signing.verify import Verification, verify_bundle
from pipeline.snapshot import Snapshot
from pipeline.store.cas import ContentAddressedDirectory

Scanner = Callable[[HeadCheck, Path, Progress], ScanResult]
"""Reads a bundle under `head_check` (its signed index verified first), every indexed file
checked against the index on the way, into a scratch folder: a bundle file's
`BundleReader` by default, a registry's `pipeline.bundle.oci_import.RegistryScanner`."""


@dataclass
class BundleFacts:
    """What an import learnt of its bundle so far (None: not yet, or not readable)."""

    digest: str | None = None
    environment: str | None = None
    sequence: int | None = None
    signer: str | None = None
    """Who signed bundle.json, once the site's policy trusted it (`describe_signer`)."""


def describe_signer(verification: Verification) -> str:
    """The `PowerX-Bundle-Signer` value: 'key <id>' or 'keyless <identity> (<issuer>)'."""
    if verification.mode == "key":
        text = f"key {verification.signer}"
    else:
        text = f"keyless {verification.signer} ({verification.issuer or 'no issuer'})"
    return " ".join(text.split())  # one trailer line


@dataclass
class CheckedBundle:
    """A bundle that passed checks 1-3: its scan, releases and environment."""

    scan: ScanResult
    digest: str
    signer: str
    """Who signed bundle.json (`describe_signer`)."""
    releases: dict[tuple[str, str], Release]
    """Every release the environment needs, from the bundle or the site."""
    from_site: set[tuple[str, str]]
    states: list[PluginState]
    entitlements: dict[str, Entitlement]
    tenant_entitlements: dict[str, list[Entitlement]] = field(default_factory=dict)
    """The --tenant's own trials and purchases in the site's repo, by plugin."""


def verify_contents(
    request: ImportRequest,
    git: GitRepo,
    tip: Commit,
    policy: SigningPolicy,
    objects: ContentAddressedDirectory,
    scratch: Path,
    progress: Progress,
    facts: BundleFacts | None = None,
    scanner: Scanner | None = None,
) -> CheckedBundle:
    """Checks 1-3: the bundle streamed into `scratch` under its signed manifest (read by
    `scanner`, the bundle file by default), each included release verified, each other one
    taken from the site if it matches."""
    seen = facts if facts is not None else BundleFacts()

    def head_check(raw: bytes, signature: bytes) -> BundleManifest:
        seen.digest = manifest_digest(raw)
        verification = verify_manifest(raw, signature, policy, now=request.now)
        seen.signer = describe_signer(verification)
        manifest = parse_manifest(raw)
        seen.environment, seen.sequence = manifest.environment, manifest.sequence
        _check_accounted(manifest)  # before a byte of content is written
        check_limits(manifest, policy.bundles.limits if policy.bundles else BundleLimits())
        return manifest

    if scanner is None:
        scan = BundleReader(request.bundle, scratch / "bundle", head_check, progress).run()
    else:
        scan = scanner(head_check, scratch / "bundle", progress)
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
    tenants = {}
    if request.tenant is not None:
        tenants = {
            plugin: list(tenant_entitlements(snapshot, plugin, request.tenant).values())
            for plugin in {key[0] for key in releases}
        }
    assert seen.digest is not None and seen.signer is not None  # head_check ran
    return CheckedBundle(
        scan, seen.digest, seen.signer, releases, from_site, states, entitlements, tenants
    )


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
