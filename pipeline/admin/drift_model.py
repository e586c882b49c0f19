"""The drift report's data (`px-admin drift`): causes, items, one site's report and the
whole report, as JSON and as text. The comparison that fills them: `pipeline.admin.drift`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pipeline.errors import EXIT_GATE, EXIT_OK

DriftCause = Literal[
    "not-synced",
    "unknown-plugin",
    "health-failed",
    "install-failed",
    "unlicensed",
    "ungranted",
    "disabled-by-hand",
    "enabled-by-hand",
    "changed-by-hand",
    "unknown-tenant",
]
CAUSES: tuple[DriftCause, ...] = DriftCause.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Wanted:
    """What git says one plugin should be on the site: version, digest, enabled."""

    version: str
    digest: str
    enabled: bool


@dataclass(frozen=True)
class DriftItem:
    """One difference between git and a site, and why."""

    plugin: str | None
    cause: DriftCause
    detail: str
    desired: str | None = None
    """The version git asks for (None: git does not name it)."""
    observed: str | None = None
    """The version the site runs (None: inactive)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "plugin": self.plugin,
            "cause": self.cause,
            "desired": self.desired,
            "observed": self.observed,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class SiteReport:
    """A site's report compared with git: where it came from and what differs."""

    source: str
    environment: str
    tenant: str | None
    last_sync: datetime
    items: tuple[DriftItem, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "environment": self.environment,
            "tenant": self.tenant,
            "lastSync": self.last_sync.isoformat(),
            "drift": len(self.items),
            "items": [item.to_json() for item in self.items],
        }


@dataclass(frozen=True)
class DriftReport:
    """Every site compared, at one revision of the release repo."""

    revision: str
    sites: tuple[SiteReport, ...]

    @property
    def count(self) -> int:
        return sum(len(site.items) for site in self.sites)

    @property
    def exit_code(self) -> int:
        """1 when anything drifts, else 0."""
        return EXIT_GATE if self.count else EXIT_OK

    def by_environment(self) -> dict[str, dict[str, Any]]:
        """environment -> sites compared, drift count and counts per cause."""
        found: dict[str, dict[str, Any]] = {}
        for site in self.sites:
            entry = found.setdefault(
                site.environment,
                {"sites": 0, "drift": 0, "byCause": dict.fromkeys(CAUSES, 0)},
            )
            entry["sites"] += 1
            entry["drift"] += len(site.items)
            for item in site.items:
                entry["byCause"][item.cause] += 1
        return dict(sorted(found.items()))

    def to_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "drift": self.count,
            "environments": self.by_environment(),
            "sites": [site.to_json() for site in self.sites],
        }

    def text(self) -> str:
        lines = []
        for site in self.sites:
            tenant = f", tenant {site.tenant}" if site.tenant else ""
            head = (
                f"{site.source} ({site.environment}{tenant}, last sync "
                f"{site.last_sync.isoformat(timespec='seconds')}) vs git {self.revision}"
            )
            if not site.items:
                lines.append(f"{head}: no drift")
                continue
            lines.append(f"{head}: {len(site.items)} difference(s)")
            for item in site.items:
                versions = f"git {item.desired or '-'}, site {item.observed or '-'}"
                lines.append(f"  {item.plugin or '-'}  {item.cause}  ({versions})")
                lines.append(f"      {item.detail}")
        verdict = f"drift: {self.count} difference(s)" if self.count else "no drift"
        return "\n".join([*lines, verdict]) + "\n"
