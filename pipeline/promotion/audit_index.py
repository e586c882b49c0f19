"""The audit trail kept by commit id: read each mainline commit once, then filter in memory.

`audit_trail` reads every commit of the mainline on every call (seconds on 10,000 commits).
An entry is a function of its commit alone (`commit_entries`), so an `AuditIndex` keeps
the mainline it has read (ids, times and entries, oldest first) and, when asked from a
new head, reads only the commits it has not seen: from the head back to the first commit
it knows. A head that is not a descendant of the indexed tip (a reset, a force-push) is
read back to the last commit both histories share, and the index is cut there: what was
above it is no longer on the mainline. Answers are exactly those of `audit_trail`.

With `persist`, the index is also kept under the repo's git directory (`INDEX_FILE`),
written atomically with a version stamp and a checksum, so a restarted console does not
read the history again; a file that is unreadable, of another version or whose checksum
does not match is rebuilt, never trusted. Safe to share between threads.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline import stampfile
from pipeline.gitrepo import Commit, GitRepo
from pipeline.promotion.audit import (
    AuditEntry,
    AuditQuery,
    audit_trail,
    check_query,
    commit_entries,
    commit_time,
    select,
)

INDEX_FILE = Path("powerx") / "audit-index"
"""Where a persisted index lives, under the repo's git directory."""
FORMAT = "powerx-audit-index"
INDEX_VERSION = 1
"""Bump when what an entry holds, or how it is read from a commit, changes."""
SAVE_EVERY = 256
"""A persisted index is rewritten once this many commits were read since the last save
(and after a rebuild): a restart reads the few commits above the saved tip again."""

log = logging.getLogger(__name__)

Entries = tuple[AuditEntry, ...]


@dataclass(frozen=True)
class Mainline:
    """An indexed first-parent history, oldest first; never changed once made."""

    ids: tuple[str, ...]
    times: tuple[datetime, ...]
    entries: tuple[Entries, ...]
    position: dict[str, int]
    """Commit id -> its index in `ids`."""

    @classmethod
    def of(cls, ids: list[str], times: list[datetime], entries: list[Entries]) -> Mainline:
        """A mainline from its columns (same length, oldest first)."""
        position = {commit: index for index, commit in enumerate(ids)}
        if len(position) != len(ids) or not len(ids) == len(times) == len(entries):
            raise ValueError("a mainline holds each commit once, with its time and entries")
        return cls(tuple(ids), tuple(times), tuple(entries), position)

    def newest_first(self, top: int) -> Iterator[tuple[datetime, Entries]]:
        """(time, entries) from the commit at `top` down to the root."""
        for index in range(top, -1, -1):
            yield self.times[index], self.entries[index]


EMPTY = Mainline.of([], [], [])


class AuditIndex:
    """The audit entries of one repo's mainline, kept by commit id (see the module).

    `background`: the first build (nothing indexed, nothing persisted) runs in a thread;
    until it is done, answers are read from the commits as `audit_trail` reads them, so
    the first request costs what the old walk cost, not the whole history.
    """

    def __init__(self, git: GitRepo, *, persist: bool = False, background: bool = False) -> None:
        self.git = git
        self.path = Path(git.repo.path) / INDEX_FILE if persist else None
        self.background = background
        self._mainline = EMPTY
        self._loaded = self.path is None
        self._building: threading.Thread | None = None
        self._unsaved = 0
        self._lock = threading.Lock()

    def trail(self, start: Commit, query: AuditQuery) -> Iterator[AuditEntry]:
        """What `audit_trail(git, start, query)` yields, from the index (InputError now for
        a plugin or environment `start` does not define)."""
        found = self.find(start)
        if found is None:
            return audit_trail(self.git, start, query)
        check_query(self.git, start, query)
        mainline, top = found
        return select(mainline.newest_first(top), query, lambda entries: entries)

    def entry(self, start: Commit, commit: str) -> AuditEntry | None:
        """The first entry of the trail from `start` whose commit is `commit` (a full id)."""
        found = self.find(start)
        if found is None:
            trail: Iterable[AuditEntry] = audit_trail(self.git, start, AuditQuery())
        else:
            mainline, top = found
            trail = (entry for _, entries in mainline.newest_first(top) for entry in entries)
        return next((entry for entry in trail if entry.commit == commit), None)

    def find(self, start: Commit) -> tuple[Mainline, int] | None:
        """A mainline holding `start` and its position there, reading the commits it lacks;
        None while the first build runs in the background."""
        mainline = self._mainline
        top = mainline.position.get(start.id)
        if top is not None:
            return mainline, top
        with self._lock:  # one reader of new commits; the others wait and reuse its work
            if not self._loaded:
                self._mainline, self._loaded = self._load(), True
            mainline = self._mainline
            top = mainline.position.get(start.id)
            if top is not None:
                return mainline, top
            if self._building is not None:
                return None
            if self.background and not mainline.ids:
                self._building = threading.Thread(
                    target=self._build, args=(start,), name="audit-index", daemon=True
                )
                self._building.start()
                return None
            self._mainline = self._extended(mainline, start)
            return self._mainline, len(self._mainline.ids) - 1

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a background build to end; True when none runs (any more)."""
        building = self._building
        if building is not None:
            building.join(timeout)
        return self._building is None

    def _build(self, start: Commit) -> None:
        """The first build, outside the lock, so requests are answered meanwhile."""
        try:
            built = self._extended(EMPTY, start)
            with self._lock:
                if not self._mainline.ids:
                    self._mainline = built
        except Exception:  # the requests go on reading the commits; the log says why
            log.exception("audit index: building it from %s failed", start.id)
        finally:
            with self._lock:
                self._building = None

    def _extended(self, mainline: Mainline, start: Commit) -> Mainline:
        """`mainline` cut at the newest commit `start` descends from, then `start`'s new
        commits on top (all of them when it shares none: a rebuild)."""
        new: list[Commit] = []
        base = -1
        for commit in self.git.first_parent_walk(start):
            known = mainline.position.get(commit.id)
            if known is not None:
                base = known
                break
            new.append(commit)
        new.reverse()
        keep = base + 1
        rebuilt = keep < len(mainline.ids)
        if rebuilt:
            log.info("audit index: %s is not above the indexed tip; cut at %d", start.id, keep)
        extended = Mainline.of(
            [*mainline.ids[:keep], *(commit.id for commit in new)],
            [*mainline.times[:keep], *(commit_time(commit) for commit in new)],
            [*mainline.entries[:keep], *(tuple(commit_entries(self.git, c)) for c in new)],
        )
        self._unsaved += len(new)
        if self.path is not None and (rebuilt or keep == 0 or self._unsaved >= SAVE_EVERY):
            self._save(extended)
        return extended

    # -- the persisted index -----------------------------------------------------------

    def _load(self) -> Mainline:
        """The persisted mainline, or EMPTY when there is none or it is not to be trusted."""
        assert self.path is not None
        body = stampfile.read(self.path, _stamp())
        if body is None:
            return EMPTY
        try:
            return _decode_body(body)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as error:
            log.warning("audit index %s is not usable (%s); rebuilding", self.path, error)
            return EMPTY

    def _save(self, mainline: Mainline) -> None:
        """Write the index atomically; a repo we may not write to keeps it in memory only."""
        assert self.path is not None
        if stampfile.write(self.path, _stamp(), _encode_body(mainline)):
            self._unsaved = 0


def _stamp() -> dict[str, Any]:
    return stampfile.stamp(FORMAT, INDEX_VERSION)


def encode(mainline: Mainline) -> bytes:
    """A header line (format, versions, sha256 of the body), then the body (JSON)."""
    return stampfile.encode(_stamp(), _encode_body(mainline))


def decode(raw: bytes) -> Mainline:
    """The mainline of `encode`'s bytes (ValueError when the stamp or checksum differs,
    TypeError or ValueError when a row is not an entry)."""
    return _decode_body(stampfile.decode(raw, _stamp()))


def _encode_body(mainline: Mainline) -> bytes:
    return json.dumps(
        [
            [commit, int(when.timestamp()), [_entry_row(entry) for entry in entries]]
            for commit, when, entries in zip(
                mainline.ids, mainline.times, mainline.entries, strict=True
            )
        ],
        separators=(",", ":"),
    ).encode()


def _decode_body(body: bytes) -> Mainline:
    ids, times, entries = [], [], []
    for commit, seconds, rows in json.loads(body):
        when = datetime.fromtimestamp(int(seconds), UTC)
        ids.append(_text(commit))
        times.append(when)
        entries.append(tuple(_entry_of(row, when) for row in rows))
    return Mainline.of(ids, times, entries)


_ROW = (str, str, str, *(str | None,) * 5, str, bool, dict)
"""The types of an entry's row: every AuditEntry field but its time, in order."""


def _entry_row(entry: AuditEntry) -> list[Any]:
    """An entry as a row; its time is its commit's (`commit_entries` dates every entry
    by the mainline commit that brings it)."""
    return [
        entry.commit,
        entry.author,
        entry.action,
        entry.plugin,
        entry.version,
        entry.environment,
        entry.operator,
        entry.ci_run,
        entry.summary,
        entry.manual,
        entry.details,
    ]


def _entry_of(row: list[Any], when: datetime) -> AuditEntry:
    if len(row) != len(_ROW) or not all(map(isinstance, row, _ROW)):
        raise TypeError(f"not an audit entry: {str(row)[:200]}")
    commit, author, action, plugin, version, env, operator, ci_run, summary, manual, details = row
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in details.items()):
        raise TypeError("an entry's details map text to text")
    return AuditEntry(
        commit,
        when,
        author,
        action,
        plugin,
        version,
        env,
        operator,
        ci_run,
        summary,
        manual,
        details,
    )


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, found {type(value).__name__}")
    return value
