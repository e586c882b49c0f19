"""The audit view: every state change from git history, filtered, paged, exported.

Filters are query parameters (plugin, environment, operator, action, since, until); a page
holds at most `MAX_PAGE_SIZE` entries and says whether another follows. The console's
`AuditIndex` (`Source.audit`) reads each commit once and answers every filter from memory;
without one the trail is walked lazily, so the first page costs what it shows. Each entry's
permalink is `/audit/<commit>`. `/audit.csv` exports every entry the filters keep.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from itertools import islice
from typing import Any
from urllib.parse import urlencode

from pipeline.errors import InputError
from pipeline.promotion.audit import AuditEntry, AuditQuery, audit_trail
from pipeline.web.views import Data, NotFoundError, Params, Source, View

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_PAGE = 100_000
FILTERS = ("plugin", "environment", "operator", "action", "since", "until")
CSV_COLUMNS = (
    "commit",
    "time",
    "action",
    "plugin",
    "version",
    "environment",
    "operator",
    "author",
    "ci_run",
    "manual",
    "summary",
    "details",
)
_COMMIT = re.compile(r"[0-9a-f]{7,40}")


def query(params: Params) -> AuditQuery:
    """The filters of a request (InputError for a bad date)."""
    return AuditQuery(
        plugin=params.text("plugin"),
        environment=params.text("environment"),
        since=params.date("since"),
        until=params.date("until", end_of_day=True),
        operator=params.text("operator"),
        action=params.text("action"),
    )


def trail(source: Source, wanted: AuditQuery) -> Iterator[AuditEntry]:
    """Every entry `wanted` keeps, newest first (the query checked before): from the
    console's audit index when it has one, else read from the commits."""
    if source.audit is not None:
        return source.audit.trail(source.head, wanted)
    return audit_trail(source.git, source.head, wanted)


def entries(source: Source, params: Params) -> Iterator[AuditEntry]:
    """Every entry the request's filters keep, newest first (filters checked before)."""
    return trail(source, query(params))


def entry_of(source: Source, commit: str) -> AuditEntry | None:
    """The trail's entry for `commit` (a full id), newest first; None when it has none."""
    if source.audit is not None:
        return source.audit.entry(source.head, commit)
    for entry in audit_trail(source.git, source.head, AuditQuery()):
        if entry.commit == commit:
            return entry
    return None


def entry_data(entry: AuditEntry) -> Data:
    """One entry as plain data, with its permalink."""
    return {
        "commit": entry.commit,
        "short": entry.commit[:12],
        "time": entry.time.isoformat(),
        "action": entry.action,
        "plugin": entry.plugin,
        "version": entry.version,
        "environment": entry.environment,
        "operator": entry.operator,
        "author": entry.author,
        "ci_run": entry.ci_run,
        "manual": entry.manual,
        "summary": entry.summary,
        "details": dict(entry.details),
        "permalink": f"/audit/{entry.commit}",
    }


def audit_data(source: Source, params: Params) -> Data:
    """A page of the trail: the filters as given, the entries, and links to the next page."""
    size = params.number("size", PAGE_SIZE, low=1, high=MAX_PAGE_SIZE)
    page = params.number("page", 1, low=1, high=MAX_PAGE)
    trail = entries(source, params)
    shown = list(islice(trail, (page - 1) * size, page * size + 1))
    filters = {name: params.text(name) for name in FILTERS}
    given = {name: value for name, value in filters.items() if value is not None}

    def link(path: str, **extra: Any) -> str:
        values = {**given, **({"size": size} if size != PAGE_SIZE else {}), **extra}
        return path + ("?" + urlencode(values) if values else "")

    return {
        "head": source.head.id,
        "filters": filters,
        "page": page,
        "size": size,
        "entries": [entry_data(entry) for entry in shown[:size]],
        "previous": link("/audit", page=page - 1) if page > 1 else None,
        "next": link("/audit", page=page + 1) if len(shown) > size else None,
        "csv": link("/audit.csv"),
        "json": link("/audit.json", page=page) if page > 1 else link("/audit.json"),
    }


def entry_view_data(source: Source, params: Params) -> Data:
    """The entry of one commit (its permalink): NotFoundError when no entry has that commit."""
    wanted = (params.text("commit") or "").lower()
    if not _COMMIT.fullmatch(wanted):
        raise NotFoundError(
            f"{wanted!r} is not a commit id",
            hint="an audit permalink ends in a commit id of 7 to 40 hex digits",
        )
    try:  # an id that names no commit is answered at once, without walking the history
        full = str(source.git.resolve(wanted).id)
    except InputError:
        raise NotFoundError(
            f"there is no commit {wanted} in this repo", hint="open /audit to see every entry"
        ) from None
    entry = entry_of(source, full)
    if entry is not None:
        return {"entry": entry_data(entry)}
    raise NotFoundError(
        f"no audit entry for commit {wanted} on the current history",
        hint="open /audit to see every entry; a commit that changed nothing tracked has none",
    )


def audit_csv(source: Source, params: Params) -> Iterator[str]:
    """Every entry the filters keep, as CSV lines (a header first). Filters are checked
    before the first line, so a bad one is an error, not a half-written file."""
    trail = entries(source, params)

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        for entry in trail:
            data = entry_data(entry)
            data["details"] = "; ".join(f"{k}: {v}" for k, v in entry.details.items())
            writer.writerow([_cell(data[column]) for column in CSV_COLUMNS])
            if buffer.tell() > 16_384:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return lines()


def _cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text: a leading = + - @ would start a formula."""
    if value is None:
        return ""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


VIEWS = [
    View("audit", "/audit", audit_data, "audit.html", "Audit trail"),
    View("audit-entry", "/audit/{commit}", entry_view_data, "entry.html", "Audit entry", False),
]
