"""Plugin packaging: build a plugin, pack it reproducibly into a `.pxp`, and read one safely."""

from __future__ import annotations

from pipeline.packaging.archive import MAX_BYTES, PackageInfo, extract_package, inspect_package
from pipeline.packaging.build import BuildResult, build_plugin
from pipeline.packaging.entries import MAX_ENTRIES
from pipeline.packaging.manifest import LoadedManifest, load_manifest, read_manifest
from pipeline.packaging.pack import PackedFile, PackResult, pack_plugin
from pipeline.packaging.sbom import build_sbom, plugin_purl

__all__ = [
    "MAX_BYTES",
    "MAX_ENTRIES",
    "BuildResult",
    "LoadedManifest",
    "PackResult",
    "PackageInfo",
    "PackedFile",
    "build_plugin",
    "build_sbom",
    "extract_package",
    "inspect_package",
    "load_manifest",
    "pack_plugin",
    "plugin_purl",
    "read_manifest",
]
