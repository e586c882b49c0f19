"""The Marketplace upload log: one JSON line per offline submission, accepted or refused.

A refused upload writes nothing to the repo or the store, so this append-only log is where
it is remembered for audit. As with the offline import log (`pipeline.bundle.import_log`),
each line is ONE `write` on a file opened `O_APPEND`, under the one file lock
(`fsutil.file_lock`), and shorter than `PIPE_BUF`: concurrent submissions never interleave.
Writing it never changes a submission's outcome: `record_upload` returns a warning instead.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from pipeline.bundle.import_log import MAX_LINE_BYTES, SHORTENED
from pipeline.errors import FileSystemError
from pipeline.fsutil import file_lock, fs_errors, make_dirs

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
    """The attempt as one JSON line of at most MAX_LINE_BYTES (its reason shortened to fit)."""
    data = asdict(attempt)
    reason = attempt.reason
    while True:
        line = (json.dumps(data, separators=(",", ":"), sort_keys=True) + "\n").encode()
        if len(line) <= MAX_LINE_BYTES:
            return line
        reason = reason[: len(reason) // 2]
        data["reason"] = reason + SHORTENED
        if not reason:
            data["file"] = Path(attempt.file).name[:200]


def append_upload(path: Path, attempt: UploadAttempt) -> None:
    """Append the attempt to the log at `path` (FileSystemError when it cannot be written)."""
    line = upload_line(attempt)
    make_dirs(path.parent)
    with file_lock(path.parent / LOCK_NAME), fs_errors("append to", path):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)


def record_upload(path: Path, attempt: UploadAttempt) -> str | None:
    """Append the attempt; a warning (never an exception) when the log cannot be written."""
    try:
        append_upload(path, attempt)
    except (FileSystemError, OSError) as error:
        text = error.message if isinstance(error, FileSystemError) else str(error)
        return f"warning: the upload was not logged ({text}); its result is unchanged"
    return None


def read_uploads(path: Path) -> list[UploadAttempt]:
    """Every attempt in the log, oldest first (unreadable lines are skipped)."""
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return []
    found = []
    for line in lines:
        try:
            found.append(UploadAttempt(**json.loads(line)))
        except (ValueError, TypeError):
            continue
    return found
