"""The permissions a released version's `plugin.yaml` declares, read from its package.

A release manifest pins its package by digest; the package's `plugin.yaml` (written first
by the packer) names the permissions the plugin asks for. A grant may only give what the
version an environment runs declares (`pipeline.policy.admin_rules`), so both `px-admin
grant` and `powerx check --store` read it here, once per package.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import GateError, InputError
from pipeline.models.release import Release
from pipeline.snapshot import Snapshot

if TYPE_CHECKING:
    from pipeline.store import ArtifactSource


class DeclaredPermissions:
    """Reads (and remembers) the declared permissions of released versions from a store."""

    def __init__(self, store: ArtifactSource) -> None:
        self.store = store
        self._known: dict[str, tuple[str, ...]] = {}

    def of(self, release: Release) -> tuple[str, ...]:
        """What `release`'s plugin.yaml declares; InputError when its package is unavailable."""
        # the package reader and the store's HTTP client load only when a grant is judged
        from pipeline.packaging.archive import read_package_manifest
        from pipeline.store import cas_uri

        artifact = release.artifact
        if artifact.sha256 not in self._known:
            with tempfile.TemporaryDirectory(prefix="powerx-declared-") as folder:
                dest = Path(folder) / f"{release.plugin}-{release.version}.pxp"
                try:
                    self.store.fetch(cas_uri(artifact.sha256), artifact.sha256, artifact.size, dest)
                except (InputError, GateError) as error:
                    raise InputError(
                        f"cannot read what {release.ref} declares: {error.message}",
                        hint="pass the artifact store that holds its package (--store)",
                    ) from None
                manifest = read_package_manifest(dest)
            self._known[artifact.sha256] = tuple(manifest.permissions)
        return self._known[artifact.sha256]


def running_versions(snapshot: Snapshot, env: str, plugin: str) -> list[str]:
    """The versions of `plugin` that run in `env` (stable, and a canary's); when it runs
    nowhere there yet, its newest release (what a first promotion brings)."""
    state = snapshot.plugin_state(env, plugin)
    if state is not None:
        canary = state.model.canary
        return [state.model.version, *([canary.version] if canary else [])]
    newest = snapshot.versions(plugin)
    return [str(newest[0])] if newest else []


def declared_in(
    snapshot: Snapshot, env: str, plugin: str, declared: DeclaredPermissions
) -> tuple[list[str], set[str]]:
    """(the versions looked at, what one of them declares) for `plugin` in `env`."""
    versions = running_versions(snapshot, env, plugin)
    found: set[str] = set()
    for version in versions:
        loaded = snapshot.release(plugin, version)
        if loaded is not None:
            found.update(declared.of(loaded.model))
    return versions, found
