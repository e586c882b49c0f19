"""Business days (Monday to Friday, UTC, minus holidays) between two moments, for the report.

The same rule as the review SLA's (`policies.market.sla`: `onlineDays`, `offlineDays`,
`holidays`); kept small so it can fold into the SLA module's `business_days_between`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

DAY = timedelta(days=1)


def is_business_day(day: date, holidays: Iterable[date] = ()) -> bool:
    """Monday to Friday and not a holiday."""
    return day.weekday() < 5 and day not in set(holidays)


def business_days_between(start: datetime, end: datetime, holidays: Iterable[date] = ()) -> float:
    """The business time from `start` to `end`, in days (a business day counts whole; a
    weekend or holiday not at all); 0 when `end` is not after `start`."""
    off = set(holidays)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    total = timedelta()
    day = start.date()
    while start < end and day <= end.date():
        if is_business_day(day, off):
            opens = datetime.combine(day, time(), UTC)
            total += min(end, opens + DAY) - max(start, opens)
        day += DAY
    return total / DAY
