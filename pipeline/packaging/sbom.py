"""`sbom.cdx.json`: a CycloneDX 1.5 SBOM of a plugin package, deterministic by construction.

The plugin is `metadata.component`; every file of `dist/` is a `file` component with its
sha256; every plugin it depends on is a component with the required range as a property,
and `dependencies` links the plugin to them. There is no timestamp unless the caller gives
one (SOURCE_DATE_EPOCH), and the serial number is a UUIDv5 of the plugin and its file hashes,
so the same inputs always give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import pipeline
from pipeline.models.plugin import PluginManifest

SPEC_VERSION = "1.5"
PURL_TYPE = "pkg:generic/powerx-plugin"


def plugin_purl(name: str, version: str | None = None) -> str:
    """The package URL of a plugin (of one version of it, when `version` is given)."""
    purl = f"{PURL_TYPE}/{name}"
    return purl if version is None else f"{purl}@{quote(version, safe='')}"


def build_sbom(
    manifest: PluginManifest, dist_files: Mapping[str, str], *, source_date_epoch: int = 0
) -> dict[str, Any]:
    """The SBOM of `manifest`'s plugin, whose `dist/` files have the given sha256 digests."""
    purl = plugin_purl(manifest.name, manifest.version)
    metadata: dict[str, Any] = {
        "tools": {
            "components": [
                {"type": "application", "name": "powerx-release", "version": pipeline.__version__}
            ]
        },
        "component": {
            "type": "application",
            "bom-ref": purl,
            "name": manifest.name,
            "version": manifest.version,
            "description": manifest.description,
            "licenses": [{"expression": manifest.license}],
            "purl": purl,
        },
    }
    if source_date_epoch:
        stamp = dt.datetime.fromtimestamp(source_date_epoch, dt.UTC)
        metadata = {"timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"), **metadata}
    files = [
        {
            "type": "file",
            "bom-ref": f"file:{path}",
            "name": path,
            "hashes": [{"alg": "SHA-256", "content": dist_files[path]}],
        }
        for path in sorted(dist_files)
    ]
    plugins = [
        {
            "type": "application",
            "bom-ref": plugin_purl(name),
            "name": name,
            "purl": plugin_purl(name),
            "scope": "required",
            "properties": [{"name": "powerx:versionRange", "value": manifest.dependencies[name]}],
        }
        for name in sorted(manifest.dependencies)
    ]
    digest_text = "\n".join(f"{path} {dist_files[path]}" for path in sorted(dist_files))
    serial = uuid.uuid5(uuid.NAMESPACE_URL, f"{purl}\n{digest_text}")
    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": f"urn:uuid:{serial}",
        "version": 1,
        "metadata": metadata,
        "components": files + plugins,
        "dependencies": [
            {"ref": purl, "dependsOn": [plugin["bom-ref"] for plugin in plugins]},
            *({"ref": plugin["bom-ref"], "dependsOn": []} for plugin in plugins),
        ],
    }


def sbom_bytes(sbom: Mapping[str, Any]) -> bytes:
    """Canonical JSON bytes of an SBOM (sorted keys would reorder the spec's fields: we don't)."""
    return (json.dumps(sbom, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
