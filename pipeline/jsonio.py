"""The one bounded JSON reader for every JSON file or payload that comes from outside.

Before `json.loads` sees a byte, the input is held to a size limit and strict UTF-8
(`pipeline.textio`), and its nesting depth is measured by a cheap scan, so a deeply nested
document is refused quickly with its location instead of ending in a `RecursionError`.
NaN and Infinity (not JSON) are refused. Every failure is an `InputError` naming
file:line:column where one can be given.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel, ValidationError

from pipeline.errors import FileSystemError, InputError, Location
from pipeline.textio import check_size, decode_utf8

MAX_JSON_BYTES = 64 * 1024 * 1024
"""Default size limit: real reports, bundles and status files are far smaller."""

MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects we accept (the same bound as YAML's)."""

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_EMPTY_PAIR = re.compile(r"\[\]|\{\}")
_BAD_VALUE = re.compile(r"NaN|-?Infinity|[0-9]{4000,}")
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[{]|[\]}]', re.DOTALL)


def load_json(
    data: bytes | str,
    path: str,
    *,
    max_bytes: int = MAX_JSON_BYTES,
    max_depth: int = MAX_JSON_DEPTH,
    what: str = "file",
    hint: str | None = None,
) -> Any:
    """Parse JSON from outside; InputError with file:line:column on anything we refuse."""
    if isinstance(data, bytes):
        text = decode_utf8(data, path, max_bytes=max_bytes, what=what)
    else:  # already decoded (and size-checked) by the caller; bound it all the same
        text = data
        check_size(len(text), path, max_bytes=max_bytes, what=what)
    too_deep = _too_deep(text, max_depth)
    if too_deep is not None:
        raise InputError(
            "invalid JSON: nested too deeply",
            location=_offset_location(text, path, too_deep),
            hint=f"no file we read nests more than {max_depth} levels deep:"
            " this one is damaged or hostile",
        )
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise InputError(
            f"invalid JSON: {error.msg}",
            location=Location(path, error.lineno, error.colno),
            hint=hint or "the file is damaged or truncated: produce it again",
        ) from None
    except ValueError as error:  # NaN/Infinity, or an integer with too many digits
        raise InputError(
            f"invalid JSON: {error}",
            location=_value_location(text, path),
            hint=hint or "the file is damaged: produce it again",
        ) from None
    except RecursionError:  # a lower recursion limit than the depth scan assumes
        raise InputError(
            "invalid JSON: nested too deeply", location=Location(path), hint=hint
        ) from None


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def _too_deep(text: str, max_depth: int) -> int | None:
    """The offset where arrays/objects first nest deeper than `max_depth`, or None.

    The common case runs at C speed: strings are removed, then everything but brackets,
    and each pass that deletes the empty pairs `[]` and `{}` peels exactly one level off
    the deepest nesting. Only when the brackets do not pair up (invalid JSON) or nest too
    deeply does a token scan find the place.
    """
    if text.count("[") + text.count("{") <= max_depth:
        return None
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    for _ in range(max_depth):
        peeled = _EMPTY_PAIR.sub("", brackets)
        if not peeled:
            return None
        if peeled == brackets:  # unbalanced: invalid JSON, perhaps also too deep
            break
        brackets = peeled
    return _first_too_deep(text, max_depth)


def _offset_location(text: str, path: str, offset: int) -> Location:
    line = text.count("\n", 0, offset) + 1
    return Location(path, line, offset - (text.rfind("\n", 0, offset) + 1) + 1)


def _value_location(text: str, path: str) -> Location:
    """Where the first NaN/Infinity or over-long number stands, outside strings."""
    blanked = _STRING.sub(lambda match: " " * len(match.group()), text)
    found = _BAD_VALUE.search(blanked)
    return _offset_location(text, path, found.start()) if found else Location(path)


def _first_too_deep(text: str, max_depth: int) -> int | None:
    """Where the nesting first goes past `max_depth` (a token scan: the rare case only)."""
    depth = 0
    for match in _TOKEN.finditer(text):
        char = match.group()
        if char in "[{":
            depth += 1
            if depth > max_depth:
                return match.start()
        elif char in "]}":
            depth -= 1
    return None


M = TypeVar("M", bound=BaseModel)


def read_json_model(
    path: Path, model: type[M], *, max_bytes: int, what: str, hint: str
) -> M | None:
    """The JSON file at `path` validated as `model`; None when there is no such file.

    A file that is not valid JSON or not a valid `model` is an InputError naming the file,
    `what` it is, and `hint` (what to do, e.g. delete it to have it written again).
    """
    try:
        with path.open("rb") as handle:
            raw = handle.read(max_bytes + 1)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise FileSystemError("read", path, error) from None
    try:
        data = load_json(raw, str(path), max_bytes=max_bytes)
    except InputError as error:  # keep where in the file it went wrong
        raise InputError(
            f"{what} is not valid: {error.message}",
            location=error.location or Location(str(path)),
            hint=hint,
        ) from None
    try:
        return model.model_validate(data)
    except ValidationError as error:
        message = str(error).splitlines()[0]
    raise InputError(f"{what} is not valid: {message}", location=Location(str(path)), hint=hint)
