"""Append-only JSON-lines logs, bounded by rotation: the one home for how they are written.

Each entry is one line written with ONE `write` on a file opened `O_APPEND`, and a line is
shorter than `PIPE_BUF`, so concurrent writers never interleave and a crash leaves whole
lines. At `MAX_LOG_BYTES` the file is renamed to `<name>.1` (replacing the one before) and
a new one starts, so a log never holds more than about twice that. The offline import log
and the Marketplace upload log are written here.
"""

from __future__ import annotations

import json
import os
import select
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pipeline.fsutil import file_lock, fs_errors, make_dirs

ROTATED_SUFFIX = ".1"
MAX_LOG_BYTES = 1024 * 1024
"""The size at which a log is rotated: at most two files of about this size are kept."""
MAX_LINE_BYTES = min(select.PIPE_BUF, 4096) - 1
"""A line and its newline fit in one atomic append."""
SHORTENED = " [...]"
"""What ends a text cut short to fit a line."""


def fitted_line(data: Mapping[str, Any], field: str, *, limit: int | None = None) -> bytes | None:
    """`data` as one compact JSON line of at most MAX_LINE_BYTES: its string `field` cut to
    `limit` characters (default: whole), then halved until the line fits, each cut marked
    SHORTENED; None when it does not fit even with that field empty."""
    text = str(data.get(field) or "")
    fitted = dict(data)
    limit = len(text) if limit is None else limit
    while True:
        if len(text) > limit:
            fitted[field] = text[: max(0, limit - len(SHORTENED))] + SHORTENED
        line = (json.dumps(fitted, separators=(",", ":"), sort_keys=True) + "\n").encode()
        if len(line) <= MAX_LINE_BYTES:
            return line
        if limit == 0:
            return None
        limit //= 2


def rotated_path(path: Path) -> Path:
    """`<log>.1`: the log before the last rotation."""
    return path.with_name(path.name + ROTATED_SUFFIX)


def append_line(path: Path, line: bytes, *, lock: Path) -> None:
    """Append one whole line (at most MAX_LINE_BYTES, newline included) to the log at
    `path`, rotating it first when it is full (FileSystemError when it cannot be written)."""
    if len(line) > MAX_LINE_BYTES or not line.endswith(b"\n"):
        raise ValueError(f"a log line is one line of at most {MAX_LINE_BYTES} bytes")
    make_dirs(path.parent)
    with file_lock(lock), fs_errors("append to", path):  # one rotation at a time
        _rotate_if_full(path)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(f"wrote {written} of {len(line)} bytes")
            os.fsync(fd)
        finally:
            os.close(fd)


def _rotate_if_full(path: Path) -> None:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    if size + MAX_LINE_BYTES > MAX_LOG_BYTES:
        path.replace(rotated_path(path))


def lines_newest_first(path: Path) -> Iterator[bytes]:
    """The log's lines, newest first: the current file, then the rotated one."""
    for part in (path, rotated_path(path)):
        yield from reversed(tail_lines(part))


def tail_lines(path: Path) -> list[bytes]:
    """The whole lines of the last MAX_LOG_BYTES + one line of `path` ([] when absent)."""
    budget = MAX_LOG_BYTES + MAX_LINE_BYTES
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - budget))
            raw = handle.read(budget)
    except FileNotFoundError:
        return []
    lines = raw.splitlines()
    if size > budget and lines:
        lines = lines[1:]  # the first line read may be the end of a longer one
    return [line for line in lines if line.strip()]
