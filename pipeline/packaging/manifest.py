"""Reading a plugin folder's `plugin.yaml`, keeping its bytes and where each value stands."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import InputError, Location
from pipeline.models.load import validate_document
from pipeline.models.plugin import MANIFEST_FILE, PluginManifest
from pipeline.yamlio import KeyPath, YamlDocument, parse_yaml


@dataclass(frozen=True)
class LoadedManifest:
    """A validated `plugin.yaml`, its exact bytes, and the parsed YAML (for error locations)."""

    path: Path
    raw: bytes
    document: YamlDocument
    manifest: PluginManifest

    def locate(self, key_path: KeyPath) -> Location:
        """Where in plugin.yaml the value at `key_path` stands."""
        return self.document.locate(key_path)


def parse_manifest(raw: bytes, path: str) -> tuple[YamlDocument, PluginManifest]:
    """Parse and validate `plugin.yaml` bytes; InputError with file:line on any problem."""
    document = parse_yaml(raw, path)
    return document, validate_document(document, PluginManifest)


def read_manifest(plugin_dir: Path) -> LoadedManifest:
    """Read and validate `<plugin_dir>/plugin.yaml`."""
    if not plugin_dir.is_dir():
        raise InputError(
            f"plugin folder {plugin_dir} does not exist or is not a folder",
            hint="name the folder that holds plugin.yaml",
        )
    path = plugin_dir / MANIFEST_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(
            f"{MANIFEST_FILE} not found in {plugin_dir}",
            location=Location(str(path)),
            hint="every plugin describes itself in plugin.yaml; see examples/hello-world",
        ) from None
    document, manifest = parse_manifest(raw, str(path))
    return LoadedManifest(path=path, raw=raw, document=document, manifest=manifest)


def load_manifest(plugin_dir: Path) -> PluginManifest:
    """The validated manifest of the plugin in `plugin_dir`."""
    return read_manifest(plugin_dir).manifest
