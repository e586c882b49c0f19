"""`px-market report`: how reviews go and how listed versions are used.

From the review records (`market/reviews/<plugin>/<version>.yaml`, read through
`market.records`) at one revision:

* pass rate: approved / decided (approved or rejected); first-pass rate: approved without
  a change request;
* listing lead time: first submission to approval, in calendar days;
* review time against the SLA: each round, from a (re)submission to the reviewers'
  decision (changes requested, approved, rejected), in business days
  (`market.sla`, holidays from `policies.market.sla`), against `onlineDays` or
  `offlineDays`; an open round counts up to now and is overdue past its SLA;
* reasons by category: the changes requested and rejections per `ReasonCategory`.

From usage events (JSON lines, `models.market_events`; `--events FILE`, else the repo's
`market/usage.jsonl` when there is one): downloads, activations and uninstalls per version,
and churn = uninstalls / activations.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from statistics import median
from typing import Any

from pipeline.market.records import reviewed_plugins, reviews
from pipeline.market.sla import business_days_between
from pipeline.models.market import Review, ReviewSla
from pipeline.models.market_events import MAX_EVENTS_BYTES, UsageEvent, parse_events
from pipeline.models.semver import Version
from pipeline.snapshot import Snapshot

USAGE_FILE = "market/usage.jsonl"
DECISIONS = frozenset({"changes-requested", "approved", "rejected"})


@dataclass(frozen=True)
class ReportRequest:
    """What to report on: the repo at a revision, usage events, from when, and now."""

    snapshot: Snapshot
    events: Sequence[UsageEvent] | None
    """None: the repo's market/usage.jsonl, if any."""
    since: datetime | None
    now: datetime


@dataclass(frozen=True)
class Round:
    """One review round: from a (re)submission to the decision, or still open."""

    plugin: str
    version: str
    channel: str
    submitted: datetime
    decided: datetime | None
    outcome: str
    """The decision, or `open`."""
    business_days: float
    allowed: int

    @property
    def within_sla(self) -> bool:
        """Decided (or still open) within its SLA."""
        return self.business_days <= self.allowed


@dataclass(frozen=True)
class VersionUsage:
    """Usage of one listed version."""

    plugin: str
    version: str
    downloads: int
    activations: int
    uninstalls: int

    @property
    def churn(self) -> float | None:
        """Uninstalls per activation (None: never activated)."""
        return self.uninstalls / self.activations if self.activations else None


@dataclass
class MarketReport:
    """The figures of `px-market report`."""

    since: datetime | None
    now: datetime
    submissions: int = 0
    approved: int = 0
    rejected: int = 0
    first_pass: int = 0
    lead_days: dict[str, float] = field(default_factory=dict)
    """plugin@version -> days from first submission to approval."""
    rounds: list[Round] = field(default_factory=list)
    reasons: dict[str, Counter[str]] = field(default_factory=dict)
    """category -> {changes-requested: n, rejected: n}."""
    usage: list[VersionUsage] = field(default_factory=list)

    @property
    def decided(self) -> int:
        """Submissions approved or rejected."""
        return self.approved + self.rejected

    @property
    def pass_rate(self) -> float | None:
        """Approved / decided (None: nothing decided)."""
        return self.approved / self.decided if self.decided else None

    @property
    def first_pass_rate(self) -> float | None:
        """Approved without a change request / decided."""
        return self.first_pass / self.decided if self.decided else None

    @property
    def overdue(self) -> list[Round]:
        """Rounds over their SLA (decided late, or open too long)."""
        return [r for r in self.rounds if not r.within_sla]

    def as_json(self) -> dict[str, Any]:
        """The report as JSON data."""
        leads = list(self.lead_days.values())
        return {
            "since": self.since.isoformat() if self.since else None,
            "now": self.now.isoformat(),
            "reviews": {
                "submissions": self.submissions,
                "approved": self.approved,
                "rejected": self.rejected,
                "passRate": _round(self.pass_rate),
                "firstPassRate": _round(self.first_pass_rate),
            },
            "leadTime": {
                "medianDays": _round(median(leads) if leads else None),
                "maxDays": _round(max(leads) if leads else None),
                "listings": {ref: _round(days) for ref, days in self.lead_days.items()},
            },
            "sla": {
                "rounds": len(self.rounds),
                "withinSla": len(self.rounds) - len(self.overdue),
                "overdue": [_round_json(r) for r in self.overdue],
                "all": [_round_json(r) for r in self.rounds],
            },
            "reasons": {cat: dict(sorted(c.items())) for cat, c in sorted(self.reasons.items())},
            "usage": [
                {
                    "plugin": u.plugin,
                    "version": u.version,
                    "downloads": u.downloads,
                    "activations": u.activations,
                    "uninstalls": u.uninstalls,
                    "churn": _round(u.churn),
                }
                for u in self.usage
            ],
        }


def build_report(request: ReportRequest) -> MarketReport:
    """Every figure of the report (see the module docstring)."""
    snapshot, since = request.snapshot, request.since
    sla = snapshot.policies().market.sla
    report = MarketReport(since, request.now)
    for plugin in reviewed_plugins(snapshot):
        for review in reversed(reviews(snapshot, plugin).values()):  # oldest version first
            if since is not None and review.history[0].at < since:
                continue
            _count_review(report, review, sla, request.now)
    events = request.events if request.events is not None else repo_events(snapshot)
    report.usage = usage_by_version(
        [e for e in events if since is None or e.at >= since],
    )
    return report


def repo_events(snapshot: Snapshot) -> list[UsageEvent]:
    """The usage events committed at market/usage.jsonl ([] when there is none)."""
    raw = snapshot.read(USAGE_FILE, max_bytes=MAX_EVENTS_BYTES)
    if raw is None:
        return []
    return parse_events(raw.splitlines(keepends=True), USAGE_FILE)


def _count_review(report: MarketReport, review: Review, sla: ReviewSla, now: datetime) -> None:
    ref = f"{review.plugin}@{review.version}"
    report.submissions += 1
    allowed = sla.offline_days if review.channel == "offline" else sla.online_days
    asked_changes = False
    opened: datetime | None = None
    for step in review.history:
        if step.state == "submitted" and opened is None:
            opened = step.at
        elif step.state in DECISIONS and opened is not None:
            days = business_days_between(opened, step.at, sla.holidays)
            report.rounds.append(
                Round(review.plugin, review.version, review.channel, opened, step.at,
                      step.state, days, allowed)
            )  # fmt: skip
            opened = None
        if step.state in ("changes-requested", "rejected") and step.category is not None:
            report.reasons.setdefault(step.category, Counter())[step.state] += 1
        asked_changes = asked_changes or step.state == "changes-requested"
    if opened is not None and review.state not in ("approved", "rejected"):
        days = business_days_between(opened, now, sla.holidays)
        report.rounds.append(
            Round(review.plugin, review.version, review.channel, opened, None, "open", days,
                  allowed)
        )  # fmt: skip
    if review.state == "approved":
        report.approved += 1
        report.first_pass += not asked_changes
        approved_at = review.history[-1].at
        report.lead_days[ref] = (approved_at - review.history[0].at).total_seconds() / 86400
    elif review.state == "rejected":
        report.rejected += 1


def usage_by_version(events: Sequence[UsageEvent]) -> list[VersionUsage]:
    """Downloads, activations and uninstalls per plugin version (plugins by name, newest
    version first)."""
    counts: dict[tuple[str, str], Counter[str]] = {}
    for event in events:
        counts.setdefault((event.plugin, event.version), Counter())[event.event] += 1
    newest_first = sorted(counts, key=lambda key: Version.parse(key[1]), reverse=True)
    ordered = sorted(newest_first, key=lambda key: key[0])
    return [
        VersionUsage(
            plugin,
            version,
            counts[(plugin, version)]["download"],
            counts[(plugin, version)]["activation"],
            counts[(plugin, version)]["uninstall"],
        )
        for plugin, version in ordered
    ]


def report_text(report: MarketReport) -> str:
    """The report for people."""
    data = report.as_json()
    rev, lead, sla = data["reviews"], data["leadTime"], data["sla"]
    period = f" since {report.since.date().isoformat()}" if report.since else ""
    lines = [
        f"Marketplace report{period} (at {report.now.isoformat(timespec='minutes')})",
        "",
        f"reviews: {rev['submissions']} submitted, {rev['approved']} approved, "
        f"{rev['rejected']} rejected; pass rate {percent(report.pass_rate)}, "
        f"first-pass rate {percent(report.first_pass_rate)}",
        f"listing lead time (first submission -> approved): median "
        f"{_days(lead['medianDays'])}, longest {_days(lead['maxDays'])}",
        f"review time vs SLA: {sla['withinSla']} of {sla['rounds']} rounds within SLA",
    ]
    for r in report.overdue:
        state = "still open" if r.outcome == "open" else f"-> {r.outcome}"
        lines.append(
            f"  OVER SLA {r.plugin}@{r.version} ({r.channel}): {r.business_days:.1f} business "
            f"days, allowed {r.allowed} ({state})"
        )
    lines += ["", "reasons by category (changes requested / rejected):"]
    lines += [
        f"  {category:<14} {counts.get('changes-requested', 0):>4} / {counts.get('rejected', 0)}"
        for category, counts in data["reasons"].items()
    ] or ["  (none)"]
    lines += ["", "usage per version: downloads, activations, uninstalls, churn"]
    lines += [
        f"  {u.plugin}@{u.version:<12} {u.downloads:>6} {u.activations:>6} {u.uninstalls:>6}"
        f"  {percent(u.churn)}"
        for u in report.usage
    ] or ["  (no usage events)"]
    return "\n".join(lines) + "\n"


def _round_json(r: Round) -> dict[str, Any]:
    return {
        "plugin": r.plugin,
        "version": r.version,
        "channel": r.channel,
        "submitted": r.submitted.isoformat(),
        "decided": r.decided.isoformat() if r.decided else None,
        "outcome": r.outcome,
        "businessDays": _round(r.business_days),
        "allowed": r.allowed,
        "withinSla": r.within_sla,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def percent(value: float | None) -> str:
    """A rate as a whole percentage ("-" when there is nothing to rate)."""
    return "-" if value is None else f"{value:.0%}"


def _days(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} days"
