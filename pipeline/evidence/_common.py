"""Checks shared by the report parsers: size, encoding, emptiness, JSON and counts."""

from __future__ import annotations

import re
from typing import Any, NoReturn

from pipeline import jsonio
from pipeline.errors import InputError, Location
from pipeline.textio import decode_utf8

MAX_REPORT_BYTES = 64 * 1024 * 1024
"""Largest report we read: real coverage, test and scan reports are far smaller."""

_COUNT = re.compile(r"[0-9]{1,18}")
_REPORT_HINT = "the report is damaged or truncated: produce it again with the tool"


def read_text(raw: bytes, path: str) -> str:
    """Check size, encoding and emptiness of a report and return its text."""
    text = decode_utf8(raw, path, max_bytes=MAX_REPORT_BYTES, what="report")
    if not text.strip():
        raise InputError(
            "report is empty",
            location=Location(path, 1, 1),
            hint="the tool wrote no report: check that it ran to the end",
        )
    return text


def load_json(text: str, path: str) -> Any:
    """Parse a report's JSON (bounded: see `pipeline.jsonio`); InputError with line and column."""
    return jsonio.load_json(
        text, path, max_bytes=MAX_REPORT_BYTES, what="report", hint=_REPORT_HINT
    )


def bad_count(what: str, value: object, location: Location, hint: str) -> NoReturn:
    """Raise the error for a count that is missing, negative or not a whole number."""
    if value is None:
        raise InputError(f"{what} is missing", location=location, hint=hint)
    raise InputError(
        f"{what} is {value!r}, expected a whole number of 0 or more",
        location=location,
        hint=hint,
    )


def json_count(value: object, what: str, location: Location, hint: str) -> int:
    """A count from JSON: a non-negative integer (not a bool, float or string)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    bad_count(what, value, location, hint)


def text_count(value: str | None, what: str, location: Location, hint: str) -> int:
    """A count from text (an XML attribute or an LCOV field): decimal digits only."""
    if value is not None and _COUNT.fullmatch(value.strip()):
        return int(value.strip())
    bad_count(what, value, location, hint)


def check_covered(covered: int, total: int, what: str, location: Location) -> None:
    """Refuse a report that claims more covered items than it has."""
    if covered > total:
        raise InputError(
            f"{what}: {covered} covered out of {total}, more than there are",
            location=location,
            hint="the report is inconsistent: produce it again with the coverage tool",
        )
