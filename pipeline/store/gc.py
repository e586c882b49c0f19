"""`powerx store gc`: artifacts that no release or environment references, listed or deleted.

What is referenced is read from the release repo at one revision: every
`releases/<plugin>/<version>/release.yaml` (its `artifact.sha256`) and every
`environments/<env>/plugins/<plugin>.yaml` (its `digest`, and its canary's). Everything a
store holds beyond that is garbage, except the newest `keep` versions of each plugin
(counted over every version the store holds, referenced or not).

A store is seen through an `Inventory`: what it holds (digest, plugin, version) and how one
item is deleted. The content-addressed directory and the `oci://` registry each have one;
deletion is never asked of an item the plan keeps.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pipeline import layout
from pipeline.errors import FileSystemError, GateError, InputError
from pipeline.gitrepo import Commit, GitRepo
from pipeline.models.environment import PluginState
from pipeline.models.release import Release
from pipeline.models.semver import Version
from pipeline.packaging.archive import read_package_manifest
from pipeline.snapshot import Snapshot
from pipeline.store.cas import ContentAddressedDirectory
from pipeline.store.oci.artifact import PLUGIN_ANNOTATION, VERSION_ANNOTATION, package_layer
from pipeline.store.oci.client import ManifestNotFoundError, RegistryClient, fallback_tag
from pipeline.store.oci.reference import SCHEME, OciReference
from pipeline.store.oci.store import RegistryAccess


@dataclass(frozen=True)
class StoredItem:
    """One artifact a store holds: its digest, the plugin and version it packs (None when
    it cannot be told), its size, and where it is (a path or a registry reference)."""

    sha256: str
    plugin: str | None
    version: str | None
    size: int | None
    where: str


class Inventory(Protocol):
    """What a store holds, and how to delete one item of it."""

    name: str
    """The store, as the output names it (credentials never included)."""
    note: str | None
    """Said after a deletion (e.g. who reclaims the space), or None."""

    def items(self) -> list[StoredItem]:
        """Every artifact in the store."""
        ...

    def delete(self, item: StoredItem) -> None:
        """Remove one artifact from the store."""
        ...


@dataclass
class GcPlan:
    """What gc keeps (with why) and what it deletes."""

    kept: list[tuple[StoredItem, str]] = field(default_factory=list)
    garbage: list[StoredItem] = field(default_factory=list)

    @property
    def garbage_bytes(self) -> int:
        """The bytes the garbage holds (where the store knows sizes)."""
        return sum(item.size or 0 for item in self.garbage)


def referenced_digests(git: GitRepo, commit: Commit) -> dict[str, str]:
    """sha256 -> the first file that references it, at `commit`: every release manifest,
    and every environment's plugin state (stable and canary)."""
    snapshot = Snapshot(git, commit)
    found: dict[str, str] = {}
    for plugin, is_dir in git.list_dir(commit, layout.RELEASES):
        if not is_dir:
            continue
        for version, is_version in git.list_dir(commit, f"{layout.RELEASES}/{plugin}"):
            path = layout.release_path(plugin, version)
            loaded = snapshot.load(path, Release) if is_version else None
            if loaded is not None:
                found.setdefault(loaded.model.artifact.sha256, path)
    for env, is_dir in git.list_dir(commit, layout.ENVIRONMENTS):
        if not is_dir:
            continue
        for name, is_folder in git.list_dir(commit, f"{layout.ENVIRONMENTS}/{env}/plugins"):
            if is_folder or not name.endswith(".yaml"):
                continue
            path = layout.plugin_state_path(env, name.removesuffix(".yaml"))
            state = snapshot.load(path, PluginState)
            if state is None:
                continue
            found.setdefault(state.model.digest, path)
            if state.model.canary is not None:
                found.setdefault(state.model.canary.digest, f"{path} (canary)")
    return found


def plan_gc(items: list[StoredItem], referenced: dict[str, str], keep: int) -> GcPlan:
    """Split `items` into kept (referenced, or among the newest `keep` versions of their
    plugin) and garbage (everything else)."""
    if keep < 0:
        raise InputError(f"--keep {keep} is negative", hint="keep 0 or more versions per plugin")
    newest = _newest(items, keep)
    plan = GcPlan()
    for item in sorted(items, key=lambda i: (i.plugin or "~", _order(i.version), i.where)):
        if item.sha256 in referenced:
            plan.kept.append((item, f"referenced by {referenced[item.sha256]}"))
        elif item.sha256 in newest:
            plan.kept.append((item, f"among the newest {keep} of {item.plugin}"))
        else:
            plan.garbage.append(item)
    return plan


def collect(inventory: Inventory, plan: GcPlan, referenced: dict[str, str]) -> list[StoredItem]:
    """Delete the plan's garbage; an item referenced after all is never deleted."""
    deleted = []
    for item in plan.garbage:
        if item.sha256 in referenced:  # the one rule, held again at the moment of deleting
            continue
        inventory.delete(item)
        deleted.append(item)
    return deleted


def _order(version: str | None) -> tuple[int, Version | None]:
    if version is None:
        return (0, None)
    try:
        return (1, Version.parse(version))
    except ValueError:
        return (0, None)


def _newest(items: list[StoredItem], keep: int) -> set[str]:
    """Digests of the newest `keep` versions of each plugin the store holds."""
    versions: dict[str, dict[Version, set[str]]] = defaultdict(lambda: defaultdict(set))
    for item in items:
        _rank, version = _order(item.version)
        if item.plugin is not None and version is not None:
            versions[item.plugin][version].add(item.sha256)
    kept: set[str] = set()
    for by_version in versions.values():
        for version in sorted(by_version, reverse=True)[:keep]:
            kept |= by_version[version]
    return kept


@dataclass
class DirectoryInventory:
    """The artifacts of a content-addressed directory (`sha256/<aa>/<hex>`)."""

    store: ContentAddressedDirectory
    name: str
    note: str | None = None

    def items(self) -> list[StoredItem]:
        """Every object, named by the `plugin.yaml` at the head of its package."""
        return [self._item(path) for path in self._objects()]

    def _objects(self) -> Iterator[Path]:
        folder = self.store.root / "sha256"
        if not folder.is_dir():
            return
        for prefix in sorted(folder.iterdir()):
            if prefix.is_dir() and len(prefix.name) == 2:
                for path in sorted(prefix.iterdir()):
                    if len(path.name) == 64 and path.name.startswith(prefix.name):
                        yield path

    def _item(self, path: Path) -> StoredItem:
        plugin: str | None = None
        version: str | None = None  # not a package: garbage unless referenced
        try:
            manifest = read_package_manifest(path)
            plugin, version = manifest.name, str(manifest.version)
        except InputError:
            pass
        return StoredItem(path.name, plugin, version, path.stat().st_size, str(path))

    def delete(self, item: StoredItem) -> None:
        """Unlink the object (read-only objects only need the folder to be writable)."""
        try:
            self.store.object_path(item.sha256).unlink(missing_ok=True)
        except OSError as error:
            raise FileSystemError("delete", self.store.object_path(item.sha256), error) from None


REGISTRY_NOTE = (
    "the registry's own garbage collection reclaims the blobs' space "
    "(distribution: `registry garbage-collect CONFIG` while it is read-only or stopped)"
)


@dataclass
class RegistryInventory:
    """The packages of one `oci://` repository: every tagged manifest of our artifact type.

    Deleting one deletes its manifest by digest, with its signature referrers and their
    tag-schema index; the blobs stay until the registry collects its own garbage."""

    client: RegistryClient
    name: str
    note: str | None = REGISTRY_NOTE

    def items(self) -> list[StoredItem]:
        """Our packages, named by their manifests' annotations (other manifests are left alone)."""
        found: dict[str, StoredItem] = {}
        for tag in sorted(self.client.tags()):
            try:  # one GET per tag: its digest is that of the bytes it answers
                data, _media_type, digest = self.client.get_manifest(tag)
            except ManifestNotFoundError:
                continue  # untagged since the listing
            if digest in found:
                continue
            try:
                layer, annotations = package_layer(data, f"{self.name}:{tag}")
            except GateError:
                continue  # a bundle, a signature index or someone else's: not ours to collect
            found[digest] = StoredItem(
                layer.digest,
                annotations.get(PLUGIN_ANNOTATION),
                annotations.get(VERSION_ANNOTATION),
                layer.size,
                f"{self.name}@sha256:{digest}",
            )
        return list(found.values())

    def delete(self, item: StoredItem) -> None:
        """Delete the package manifest, its referrers and their fallback index (by digest)."""
        digest = item.where.rsplit("@sha256:", 1)[1]
        for referrer in self.client.referrers(digest):
            self.client.delete_manifest(str(referrer.get("digest", "")))
        index = self.client.manifest_digest(fallback_tag(digest))
        if index is not None:
            self.client.delete_manifest(index)
        self.client.delete_manifest(digest)


def inventory_for(location: str, access: RegistryAccess | None = None) -> Inventory:
    """The inventory of the store at `location` (a directory, file:// or oci://)."""
    from pipeline.store.registry import store_for

    if location.startswith(SCHEME):
        reference = OciReference.parse(location)
        if reference.tag is not None or reference.digest is not None:
            raise InputError(
                f"{location}: gc takes a repository, not a tag or digest",
                hint=f"e.g. {reference.repository_location()}",
            )
        registry = (access or RegistryAccess()).client(reference)
        return RegistryInventory(registry, reference.repository_location())
    store = store_for(location)
    if isinstance(store, ContentAddressedDirectory):
        return DirectoryInventory(store, name=str(store.root))
    raise InputError(
        f"powerx store gc cannot list {location!r}: it is not a directory or oci:// store",
        hint="collect garbage where the artifacts are written (a directory or a registry)",
    )
