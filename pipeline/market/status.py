"""What a vendor is told about a submission: its state, the reasons, and what to fix.

Shown by `px-market status` and `px-plugin publish`: the review's state and SLA standing,
every reviewer's reason (with its category), the rules the latest validator run found
failing, each finding with its place and remedy when the report is at hand, and the next
step, in plain words. Never "rejected, contact support".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline.market.findings import DOCS_BASE, ValidationReport
from pipeline.market.review_gates import latest_validation
from pipeline.market.sla import SlaStatus, sla_status, status_json
from pipeline.models.market import Review, ReviewSla

NEXT_STEP = {
    "submitted": "waiting for a reviewer to start the review",
    "in-review": "a reviewer is on it",
    "changes-requested": "fix what the reviewer asked for, then submit again "
    "(px-market submit, or px-plugin publish)",
    "approved": "approved: listed in catalog/ (px-market catalog sync lists it if not yet)",
    "rejected": "final: a new version can be submitted",
    "errored": "a check could not run (not your fault): it is retried "
    "(px-market review retry); nothing to fix",
}


@dataclass(frozen=True)
class SubmissionStatus:
    """One review as the vendor sees it, with the latest validator report if re-run."""

    review: Review
    sla: SlaStatus
    report: ValidationReport | None = None


def status_of(
    review: Review, sla: ReviewSla, now: datetime, report: ValidationReport | None = None
) -> SubmissionStatus:
    """The vendor's view of `review` at `now`."""
    return SubmissionStatus(review, sla_status(review, sla, now), report)


def anchor(rule: str) -> str:
    """The docs anchor of a rule (as `Finding.anchor` spells it)."""
    return f"{DOCS_BASE}#{rule.replace('.', '-')}"


def status_data(status: SubmissionStatus) -> dict[str, Any]:
    """The status as JSON data."""
    review = status.review
    validation = latest_validation(review)
    data: dict[str, Any] = {
        "plugin": review.plugin,
        "version": review.version,
        "state": review.state,
        "channel": review.channel,
        "next": NEXT_STEP[review.state],
        "sla": status_json(status.sla),
        "permissionsWidened": list(review.permissions_widened),
        "history": [
            step.model_dump(mode="json", by_alias=True, exclude_none=True)
            for step in review.history
        ],
        "validation": validation.model_dump(mode="json") if validation else None,
        "findings": [],
    }
    if status.report is not None:
        data["findings"] = [
            {
                "rule": f.rule,
                "mode": result.mode,
                "severity": f.severity,
                "where": f.where(),
                "message": f.message,
                "remedy": f.remedy,
                "docs": f.anchor,
            }
            for result in status.report.results
            if result.outcome == "failed"
            for f in result.findings
        ]
    return data


def render_status(status: SubmissionStatus) -> str:
    """The status as text for people."""
    review, sla = status.review, status.sla
    lines = [f"{review.plugin}@{review.version}: {review.state} ({review.channel})"]
    if sla.waiting:
        mark = "OVERDUE" if sla.overdue else "within SLA"
        lines.append(
            f"  SLA: {sla.business_days} of {sla.allowed} business day(s), due "
            f"{sla.due:%Y-%m-%d %H:%M} UTC ({mark})"
        )
    for step in review.history:
        why = f" [{step.category}]" if step.category else ""
        reason = f": {step.reason}" if step.reason else ""
        checked = ""
        if step.validation is not None:
            failing = [*step.validation.failed, *step.validation.errored]
            checked = f" (failed: {', '.join(failing)})" if failing else " (every rule passed)"
        lines.append(f"  {step.at:%Y-%m-%d %H:%M} {step.state} by {step.by}{why}{reason}{checked}")
    if review.permissions_widened:
        lines.append(f"  permissions widened: {', '.join(review.permissions_widened)}")
    lines += _validation_lines(status)
    lines.append(f"  next: {NEXT_STEP[review.state]}")
    return "".join(f"{line}\n" for line in lines)


def report_lines(report: ValidationReport, *, errored: str, indent: str = "  ") -> list[str]:
    """A validator run for the developer: its verdict, then each failing finding with its
    place and remedy, and each rule that could not run (`errored` says what happens)."""
    lines = [f"{indent}validation ({report.ruleset}): {report.verdict}"]
    for result in report.results:
        if result.outcome == "failed":
            blocks = "blocks approval" if result.mode == "enforced" else "advisory"
            for f in result.findings:
                lines.append(f"{indent}- {f.rule} ({blocks}) {f.where()}: {f.message}")
                lines.append(f"{indent}  fix: {f.remedy} (see {f.anchor})")
        elif result.outcome == "errored":
            lines.append(f"{indent}- {result.rule} could not run: {result.error} ({errored})")
    return lines


def _validation_lines(status: SubmissionStatus) -> list[str]:
    lines: list[str] = []
    if status.report is not None:
        return report_lines(status.report, errored="retried")
    validation = latest_validation(status.review)
    if validation is None:
        return lines
    lines.append(f"  validation ({validation.ruleset}):")
    for rule in validation.failed:
        lines.append(f"  - {rule} fails (blocks approval): see {anchor(rule)}")
    for rule in validation.advisory:
        lines.append(f"  - {rule} fails (advisory): see {anchor(rule)}")
    for rule in validation.errored:
        lines.append(f"  - {rule} could not run (retried)")
    if validation.failed or validation.advisory:
        lines.append("    (px-market validate shows each finding with its place and remedy)")
    if not (validation.failed or validation.advisory or validation.errored):
        lines.append("  - every rule passed")
    return lines
