"""The offline import log: `<store>/incoming/imports.jsonl`, one `ImportAttempt` per run.

A refused import writes nothing to the site repo or the store's content (every check runs
before the first write), so this log is the one place it is remembered; successes and
rollbacks are logged too, for one timeline. `powerx serve --plugin-store` shows it at
/imports, merged with the repo's import commits.

Each attempt is one line written with ONE `write` on a file opened `O_APPEND`, and a line
is shorter than `PIPE_BUF` (the reason is shortened to fit), so concurrent imports never
interleave and a crash leaves whole lines. The log is bounded: at `MAX_LOG_BYTES` the file
is renamed to `imports.jsonl.1` (replacing the one before) and a new one starts. Writing it
is never allowed to change an import's outcome: `record_attempt` returns a warning instead.
"""

from __future__ import annotations

import json
import os
import select
from pathlib import Path

from pydantic import ValidationError

from pipeline.bundle.importer import INCOMING
from pipeline.errors import FileSystemError
from pipeline.fsutil import file_lock, fs_errors, make_dirs
from pipeline.models.bundle import ImportAttempt

LOG_NAME = "imports.jsonl"
ROTATED_SUFFIX = ".1"
LOCK_NAME = ".imports.lock"
MAX_LOG_BYTES = 1024 * 1024
"""The size at which the log is rotated: at most two files of about this size are kept."""
MAX_LINE_BYTES = min(select.PIPE_BUF, 4096) - 1
"""A line and its newline fit in one atomic append."""
MAX_REASON_CHARS = 2000
SHORTENED = " [...]"


def import_log_path(store: Path) -> Path:
    """`<store>/incoming/imports.jsonl`: the current log."""
    return store / INCOMING / LOG_NAME


def rotated_log_path(store: Path) -> Path:
    """`<store>/incoming/imports.jsonl.1`: the log before the last rotation."""
    return store / INCOMING / (LOG_NAME + ROTATED_SUFFIX)


def attempt_line(attempt: ImportAttempt) -> bytes:
    """The attempt as one JSON line of at most MAX_LINE_BYTES (its reason shortened to fit)."""
    data = attempt.model_dump(mode="json", by_alias=True)
    reason = data.get("reason") or ""
    limit = MAX_REASON_CHARS
    while True:
        if len(reason) > limit:
            data["reason"] = reason[: max(0, limit - len(SHORTENED))] + SHORTENED
        line = (json.dumps(data, separators=(",", ":"), sort_keys=True) + "\n").encode()
        if len(line) <= MAX_LINE_BYTES:
            return line
        if limit == 0:
            raise ValueError("an import attempt does not fit in one log line")
        limit //= 2


def append_attempt(store: Path, attempt: ImportAttempt) -> Path:
    """Append the attempt to the store's import log (rotating it when full); its path.

    FileSystemError when the log cannot be written.
    """
    path = import_log_path(store)
    line = attempt_line(attempt)
    make_dirs(path.parent)
    with file_lock(path.parent / LOCK_NAME), fs_errors("append to", path):  # one rotation at a time
        _rotate_if_full(store)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(f"wrote {written} of {len(line)} bytes")
            os.fsync(fd)
        finally:
            os.close(fd)
    return path


def _rotate_if_full(store: Path) -> None:
    path = import_log_path(store)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    if size + MAX_LINE_BYTES > MAX_LOG_BYTES:
        path.replace(rotated_log_path(store))


def record_attempt(store: Path, attempt: ImportAttempt) -> str | None:
    """Append the attempt; a warning (never an exception) when the log cannot be written."""
    try:
        append_attempt(store, attempt)
    except (FileSystemError, OSError, ValueError) as error:
        text = error.message if isinstance(error, FileSystemError) else str(error)
        return f"warning: the import was not logged ({text}); its result is unchanged"
    return None


def read_attempts(store: Path, limit: int) -> tuple[list[ImportAttempt], int]:
    """The newest `limit` attempts of the store's import log (both files), newest first,
    and how many lines could not be read. Reads at most about 2 x MAX_LOG_BYTES."""
    found: list[ImportAttempt] = []
    unreadable = 0
    for path in (import_log_path(store), rotated_log_path(store)):
        for line in reversed(_tail_lines(path)):
            if len(found) == limit:
                return found, unreadable
            try:
                found.append(ImportAttempt.model_validate_json(line))
            except ValidationError:
                unreadable += 1
    return found, unreadable


def _tail_lines(path: Path) -> list[bytes]:
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
