"""The Marketplace upload log: one JSON line per offline submission, accepted or refused.

A refused upload writes nothing to the repo or the store, so this append-only log is where
it is remembered for audit. It is written and rotated as every line log is
(`pipeline.linelog`: one atomic append per line, at most two files of about 1 MiB), so
concurrent submissions never interleave. Writing it never changes a submission's outcome:
`record_upload` returns a warning instead.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

from pipeline.errors import FileSystemError
from pipeline.linelog import append_line, fitted_line, lines_newest_first

LOG_NAME = "market-uploads.jsonl"
LOCK_NAME = ".market-uploads.lock"


@dataclass(frozen=True)
class UploadAttempt:
    """One offline submission: what came in, from whom, and what became of it."""

    at: str
    file: str
    by: str
    outcome: Literal["accepted", "refused"]
    reason: str = ""
    plugin: str | None = None
    version: str | None = None
    sha256: str | None = None
    commit: str | None = None


def upload_line(attempt: UploadAttempt) -> bytes:
    """The attempt as one JSON line of at most MAX_LINE_BYTES (its reason shortened to fit,
    then the file named by its last part only)."""
    line = fitted_line(asdict(attempt), "reason")
    if line is None:
        short = replace(attempt, file=Path(attempt.file).name[:200])
        line = fitted_line(asdict(short), "reason")
    if line is None:
        raise ValueError("an upload attempt does not fit in one log line")
    return line


def append_upload(path: Path, attempt: UploadAttempt) -> None:
    """Append the attempt to the log at `path`, rotating it when full (FileSystemError when
    it cannot be written)."""
    append_line(path, upload_line(attempt), lock=path.parent / LOCK_NAME)


def record_upload(path: Path, attempt: UploadAttempt) -> str | None:
    """Append the attempt; a warning (never an exception) when the log cannot be written."""
    try:
        append_upload(path, attempt)
    except (FileSystemError, OSError) as error:
        text = error.message if isinstance(error, FileSystemError) else str(error)
        return f"warning: the upload was not logged ({text}); its result is unchanged"
    return None


def read_uploads(path: Path) -> list[UploadAttempt]:
    """Every attempt in the log (both files), oldest first (unreadable lines are skipped)."""
    found = []
    for line in lines_newest_first(path):
        try:
            found.append(UploadAttempt(**json.loads(line)))
        except (ValueError, TypeError):
            continue
    return found[::-1]
