"""Listing what reviewers approved: sync the catalog, then tell the subscribers.

`px-market review approve` and `px-market catalog sync` (the runner's job after a review
step lands) both come here. The catalog commit is derived from the review records, so an
interrupted run is finished by running `px-market catalog sync` again: it commits what is
missing and notifies about exactly that.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipeline.gitrepo import GitRepo, Trailers
from pipeline.market.catalog import SyncRequest, SyncResult, sync_catalog
from pipeline.market.events import Notification, deliver, send
from pipeline.market.outbox import (
    OutboxCommit,
    commit_outbox,
    load_outbox,
    outbox_update,
    plan_retry,
)
from pipeline.market.records import load_subscriptions
from pipeline.models.market import PendingNotification
from pipeline.snapshot import Snapshot


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ListRequest:
    """Sync the catalog of `git` on `branch` (pushed to `remote`) and notify subscribers."""

    git: GitRepo
    branch: str = "main"
    remote: str | None = None
    operator: str | None = None
    ci_run: str | None = None
    rebuild: bool = False
    notify: bool = True
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    now: Callable[[], datetime] = _utc_now
    sleep: Callable[[float], None] = time.sleep
    """Waits between a delivery's attempts (a seam for tests)."""


@dataclass(frozen=True)
class Listed:
    """The catalog sync, the notifications it sent, and the outbox's retries."""

    sync: SyncResult
    notifications: list[Notification] = field(default_factory=list)
    retried: list[Notification] = field(default_factory=list)
    given_up: list[tuple[PendingNotification, str]] = field(default_factory=list)
    outbox: OutboxCommit = field(default_factory=lambda: OutboxCommit(None, 0))

    @property
    def delivered(self) -> bool:
        """Whether every notification sent now (new or retried) reached its webhook."""
        return all(note.ok for note in [*self.notifications, *self.retried])


def list_approved(request: ListRequest) -> Listed:
    """Commit the catalog of every approved version, then send its changes to subscribers
    (read from market/subscriptions.yaml at the catalog commit)."""
    result = sync_catalog(
        SyncRequest(
            request.git,
            branch=request.branch,
            remote=request.remote,
            operator=request.operator,
            ci_run=request.ci_run,
            now=request.now(),
            rebuild=request.rebuild,
        )
    )
    if not request.notify:
        return Listed(result)
    snapshot = Snapshot(request.git, request.git.resolve(result.commit or result.base))
    subscriptions = load_subscriptions(snapshot)
    notes = deliver(
        result.changes,
        subscriptions,
        now=request.now,
        environ=request.environ,
        sleep=request.sleep,
    )
    pending = load_outbox(snapshot)
    retry = plan_retry(pending, subscriptions, request.now())
    retried = send(retry.outgoing, now=request.now, environ=request.environ, sleep=request.sleep)
    update = outbox_update(pending, retried, notes, retry.given_up, request.now())
    outbox = OutboxCommit(None, len(pending))
    if not update.empty:
        outbox = commit_outbox(
            request.git,
            request.branch,
            update,
            remote=request.remote,
            trailers=lambda: Trailers(
                action="market-outbox", operator=request.operator, ci_run=request.ci_run
            ),
        )
    return Listed(result, notes, retried, list(update.given_up), outbox)


def listed_data(listed: Listed) -> dict[str, Any]:
    """The result as JSON data (`changes` is what `px-market notify --changes` reads)."""
    result = listed.sync
    return {
        "commit": result.commit,
        "base": result.base,
        "listed": result.listed,
        "rebuilt": result.rebuilt,
        "removed": result.removed,
        "changes": [change.as_json() for change in result.changes],
        "problems": result.problems,
        "notifications": [note.as_json() for note in listed.notifications],
        "retried": [note.as_json() for note in listed.retried],
        "gaveUp": [
            {
                "tenant": e.tenant,
                "subject": f"{e.plugin}@{e.version}",
                "event": e.event,
                "reason": why,
            }
            for e, why in listed.given_up
        ],
        "outbox": {"commit": listed.outbox.commit, "pending": listed.outbox.pending},
    }


def listed_text(listed: Listed) -> str:
    """The result for people."""
    result = listed.sync
    if result.commit is None:
        text = f"catalog up to date at {result.base[:12]} ({result.listed} listed plugin(s))\n"
    else:
        text = (
            f"catalog commit {result.commit[:12]}: {result.listed} listed plugin(s), "
            f"{len(result.rebuilt)} page(s) rebuilt, {len(result.removed)} removed\n"
        )
        text += "".join(f"  {c.event} {c.plugin}@{c.version}\n" for c in result.changes)
    text += "".join(f"  problem: {p}\n" for p in result.problems)
    text += "".join(f"  {note.line()}\n" for note in listed.notifications)
    text += "".join(f"  retried: {note.line()}\n" for note in listed.retried)
    text += "".join(
        f"  gave up: {e.event} {e.plugin}@{e.version} to {e.tenant} ({why})\n"
        for e, why in listed.given_up
    )
    if listed.outbox.pending:
        text += (
            f"  {listed.outbox.pending} notification(s) wait in market/outbox.yaml; "
            "the next catalog sync sends them again\n"
        )
    return text
