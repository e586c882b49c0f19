"""Notifications that did not arrive: `market/outbox.yaml`, sent again by the next sync.

A catalog sync tells subscribers what it listed. A delivery that fails (no answer, an
error status, its signing key unset) is not lost: it is recorded in the outbox, one commit,
and every later `px-market catalog sync` (or approval) sends it again, to the tenant's
subscription as it is then, under the same CloudEvent id (a receiver that did get it can
drop the repeat). What arrives leaves the outbox; the outbox gives up on an event, and says
so, when the tenant no longer subscribes to it, after `MAX_ROUNDS` syncs, or `MAX_AGE` after
its first failure. The outbox is written as a change against the tip it lands on, so two
syncs racing each other keep each other's entries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pipeline.gitrepo import ChangeSet, Commit, GitRepo, Trailers, compose_message
from pipeline.market import OUTBOX_FILE
from pipeline.market.changes import CatalogChange
from pipeline.market.events import Notification, Outgoing, wants
from pipeline.models.base import API_VERSION
from pipeline.models.market import NotificationOutbox, PendingNotification, Subscriptions
from pipeline.snapshot import Snapshot
from pipeline.yamlio import dump_yaml

MAX_ROUNDS = 24
MAX_AGE = timedelta(days=7)
ACTION = "market-outbox"


def load_outbox(snapshot: Snapshot) -> list[PendingNotification]:
    """The pending notifications at `snapshot` (none without an outbox)."""
    loaded = snapshot.load(OUTBOX_FILE, NotificationOutbox)
    return list(loaded.model.pending) if loaded else []


def change_of(entry: PendingNotification) -> CatalogChange:
    """The catalog change a pending notification tells about."""
    return CatalogChange(
        entry.event,
        entry.plugin,
        entry.version,
        tuple(entry.categories),
        tuple(entry.permissions_widened),
        entry.commit,
    )


@dataclass(frozen=True)
class Retry:
    """What to send again now, and what the outbox gives up on (with why)."""

    outgoing: list[Outgoing] = field(default_factory=list)
    given_up: list[tuple[PendingNotification, str]] = field(default_factory=list)


def plan_retry(
    pending: Sequence[PendingNotification], subscriptions: Subscriptions | None, now: datetime
) -> Retry:
    """Pair each pending notification with the tenant's current subscription that wants it."""
    retry = Retry()
    subs = subscriptions.subscriptions if subscriptions else []
    for entry in pending:
        change = change_of(entry)
        sub = next((s for s in subs if s.tenant == entry.tenant and wants(s, change)), None)
        if sub is None:
            retry.given_up.append((entry, f"{entry.tenant} no longer subscribes to it"))
        elif now - entry.since > MAX_AGE:
            retry.given_up.append((entry, f"undelivered for more than {MAX_AGE.days} days"))
        else:
            retry.outgoing.append(Outgoing(sub, change, entry.id))
    return retry


@dataclass(frozen=True)
class OutboxUpdate:
    """The outbox's change: entries to drop (delivered or given up) and entries to write."""

    drop: frozenset[str] = frozenset()
    write: tuple[PendingNotification, ...] = ()
    given_up: tuple[tuple[PendingNotification, str], ...] = ()
    delivered: tuple[PendingNotification, ...] = ()

    @property
    def empty(self) -> bool:
        """Nothing to change."""
        return not self.drop and not self.write

    def apply(self, pending: Sequence[PendingNotification]) -> list[PendingNotification]:
        """`pending` (as found at the tip) with this update applied; order kept, new last."""
        written = {entry.id: entry for entry in self.write}
        kept = [written.pop(e.id, e) for e in pending if e.id not in self.drop]
        return kept + list(written.values())


def outbox_update(
    pending: Sequence[PendingNotification],
    retried: Sequence[Notification],
    fresh: Sequence[Notification],
    given_up: Sequence[tuple[PendingNotification, str]],
    now: datetime,
) -> OutboxUpdate:
    """The outbox after one sync: `retried` (sent again) and `fresh` (this sync's own)."""
    known = {entry.id: entry for entry in pending}
    drop = {entry.id for entry, _ in given_up}
    write: list[PendingNotification] = []
    gave_up = list(given_up)
    delivered: list[PendingNotification] = []
    for note in retried:
        entry = known[note.event_id]
        if note.ok:
            drop.add(entry.id)
            delivered.append(entry)
            continue
        again = entry.model_copy(update={"rounds": entry.rounds + 1, "last_error": note.detail})
        if again.rounds > MAX_ROUNDS:
            drop.add(entry.id)
            gave_up.append((entry, f"not delivered in {MAX_ROUNDS} syncs"))
        else:
            write.append(again)
    write += [_pending(note, now) for note in fresh if not note.ok and note.change is not None]
    return OutboxUpdate(frozenset(drop), tuple(write), tuple(gave_up), tuple(delivered))


def _pending(note: Notification, now: datetime) -> PendingNotification:
    change = note.change
    assert change is not None
    return PendingNotification.model_validate(
        {
            "id": note.event_id,
            "tenant": note.tenant,
            **change.as_json(),
            "rounds": 1,
            "since": now,
            "lastError": note.detail[:500],
        }
    )


def outbox_bytes(pending: Sequence[PendingNotification]) -> bytes | None:
    """The outbox file for `pending` (None: the file goes when nothing is pending)."""
    if not pending:
        return None
    header = {"apiVersion": API_VERSION, "kind": "NotificationOutbox"}
    entries = [e.model_dump(mode="json", by_alias=True, exclude_none=True) for e in pending]
    return dump_yaml({**header, "pending": entries}).encode()


class _UnchangedError(Exception):
    """The outbox at the tip already reads as this update would write it."""


@dataclass(frozen=True)
class OutboxCommit:
    """Where the update landed (None: nothing to change) and how many stay pending."""

    commit: str | None
    pending: int


def commit_outbox(
    git: GitRepo,
    branch: str,
    update: OutboxUpdate,
    *,
    remote: str | None,
    trailers: Callable[[], Trailers],
) -> OutboxCommit:
    """Apply `update` to the outbox at the tip of `branch` as one commit (pushed to
    `remote` when given, re-applied on the new tip when another push wins the race)."""
    left: list[int] = []

    def make_change(tip: Commit | None) -> tuple[ChangeSet, str]:
        before = load_outbox(Snapshot(git, tip)) if tip is not None else []
        after = update.apply(before)
        left.append(len(after))
        if after == before:
            raise _UnchangedError
        return {OUTBOX_FILE: outbox_bytes(after)}, _message(update, len(after), trailers())

    try:
        if remote is not None:
            landed = git.commit_and_push(remote, branch, make_change)
        else:
            tip = git.resolve(branch if branch.startswith("refs/") else f"refs/heads/{branch}")
            files, message = make_change(tip)
            landed = git.commit(branch, files, message, parent=tip)
    except _UnchangedError:
        return OutboxCommit(None, left[-1])
    return OutboxCommit(str(landed.id), left[-1])


def _message(update: OutboxUpdate, pending: int, trailers: Trailers) -> str:
    subject = f"Market outbox: {pending} notification(s) pending"
    body = [f"- delivered: {_what(e)}" for e in update.delivered]
    body += [f"- pending: {_what(e)}" for e in update.write]
    body += [f"- gave up: {_what(e)} ({why})" for e, why in update.given_up]
    return compose_message(subject, "\n".join(body[:50]), trailers)


def _what(entry: PendingNotification) -> str:
    return f"{entry.event} {entry.plugin}@{entry.version} to {entry.tenant}"
