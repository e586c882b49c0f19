"""What a catalog sync changed, as the events subscribers are told about."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.models.market import MarketEvent


@dataclass(frozen=True)
class CatalogChange:
    """One thing subscribers hear about: a new listing, a new version, widened permissions."""

    event: MarketEvent
    plugin: str
    version: str
    categories: tuple[str, ...] = ()
    permissions_widened: tuple[str, ...] = field(default=())
    commit: str | None = None
    """The catalog commit that listed it."""

    def as_json(self) -> dict[str, Any]:
        """The change as JSON data (what `px-market notify --changes` reads back)."""
        return {
            "event": self.event,
            "plugin": self.plugin,
            "version": self.version,
            "categories": list(self.categories),
            "permissionsWidened": list(self.permissions_widened),
            "commit": self.commit,
        }
