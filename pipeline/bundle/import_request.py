"""What an offline import is asked to do (`ImportRequest`) and what it reports
(`ImportResult`), with the `Pause` test seam between its stages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pipeline.bundle.deploy import Deployed
from pipeline.models.bundle import BundleManifest

Pause = Callable[[str], None]
"""A test seam called at named stages ("scanned", "verified", "stored", "committed")."""


def no_pause(_stage: str) -> None:
    """The default pause: carry on."""
    return None


@dataclass(frozen=True)
class ImportRequest:
    """Which bundle, into which site repo and store, checked against which host."""

    bundle: Path
    repo: Path
    store: Path
    now: datetime
    branch: str | None = None
    host_version: str | None = None
    operator: str | None = None
    allow_rollback: bool = False
    allow_expired: bool = False
    deploy: bool = True
    tenant: str | None = None
    health_timeout: float = 30.0


@dataclass
class ImportResult:
    """A completed import (refusals raise GateError instead)."""

    digest: str
    manifest: BundleManifest
    commit: str | None
    resumed: bool
    overrides: tuple[str, ...]
    stored: list[str] = field(default_factory=list)
    deployed: list[Deployed] = field(default_factory=list)
    deploy_note: str | None = None
    rollbacks: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """False when a health check failed and the import was rolled back."""
        return not self.rollbacks and all(d.action != "failed" for d in self.deployed)
