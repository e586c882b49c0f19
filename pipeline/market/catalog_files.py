"""Reading and writing `catalog/` files at a revision (one home for their bytes).

`catalog/index.json` is written one listing per line (a sync's diff shows the plugins it
changed); each page is indented JSON. Readers validate them against their models
(`pipeline.models.catalog`), so a hand-edited file is refused with its path.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from pipeline.errors import InputError, Location
from pipeline.market.catalog_build import INDEX_PATH, page_path
from pipeline.models.base import API_VERSION
from pipeline.models.catalog import CatalogIndex, CatalogPage, IndexEntry
from pipeline.snapshot import Snapshot

MAX_INDEX_BYTES = 256 * 1024 * 1024
MAX_PAGE_BYTES = 8 * 1024 * 1024
M = TypeVar("M", bound=BaseModel)


def read_index(snapshot: Snapshot) -> CatalogIndex | None:
    """`catalog/index.json` at the revision, None before the first sync."""
    return _read(snapshot, INDEX_PATH, CatalogIndex, MAX_INDEX_BYTES)


def read_page(snapshot: Snapshot, plugin: str) -> CatalogPage | None:
    """`catalog/plugins/<plugin>.json` at the revision, None if the plugin is not listed."""
    return _read(snapshot, page_path(plugin), CatalogPage, MAX_PAGE_BYTES)


def previous_page(snapshot: Snapshot, plugin: str) -> CatalogPage | None:
    """`read_page`, but None for a page that does not validate (it is rebuilt whole)."""
    try:
        return read_page(snapshot, plugin)
    except InputError:
        return None


def _read(snapshot: Snapshot, path: str, model: type[M], limit: int) -> M | None:
    raw = snapshot.read(path, max_bytes=limit)
    if raw is None:
        return None
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InputError(
            f"{path} at {snapshot.short_id} is not a valid catalog file: "
            f"{where + ': ' if where else ''}{first['msg']}",
            location=Location(path),
            hint="the catalog is generated: run px-market catalog sync --all",
        ) from None


def page_bytes(page: CatalogPage) -> bytes:
    """A page as the catalog stores it."""
    return page.model_dump_json(by_alias=True, indent=2).encode() + b"\n"


def index_bytes(entries: Iterable[IndexEntry]) -> bytes:
    """The index as the catalog stores it: one listing per line, by plugin name."""
    lines = [
        entry.model_dump_json(by_alias=True) for entry in sorted(entries, key=lambda e: e.plugin)
    ]
    head = json.dumps({"apiVersion": API_VERSION, "kind": "CatalogIndex"})[:-1]
    body = ",\n".join(lines)
    return (
        f'{head}, "listings": [\n{body}\n]}}\n'.encode()
        if lines
        else (f'{head}, "listings": []}}\n'.encode())
    )
