"""The offline import log: `<store>/incoming/imports.jsonl`, one `ImportAttempt` per run.

A refused import writes nothing to the site repo or the store's content (every check runs
before the first write), so this log is the one place it is remembered; successes and
rollbacks are logged too, for one timeline. `powerx serve --plugin-store` shows it at
/imports, merged with the repo's import commits.

Each attempt is one line (the reason is shortened to fit), written and rotated as every
line log is (`pipeline.linelog`: one atomic append, at most two files of about
`MAX_LOG_BYTES`). Writing it is never allowed to change an import's outcome:
`record_attempt` returns a warning instead.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from pipeline.bundle.importer import INCOMING
from pipeline.errors import FileSystemError
from pipeline.linelog import (
    MAX_LINE_BYTES,
    MAX_LOG_BYTES,
    SHORTENED,
    append_line,
    fitted_line,
    lines_newest_first,
    rotated_path,
)
from pipeline.models.bundle import ImportAttempt

__all__ = ["MAX_LINE_BYTES", "MAX_LOG_BYTES", "SHORTENED"]

LOG_NAME = "imports.jsonl"
LOCK_NAME = ".imports.lock"
MAX_REASON_CHARS = 2000


def import_log_path(store: Path) -> Path:
    """`<store>/incoming/imports.jsonl`: the current log."""
    return store / INCOMING / LOG_NAME


def rotated_log_path(store: Path) -> Path:
    """`<store>/incoming/imports.jsonl.1`: the log before the last rotation."""
    return rotated_path(import_log_path(store))


def attempt_line(attempt: ImportAttempt) -> bytes:
    """The attempt as one JSON line of at most MAX_LINE_BYTES (its reason shortened to fit)."""
    data = attempt.model_dump(mode="json", by_alias=True)
    line = fitted_line(data, "reason", limit=MAX_REASON_CHARS)
    if line is None:
        raise ValueError("an import attempt does not fit in one log line")
    return line


def append_attempt(store: Path, attempt: ImportAttempt) -> Path:
    """Append the attempt to the store's import log (rotating it when full); its path.

    FileSystemError when the log cannot be written.
    """
    path = import_log_path(store)
    append_line(path, attempt_line(attempt), lock=path.parent / LOCK_NAME)
    return path


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
    for line in lines_newest_first(import_log_path(store)):
        if len(found) == limit:
            break
        try:
            found.append(ImportAttempt.model_validate_json(line))
        except ValidationError:
            unreadable += 1
    return found, unreadable
