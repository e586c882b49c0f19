"""The notification outbox: a delivery that failed after the catalog commit is sent again
by the next sync (same CloudEvent id), on real repos, a bare remote and a real receiver."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import Repo, git
from factories import API
from test_market_catalog import NOW, listed
from test_market_events import Receiver

from pipeline.gitrepo import GitRepo, read_trailers
from pipeline.market import OUTBOX_FILE
from pipeline.market.events import Notification
from pipeline.market.outbox import (
    MAX_AGE,
    MAX_ROUNDS,
    OutboxUpdate,
    load_outbox,
    outbox_update,
    plan_retry,
)
from pipeline.models.market import PendingNotification, Subscriptions
from pipeline.snapshot import Snapshot
from pipeline.workflows.market_list import Listed, ListRequest, list_approved, listed_data


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def subscriptions(*tenants: tuple[str, str]) -> str:
    subs = [{"tenant": tenant, "webhook": url} for tenant, url in tenants]
    return json.dumps({"apiVersion": API, "kind": "Subscriptions", "subscriptions": subs})


@pytest.fixture
def shop(release_repo: Repo, receiver: Receiver, tmp_path: Path) -> Repo:
    """hello 1.0.0 approved, acme subscribed, pushed to a bare origin."""
    release_repo.git("checkout", "-q", "main")
    release_repo.git("merge", "-q", "feature")
    subs = subscriptions(("acme", receiver.url("/acme")))
    release_repo.commit({**listed("hello", "1.0.0"), "market/subscriptions.yaml": subs}, "approved")
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    release_repo.git("remote", "add", "origin", str(origin))
    release_repo.git("push", "-q", "origin", "main")
    return release_repo


def run(repo: Repo, at: datetime = NOW) -> Listed:
    request = ListRequest(
        GitRepo(repo.path),
        remote="origin",
        operator="robot",
        environ={},
        now=lambda: at,
        sleep=lambda seconds: None,  # no real waits between attempts
    )
    return list_approved(request)


def outbox_at_origin(repo: Repo) -> list[PendingNotification]:
    git_repo = GitRepo(repo.path)
    return load_outbox(Snapshot(git_repo, git_repo.resolve("refs/remotes/origin/main")))


def test_a_failed_delivery_waits_in_the_outbox_and_the_next_sync_delivers_it(
    shop: Repo, receiver: Receiver
) -> None:
    receiver.statuses = [503, 503, 503]  # every attempt of the first sync
    first = run(shop)
    assert first.sync.commit is not None and not first.delivered
    [entry] = outbox_at_origin(shop)
    assert (entry.tenant, entry.plugin, entry.version, entry.rounds) == (
        "acme",
        "hello",
        "1.0.0",
        1,
    )
    assert entry.commit == first.sync.commit and "503" in entry.last_error
    message = shop.git("log", "-1", "--format=%B", "origin/main")
    assert read_trailers(message)["Action"] == "market-outbox"
    assert "pending: listing.created hello@1.0.0 to acme" in message
    assert listed_data(first)["outbox"] == {"commit": first.outbox.commit, "pending": 1}
    sent_first = receiver.received[0].event

    later = run(shop, NOW + timedelta(hours=1))
    assert later.sync.commit is None and later.notifications == []  # nothing new listed
    [again] = later.retried
    assert again.ok and later.delivered
    resent = receiver.received[-1].event
    assert resent["id"] == sent_first["id"] == entry.id  # the receiver can drop a repeat
    assert len(receiver.received) == 4
    assert outbox_at_origin(shop) == []
    assert shop.git("ls-tree", "origin/main", OUTBOX_FILE) == ""  # the file is gone
    assert "delivered: listing.created hello@1.0.0" in shop.git("log", "-1", "--format=%B")

    quiet = run(shop, NOW + timedelta(hours=2))
    assert quiet.retried == [] and quiet.outbox.commit is None
    assert len(receiver.received) == 4  # nobody told twice


def test_the_outbox_gives_up_when_the_tenant_unsubscribed(shop: Repo, receiver: Receiver) -> None:
    receiver.statuses = [500, 500, 500]
    run(shop)
    assert len(outbox_at_origin(shop)) == 1
    shop.git("pull", "-q", "--ff-only", "origin", "main")
    shop.commit({"market/subscriptions.yaml": subscriptions()}, "acme unsubscribes")
    shop.git("push", "-q", "origin", "main")
    later = run(shop, NOW + timedelta(hours=1))
    assert later.retried == [] and len(receiver.received) == 3
    [(entry, why)] = later.given_up
    assert entry.tenant == "acme" and "no longer subscribes" in why
    assert outbox_at_origin(shop) == []
    assert listed_data(later)["gaveUp"] == [
        {"tenant": "acme", "subject": "hello@1.0.0", "event": "listing.created", "reason": why}
    ]


def pending(**fields: Any) -> PendingNotification:
    data: dict[str, Any] = {
        "id": "e1",
        "tenant": "acme",
        "event": "listing.created",
        "plugin": "hello",
        "version": "1.0.0",
        "rounds": 1,
        "since": NOW,
        **fields,
    }
    return PendingNotification.model_validate(data)


def failed(entry: PendingNotification, ok: bool = False) -> Notification:
    return Notification(
        entry.tenant, "t", "s", "http://x", ok, "HTTP 503", 503, 3, event_id=entry.id
    )


def test_an_entry_is_dropped_after_max_rounds_or_max_age() -> None:
    tired = pending(rounds=MAX_ROUNDS)
    update = outbox_update([tired], [failed(tired)], [], [], NOW)
    assert "e1" in update.drop and update.write == ()
    assert f"{MAX_ROUNDS} syncs" in update.given_up[0][1]
    young = pending(rounds=MAX_ROUNDS - 1)
    kept = outbox_update([young], [failed(young)], [], [], NOW)
    assert kept.write[0].rounds == MAX_ROUNDS and kept.write[0].last_error == "HTTP 503"

    subs = Subscriptions.model_validate(
        {"apiVersion": API, "kind": "Subscriptions",
         "subscriptions": [{"tenant": "acme", "webhook": "https://hooks.example/acme"}]}
    )  # fmt: skip
    old = pending(since=NOW - MAX_AGE - timedelta(seconds=1))
    retry = plan_retry([old, pending(id="e2")], subs, NOW)
    assert [o.event_id for o in retry.outgoing] == ["e2"]
    assert [e.id for e, _ in retry.given_up] == ["e1"] and "7 days" in retry.given_up[0][1]


def test_an_update_applies_to_the_outbox_it_finds_at_the_tip() -> None:
    mine, theirs, gone = pending(id="mine"), pending(id="theirs"), pending(id="gone")
    again = mine.model_copy(update={"rounds": 2})
    fresh = pending(id="fresh", since=datetime(2026, 12, 2, tzinfo=UTC))
    update = OutboxUpdate(drop=frozenset({"gone"}), write=(again, fresh))
    # another sync added "theirs" meanwhile: it is kept, order kept, new entries last
    assert update.apply([gone, mine, theirs]) == [again, theirs, fresh]
    assert OutboxUpdate().empty and not update.empty


def test_without_a_remote_the_outbox_is_committed_on_the_local_branch(
    shop: Repo, receiver: Receiver
) -> None:
    receiver.statuses = [502, 502, 502]
    request = ListRequest(GitRepo(shop.path), environ={}, now=lambda: NOW, sleep=lambda s: None)
    first = list_approved(request)
    assert first.outbox.commit == shop.head() and first.outbox.pending == 1
    git_repo = GitRepo(shop.path)
    [entry] = load_outbox(Snapshot(git_repo, git_repo.resolve("HEAD")))
    assert "HTTP 502" in entry.last_error
    assert (shop.path / OUTBOX_FILE).is_file()  # the work tree follows the commit
    assert list_approved(request).outbox.pending == 0
    assert not (shop.path / OUTBOX_FILE).exists()
