"""`/market/report`: the Marketplace report (`px-market report`) with its charts.

Review figures from the review records at the console's head; usage from the repo's
`market/usage.jsonl` when there is one. `?since=YYYY-MM-DD` narrows both.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.market.report import MarketReport, ReportRequest, build_report, percent
from pipeline.snapshot import Snapshot
from pipeline.web import svg
from pipeline.web.views import Data, Params, Source, View


def report_data(source: Source, params: Params) -> Data:
    """The report as data, with its two charts as inline SVG."""
    snapshot = Snapshot(source.git, source.head)
    since = params.date("since")
    report = build_report(ReportRequest(snapshot, None, since, datetime.now(UTC)))
    return {
        **report.as_json(),
        "head": str(source.head.id),
        "since": since.date().isoformat() if since else None,
        "passRate": percent(report.pass_rate),
        "firstPassRate": percent(report.first_pass_rate),
        "slaChart": sla_chart(report) if report.rounds else None,
        "usageChart": usage_chart(report) if report.usage else None,
    }


def sla_chart(report: MarketReport) -> str:
    """Business days of each review round (in order of submission) against its SLA."""
    rounds = sorted(report.rounds, key=lambda r: r.submitted)
    days = [(float(i), r.business_days) for i, r in enumerate(rounds, 1)]
    allowed = [(float(i), float(r.allowed)) for i, r in enumerate(rounds, 1)]
    return svg.line_chart(
        [
            svg.Line("review time", "series-stable", days),
            svg.Line("SLA", "threshold", allowed),
        ],
        title="Review time per round (business days) vs SLA",
        x_label="review round (oldest first)",
        y_label="business days",
        y_floor=0,
    )


def usage_chart(report: MarketReport) -> str:
    """Downloads, activations and uninstalls per version (in the table's order)."""
    rows = list(enumerate(report.usage, 1))
    return svg.line_chart(
        [
            svg.Line("downloads", "series-stable", [(float(i), u.downloads) for i, u in rows]),
            svg.Line("activations", "weight", [(float(i), u.activations) for i, u in rows]),
            svg.Line("uninstalls", "series-canary", [(float(i), u.uninstalls) for i, u in rows]),
        ],
        title="Usage per version",
        x_label="version (numbered as in the table)",
        y_label="events",
        y_floor=0,
    )


VIEWS = [
    View("market-report", "/market/report", report_data, "market_report.html", "Marketplace report")
]
