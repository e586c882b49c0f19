"""The review SLA in business days: weekends and holidays do not count, an injected clock."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from pipeline.market.sla import business_days_between, due_at, sla_status
from pipeline.models.market import Review, ReviewSla

FRI = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
HOLIDAY = date(2026, 3, 9)  # the Monday after


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 3, day, hour, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "holidays", "days"),
    [
        (at(4), at(5), [], 1.0),  # Wednesday noon to Thursday noon
        (FRI, at(9), [], 1.0),  # Friday noon to Monday noon: the weekend is skipped
        (FRI, at(9), [HOLIDAY], 0.5),  # Monday a holiday: still just Friday's afternoon
        (FRI, at(10), [HOLIDAY], 1.0),  # ... and Tuesday's morning
        (at(7), at(8, 23), [], 0.0),  # a whole weekend counts nothing
        (at(5), at(4), [], 0.0),  # backwards: nothing
    ],
)
def test_business_days_skip_weekends_and_holidays(
    start: datetime, end: datetime, holidays: list[date], days: float
) -> None:
    assert business_days_between(start, end, holidays) == pytest.approx(days)


def test_due_dates_jump_weekends_and_holidays() -> None:
    assert due_at(at(4), 2) == at(6)  # Wednesday + 2 = Friday
    assert due_at(FRI, 2) == at(10)  # Friday + 2 = Tuesday (weekend skipped)
    assert due_at(FRI, 2, [HOLIDAY]) == at(11)  # and Wednesday with a holiday Monday
    assert due_at(at(7), 1) == datetime(2026, 3, 10, 0, 0, tzinfo=UTC)  # Saturday: from Monday


def review(channel: str, *states: tuple[str, datetime]) -> Review:
    history = [
        {"state": s, "at": when.isoformat(), "by": "x", "reason": "r", "category": "other"}
        for s, when in states
    ]
    return Review.model_validate(
        {
            "apiVersion": "powerx.io/v1alpha1",
            "kind": "Review",
            "plugin": "hello",
            "version": "1.0.0",
            "channel": channel,
            "artifactSha256": "a" * 64,
            "history": history,
        }
    )


def test_online_and_offline_reviews_get_their_own_days() -> None:
    sla = ReviewSla.model_validate({"holidays": [HOLIDAY]})
    online = review("online", ("submitted", FRI))
    offline = review("offline", ("submitted", FRI))
    # Friday afternoon, (holiday Monday), Tuesday, Wednesday until 11:00: 1.96 days
    assert sla_status(online, sla, at(11, 11)).business_days == pytest.approx(1.96, abs=0.01)
    assert not sla_status(online, sla, at(11, 11)).overdue
    assert sla_status(online, sla, at(11, 13)).overdue
    assert not sla_status(offline, sla, at(12, 11)).overdue
    assert sla_status(offline, sla, at(12, 13)).overdue
    assert sla_status(offline, sla, at(12, 13)).due == at(12)


def test_the_clock_stops_while_the_vendor_has_the_ball_and_restarts_on_resubmission() -> None:
    sla = ReviewSla()
    asked = review("online", ("submitted", at(2)), ("changes-requested", at(3)))
    assert not sla_status(asked, sla, at(20)).overdue
    resubmitted = review(
        "online", ("submitted", at(2)), ("changes-requested", at(3)), ("submitted", at(19))
    )
    status = sla_status(resubmitted, sla, at(20))
    assert status.since == at(19) and status.business_days == pytest.approx(1.0)
    assert status.waiting and not status.overdue
    final = review("online", ("submitted", at(2)), ("rejected", at(3)))
    assert not sla_status(final, sla, at(30)).waiting
