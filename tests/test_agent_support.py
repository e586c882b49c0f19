"""Builders for the agent tests: real .pxp packages, a real plugin store, environment folders.

(No tests here: the other tests/test_agent_*.py modules import these helpers.)
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from factories import API, yaml_text

from pipeline.agent import PluginStore
from pipeline.packaging import pack_plugin

PASS = [sys.executable, "-c", "import sys; sys.exit(0)"]
FAIL = [sys.executable, "-c", "import sys; print('database unreachable'); sys.exit(1)"]


def manifest(name: str, version: str, health: dict[str, Any]) -> dict[str, Any]:
    """A valid plugin.yaml as data, with the given healthCheck."""
    return {
        "apiVersion": API,
        "kind": "Plugin",
        "name": name,
        "version": version,
        "description": f"{name} for the agent tests",
        "compatibility": {"powerx": ">=2.4,<3"},
        "license": "Apache-2.0",
        "entrypoint": "main.py",
        "healthCheck": health,
        "build": {"command": ["true"]},
    }


def make_package(
    folder: Path,
    name: str,
    version: str,
    *,
    command: list[str] | None = None,
    http: dict[str, Any] | None = None,
    timeout: int = 5,
    files: dict[str, str] | None = None,
) -> tuple[Path, str]:
    """A real package built by `pack_plugin`: (path, sha256)."""
    health: dict[str, Any] = {"timeoutSeconds": timeout}
    if http is not None:
        health["http"] = http
    else:
        health["command"] = command or PASS
    source = folder / "src" / f"{name}-{version}"
    (source / "dist").mkdir(parents=True, exist_ok=True)
    (source / "plugin.yaml").write_text(yaml_text(manifest(name, version, health)))
    (source / "dist" / "main.py").write_text(f"print('{name} {version}')\n")
    for relative, text in (files or {}).items():
        (source / "dist" / relative).write_text(text)
    packed = pack_plugin(source, folder / "out")
    return packed.path, packed.sha256


def state(name: str, version: str, digest: str, **extra: Any) -> dict[str, Any]:
    """A PluginState as data."""
    return {
        "apiVersion": API,
        "kind": "PluginState",
        "plugin": name,
        "version": version,
        "digest": digest,
        **extra,
    }


def environment(name: str = "prod", tenants: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    """An Environment as data."""
    return {
        "apiVersion": API,
        "kind": "Environment",
        "name": name,
        "position": 0,
        "tenants": [{"id": tenant} for tenant in tenants],
        **extra,
    }


@dataclass
class Site:
    """A temp folder with an environment folder, a plugin store and packages to put in it."""

    root: Path
    env_dir: Path = field(init=False)
    store: PluginStore = field(init=False)
    packages: dict[tuple[str, str], tuple[Path, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.env_dir = self.root / "environments" / "prod"
        self.store = PluginStore(self.root / "store")
        self.write_environment(environment())

    def write_environment(self, data: dict[str, Any]) -> None:
        self.env_dir.mkdir(parents=True, exist_ok=True)
        (self.env_dir / "environment.yaml").write_text(yaml_text(data))

    def package(self, name: str, version: str, *, store: bool = True, **health: Any) -> str:
        """Build a package (once) and put it in the store's CAS; its digest."""
        key = (name, version)
        if key not in self.packages:
            self.packages[key] = make_package(self.root / "packages", name, version, **health)
        path, digest = self.packages[key]
        if store:
            self.store.artifacts.put(path)
        return digest

    def want(self, name: str, version: str, **extra: Any) -> str:
        """Ask for `name` at `version` in the environment (building its package); its digest."""
        digest = self.package(name, version)
        self.write_state(state(name, version, digest, **extra))
        return digest

    def write_state(self, data: dict[str, Any]) -> None:
        path = self.env_dir / "plugins" / f"{data['plugin']}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml_text(data))

    def drop(self, name: str) -> None:
        (self.env_dir / "plugins" / f"{name}.yaml").unlink()

    def active_version(self, name: str) -> str | None:
        """The version the host would run: read through the active link, like a host."""
        link = self.store.active_link(name)
        if not link.exists():
            return None
        text = (link / "plugin.yaml").read_text()
        return next(
            line.split(":", 1)[1].strip().strip("'\"")
            for line in text.splitlines()
            if line.startswith("version:")
        )
