"""What an environment needs at one revision: its folder, releases, dependency closure, licences.

Export and `--since` both use this plan: a revision's plan says which files a full bundle
would carry, so an incremental bundle leaves out what an earlier plan already carried.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from pipeline import layout
from pipeline.errors import GateError, InputError
from pipeline.gitrepo import Commit, GitRepo
from pipeline.models.environment import PluginState
from pipeline.models.release import Release
from pipeline.models.semver import Version, VersionRange
from pipeline.snapshot import Snapshot
from pipeline.yamlio import MAX_YAML_BYTES

ENTITLEMENTS = layout.ENTITLEMENTS
MAX_FILE_BYTES = 64 * 1024 * 1024
"""Largest repo file (evidence, signature) carried in a bundle."""


def artifact_path(sha256: str) -> str:
    """Where an artifact lives inside a bundle."""
    return f"artifacts/{sha256}.pxp"


def entitlement_path(plugin: str) -> str:
    """Where a plugin's entitlement lives, in a bundle and in a site's repo."""
    return f"{ENTITLEMENTS}/{plugin}.yaml"


@dataclass(frozen=True)
class RepoFile:
    """A file read from git, with the name it takes inside the bundle."""

    bundle_path: str
    data: bytes


@dataclass(frozen=True)
class PlannedRelease:
    """A release the environment needs, with its folder's files."""

    release: Release
    role: str  # "deployed" | "dependency"
    files: tuple[RepoFile, ...]


@dataclass(frozen=True)
class Plan:
    """Everything a full bundle of `environment` at `commit` carries."""

    commit: str
    environment: str
    environment_files: tuple[RepoFile, ...]
    releases: tuple[PlannedRelease, ...]
    entitlements: tuple[RepoFile, ...]

    def carried(self) -> set[tuple[str, str]]:
        """(bundle path, identity) of every release file, artifact and entitlement."""
        import hashlib

        found: set[tuple[str, str]] = set()
        for planned in self.releases:
            for file in planned.files:
                found.add((file.bundle_path, hashlib.sha256(file.data).hexdigest()))
            sha = planned.release.artifact.sha256
            found.add((artifact_path(sha), sha))
        for file in self.entitlements:
            found.add((file.bundle_path, hashlib.sha256(file.data).hexdigest()))
        return found


def plan_environment(git: GitRepo, commit: Commit, environment: str) -> Plan:
    """The full contents of a bundle of `environment` at `commit`; GateError if incomplete."""
    snapshot = Snapshot(git, commit)
    folder = f"{layout.ENVIRONMENTS}/{environment}"
    if snapshot.environment(environment) is None:
        raise InputError(
            f"environment {environment!r} does not exist at {commit.short_id}",
            hint=f"{layout.environment_path(environment)} is missing; check --env",
        )
    env_files = tuple(
        RepoFile("environment/" + path[len(folder) + 1 :], _read(git, commit, path))
        for path in sorted(git.files(commit, folder))
    )
    deployed: dict[tuple[str, str], Release] = {}
    for path in sorted(git.files(commit, f"{folder}/plugins")):
        if not path.endswith(".yaml"):
            continue
        loaded = snapshot.load(path, PluginState)
        assert loaded is not None
        state = loaded.model
        wanted = [(state.version, state.digest)]
        if state.canary is not None:
            wanted.append((state.canary.version, state.canary.digest))
        for version, digest in wanted:
            release = _release(snapshot, state.plugin, version, f"{path} names it")
            if release.artifact.sha256 != digest:
                raise GateError(
                    f"{path}: digest {digest} differs from {release.ref}'s artifact "
                    f"{release.artifact.sha256}",
                    hint="fix the environment (powerx check --all names the problem)",
                )
            deployed[(release.plugin, release.version)] = release
    closure = _closure(snapshot, deployed)
    releases = tuple(
        PlannedRelease(release, role, _release_files(git, commit, release))
        for (release, role) in closure
    )
    plugins = sorted({planned.release.plugin for planned in releases})
    entitlements = tuple(
        RepoFile(entitlement_path(plugin), data)
        for plugin in plugins
        if (data := git.read(commit, entitlement_path(plugin), max_bytes=MAX_YAML_BYTES))
        is not None
    )
    return Plan(str(commit.id), environment, env_files, releases, entitlements)


def _release(snapshot: Snapshot, plugin: str, version: str, why: str) -> Release:
    loaded = snapshot.release(plugin, version)
    if loaded is None:
        raise GateError(
            f"{plugin}@{version} has no release manifest ({why})",
            hint=f"add {layout.release_path(plugin, version)} or fix the environment",
        )
    return loaded.model


def _closure(
    snapshot: Snapshot, deployed: dict[tuple[str, str], Release]
) -> list[tuple[Release, str]]:
    """The deployed releases plus, for each dependency no deployed release satisfies, the
    newest release of the repo that does (recursively)."""
    chosen: dict[tuple[str, str], tuple[Release, str]] = {
        key: (release, "deployed") for key, release in sorted(deployed.items())
    }
    queue = [release for release, _ in chosen.values()]
    while queue:
        release = queue.pop(0)
        for name, text in sorted(release.dependencies.items()):
            wanted = VersionRange.parse(text)
            if any(
                r.plugin == name and wanted.contains(Version.parse(r.version))
                for r, _ in chosen.values()
            ):
                continue
            match = next((v for v in snapshot.versions(name) if wanted.contains(v)), None)
            if match is None:
                raise GateError(
                    f"{release.ref} depends on {name} {text}, and no release of the repo "
                    "satisfies it",
                    hint=f"release {name} first, or deploy a matching version in the environment",
                )
            dependency = _release(snapshot, name, str(match), f"{release.ref} depends on it")
            chosen[(name, dependency.version)] = (dependency, "dependency")
            queue.append(dependency)
    return list(chosen.values())


def _release_files(git: GitRepo, commit: Commit, release: Release) -> tuple[RepoFile, ...]:
    folder = layout.release_dir(release.plugin, release.version)
    files = tuple(
        RepoFile(path, _read(git, commit, path)) for path in sorted(git.files(commit, folder))
    )
    signature = release.artifact.signature
    if signature is None or posixpath.join(folder, signature) not in {f.bundle_path for f in files}:
        raise GateError(
            f"{release.ref} has no signature bundle in its release folder",
            hint="sign the artifact (px-plugin sign) and commit the .sigstore.json beside "
            "release.yaml",
        )
    return files


def _read(git: GitRepo, commit: Commit, path: str) -> bytes:
    data = git.read(commit, path, max_bytes=MAX_FILE_BYTES)
    if data is None:  # pragma: no cover - listed a moment ago
        raise InputError(f"{path} vanished at {commit.short_id}")
    return data
