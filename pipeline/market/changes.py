"""What a catalog sync changed, as the events subscribers are told about."""

from __future__ import annotations

from dataclasses import dataclass, field

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
