"""The Marketplace usage events file read by `px-market report --events FILE`: JSON lines,
one `UsageEvent` per line (downloads, activations and uninstalls of one version)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, Field, ValidationError

from pipeline.errors import FileSystemError, InputError, Location
from pipeline.models.base import Name, SemVer, Strict

UsageKind = Literal["download", "activation", "uninstall"]
USAGE_KINDS: tuple[UsageKind, ...] = ("download", "activation", "uninstall")
MAX_EVENTS_BYTES = 64 * 1024 * 1024
MAX_EVENT_LINES = 1_000_000
MAX_LINE_BYTES = 4096


class UsageEvent(Strict):
    """One line of the events file: something a tenant did with one version."""

    event: UsageKind
    plugin: Name
    version: SemVer
    at: AwareDatetime = Field(description="when it happened")
    tenant: Name | None = Field(default=None, description="who (None: not known)")


def read_events(path: Path) -> list[UsageEvent]:
    """Every event of a JSON-lines file (blank lines skipped).

    InputError naming the line when one is not a valid event, and when the file is larger
    than MAX_EVENTS_BYTES, has more than MAX_EVENT_LINES lines or a line over MAX_LINE_BYTES.
    """
    try:
        size = path.stat().st_size
        if size > MAX_EVENTS_BYTES:
            raise InputError(
                f"{path} is {size} bytes, more than the {MAX_EVENTS_BYTES} a report reads",
                hint="split it, or keep only the period you report on",
            )
        with path.open("rb") as handle:
            return parse_events(handle, str(path))
    except OSError as error:
        raise FileSystemError("read", path, error) from None


def parse_events(lines: Iterable[bytes], where: str) -> list[UsageEvent]:
    """`read_events` of lines already at hand (`where` names them in errors)."""
    events: list[UsageEvent] = []
    for number, raw in enumerate(lines, 1):
        if number > MAX_EVENT_LINES:
            raise InputError(f"{where} has more than {MAX_EVENT_LINES} lines")
        if raw.strip():
            events.append(_event(raw, where, number))
    return events


def _event(raw: bytes, path: str, number: int) -> UsageEvent:
    where = Location(path, number)
    if len(raw) > MAX_LINE_BYTES:
        raise InputError(f"line {number} is longer than {MAX_LINE_BYTES} bytes", location=where)
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise InputError(f"line {number} is not JSON: {error}", location=where) from None
    try:
        return UsageEvent.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "the line"
        raise InputError(
            f"line {number}: {field}: {first['msg']}",
            location=where,
            hint=f"each line is one JSON object: event ({', '.join(USAGE_KINDS)}), plugin, "
            "version, at (ISO 8601 with a time zone), tenant",
        ) from None
