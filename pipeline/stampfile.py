"""Index files kept under a repo's git directory: a stamped, checksummed header, then a body.

A persisted index (the audit index, the release origins) is a cache of what the history
says: a file that cannot be read, was written by another version or whose checksum does
not match is ignored (and rebuilt by its owner), never trusted. The header is one JSON
line: the owner's stamp (format, version, and the powerx version that wrote it) and the
sha256 of the body; the file is replaced atomically (`fsutil.atomic_write`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline import __version__
from pipeline.errors import PowerXError
from pipeline.fsutil import atomic_write

log = logging.getLogger(__name__)


def stamp(file_format: str, version: int) -> dict[str, Any]:
    """What a header must say for a body to be read: its format, its version, ours."""
    return {"format": file_format, "version": version, "powerx": __version__}


def encode(expected: Mapping[str, Any], body: bytes) -> bytes:
    """A header line (the stamp and the sha256 of `body`), then `body`."""
    header = {**expected, "sha256": hashlib.sha256(body).hexdigest()}
    return json.dumps(header).encode() + b"\n" + body


def decode(raw: bytes, expected: Mapping[str, Any]) -> bytes:
    """The body of `encode`'s bytes; ValueError when the stamp or the checksum differs."""
    head, newline, body = raw.partition(b"\n")
    header = json.loads(head)
    if not newline or not isinstance(header, dict):
        raise ValueError(f"no header line ({head[:120]!r})")
    if {key: header.get(key) for key in expected} != dict(expected):
        raise ValueError(f"written by another version ({head[:120]!r})")
    if hashlib.sha256(body).hexdigest() != header.get("sha256"):
        raise ValueError("checksum mismatch")
    return body


def read(path: Path, expected: Mapping[str, Any]) -> bytes | None:
    """The body of the index at `path`, or None when there is none or it is not to be
    trusted (the log says why)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        log.warning("index %s: cannot read it (%s); rebuilding", path, error)
        return None
    try:
        return decode(raw, expected)
    except ValueError as error:
        log.warning("index %s is not usable (%s); rebuilding", path, error)
        return None


def write(path: Path, expected: Mapping[str, Any], body: bytes) -> bool:
    """Replace the index at `path` atomically; False (logged) when the repo is not writable:
    the owner keeps it in memory only."""
    try:
        atomic_write(path, encode(expected, body))
    except PowerXError as error:
        log.warning("index %s not saved: %s", path, error)
        return False
    return True
