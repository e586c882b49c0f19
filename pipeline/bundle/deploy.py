"""Deployment of an imported environment through the host agent (`pipeline.agent.sync`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.agent import PluginStore, sync


@dataclass(frozen=True)
class Deployed:
    """What the agent did to one plugin."""

    plugin: str
    version: str | None
    action: str
    healthy: bool | None
    message: str = ""


Deploy = Callable[[Path, Path, str | None, float], tuple[list[Deployed], str | None]]
"""(environment folder, store, tenant, health timeout) -> outcomes and a note."""


def deploy_with_agent(
    environment_dir: Path, store: Path, tenant: str | None, health_timeout: float
) -> tuple[list[Deployed], str | None]:
    """Run one agent sync of `environment_dir` into the store; what it did to each plugin."""
    result = sync(environment_dir, PluginStore(store), tenant=tenant, health_timeout=health_timeout)
    deployed = [
        Deployed(p.name, p.observed_version, p.action, p.healthy, p.message) for p in result.plugins
    ]
    return deployed, None if result.ok else "the agent reports problems (powerx plugin status)"
