"""Install one version into a plugin store: from its CAS object, verified, in one rename.

Shared by `powerx agent sync` (the version an environment names) and the local host's
`powerx plugin install --from DIR` (a package just built from a folder).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipeline.agent.store import PluginStore
from pipeline.errors import FileSystemError, GateError
from pipeline.fsutil import file_sha256
from pipeline.models.digest import digest_text
from pipeline.models.plugin import MANIFEST_FILE, PluginManifest
from pipeline.packaging.archive import MAX_BYTES, extract_package
from pipeline.packaging.manifest import parse_manifest
from pipeline.yamlio import MAX_YAML_BYTES


def read_installed_manifest(folder: Path) -> PluginManifest:
    """The plugin.yaml of an installed version folder (InputError when it is not valid)."""
    path = folder / MANIFEST_FILE
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_YAML_BYTES + 1)
    except OSError as error:
        raise FileSystemError("read", path, error) from None
    return parse_manifest(raw, str(path))[1]


def install_version(
    store: PluginStore,
    name: str,
    version: str,
    digest: str,
    *,
    max_bytes: int = MAX_BYTES,
    pause: Callable[[str], None] = lambda stage: None,
    source_hint: str = "the environment's state file",
) -> tuple[Path, PluginManifest | None]:
    """The version's folder, extracted from the store's CAS unless already installed.

    The object's sha256 is checked, the package is extracted safely into `staging/`, its
    `plugin.yaml` must name `name` and `version`, and the folder is renamed into place.
    Returns the manifest when this call extracted it (None: the folder was already there).
    Raises GateError (nothing installed) when the object is missing, damaged or mislabelled.
    """
    target = store.version_dir(name, version, digest)
    if target.is_dir():
        return target, None
    if not store.artifacts.exists(digest):
        raise GateError(
            f"{name} {version}: artifact {digest_text(digest)} is not in the "
            f"plugin store {store.artifacts.root}",
            hint="import a bundle that carries it (powerx plugin import --offline BUNDLE "
            "--store DIR), or store the .pxp in the plugin store first",
        )
    source = store.artifacts.object_path(digest)
    found = file_sha256(source)
    if found != digest:
        raise GateError(
            f"{name} {version}: the stored artifact {source} has sha256 {found}, not {digest}: "
            "refused",
            hint="the store's copy is damaged or was tampered with; import the bundle "
            "again to repair it",
        )
    with store.staging() as work:
        info = extract_package(source, work / "package", max_bytes=max_bytes)
        pause("extracted")
        if info.sha256 != digest:
            raise GateError(
                f"{name} {version}: {source} changed while it was extracted",
                hint="run the sync again",
            )
        manifest = info.manifest
        if (manifest.name, manifest.version) != (name, version):
            raise GateError(
                f"{name} {version}: the package {digest_text(digest)} holds "
                f"{manifest.name} {manifest.version}",
                hint=f"{source_hint} names the wrong digest",
            )
        folder = store.install(work / "package", name, version, digest)
    pause("installed")
    return folder, manifest
