"""The review SLA, in business days: Monday to Friday (UTC), minus `policies.market.sla.holidays`.

A review owes the vendor an answer while it is submitted, in review or errored (an outage
is ours, so its clock runs); while changes are requested, the vendor has the ball and the
clock stops. The clock starts at the latest (re)submission: online reviews get
`onlineDays`, offline ones `offlineDays`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from pipeline.market.records import reviewed_plugins, reviews
from pipeline.models.market import Review, ReviewSla
from pipeline.snapshot import Snapshot

if TYPE_CHECKING:  # httpx loads only when a reminder is sent
    from pipeline.notify import Event

WAITING_ON_REVIEWERS = frozenset({"submitted", "in-review", "errored"})
"""States in which the Marketplace owes an answer (the SLA clock runs)."""
DAY = timedelta(days=1)


def is_business_day(day: date, holidays: Iterable[date] = ()) -> bool:
    """Monday to Friday and not a holiday."""
    return day.weekday() < 5 and day not in set(holidays)


def business_days_between(start: datetime, end: datetime, holidays: Iterable[date] = ()) -> float:
    """How many business days (fractions included) lie between `start` and `end` (UTC)."""
    off = set(holidays)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return 0.0
    total = timedelta()
    day = start.date()
    while day <= end.date():
        if is_business_day(day, off):
            day_start = datetime.combine(day, time(), UTC)
            total += min(end, day_start + DAY) - max(start, day_start)
        day += DAY
    return total / DAY


def due_at(start: datetime, days: int, holidays: Iterable[date] = ()) -> datetime:
    """When `days` business days after `start` have passed (UTC)."""
    off = set(holidays)
    moment = start.astimezone(UTC)
    left = timedelta(days=days)
    while True:
        day_start = datetime.combine(moment.date(), time(), UTC)
        if is_business_day(moment.date(), off):
            room = day_start + DAY - moment
            if left <= room:
                return moment + left
            left -= room
        moment = day_start + DAY


@dataclass(frozen=True)
class SlaStatus:
    """Where one review stands against its SLA."""

    plugin: str
    version: str
    state: str
    channel: str
    since: datetime
    business_days: float
    """Business days waited since the latest submission."""
    allowed: int
    due: datetime
    waiting: bool
    """The Marketplace owes an answer (else the vendor does, or the review is final)."""

    @property
    def overdue(self) -> bool:
        """Waiting on reviewers longer than allowed."""
        return self.waiting and self.business_days > self.allowed


def sla_status(review: Review, sla: ReviewSla, now: datetime) -> SlaStatus:
    """The review's standing against `sla` at `now`."""
    allowed = sla.online_days if review.channel == "online" else sla.offline_days
    since = review.submitted_at
    return SlaStatus(
        plugin=review.plugin,
        version=review.version,
        state=review.state,
        channel=review.channel,
        since=since,
        business_days=round(business_days_between(since, now, sla.holidays), 2),
        allowed=allowed,
        due=due_at(since, allowed, sla.holidays),
        waiting=review.state in WAITING_ON_REVIEWERS,
    )


def waiting_reviews(snapshot: Snapshot, now: datetime) -> list[SlaStatus]:
    """Every review the Marketplace owes an answer on, longest waiting first."""
    sla = snapshot.policies().market.sla
    found = [
        sla_status(review, sla, now)
        for plugin in reviewed_plugins(snapshot)
        for review in reviews(snapshot, plugin).values()
        if review.state in WAITING_ON_REVIEWERS
    ]
    return sorted(found, key=lambda s: (-s.business_days, s.plugin, s.version))


def overdue_event(statuses: list[SlaStatus]) -> Event:
    """The `io.powerx.market.overdue` event of the reviews past their SLA."""
    from pipeline.notify import Event

    overdue = [s for s in statuses if s.overdue]
    lines = "\n".join(
        f"{s.plugin}@{s.version} ({s.channel}, {s.state}) waits {s.business_days} of "
        f"{s.allowed} business day(s)"
        for s in overdue
    )
    return Event(
        kind="overdue",
        family="market",
        subject=", ".join(f"{s.plugin}@{s.version}" for s in overdue),
        text=f"{len(overdue)} Marketplace review(s) past their SLA\n{lines}",
        data={"overdue": [status_json(s) for s in overdue]},
        severity="warning",
    )


def status_json(status: SlaStatus) -> dict[str, object]:
    """One review's SLA standing as JSON data."""
    return {
        "plugin": status.plugin,
        "version": status.version,
        "state": status.state,
        "channel": status.channel,
        "since": status.since.isoformat(),
        "businessDays": status.business_days,
        "allowedDays": status.allowed,
        "due": status.due.isoformat(),
        "waitingOnReviewers": status.waiting,
        "overdue": status.overdue,
    }
