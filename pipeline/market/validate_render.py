"""A validation report as text (people), JSON (tools) or a Markdown checklist (a PR body)."""

from __future__ import annotations

import json
from typing import Any

from pipeline.market.findings import Finding, RuleResult, ValidationReport

_HEADINGS = (
    ("failed", "FAILED (blocks listing)"),
    ("advisory", "ADVISORY (shown, never blocks)"),
    ("errored", "ERRORED (could not run: not a rejection, run again)"),
    ("excused", "EXCUSED (policies/market.yaml exception)"),
)
_VERDICTS = {
    "passed": "PASSED: every enforced rule passed",
    "failed": "FAILED: an enforced rule failed; fix the findings and submit again",
    "errored": "ERRORED: a rule could not run; this is not a rejection, run the validator again",
}


def _group(result: RuleResult) -> str:
    if result.outcome == "failed":
        return "failed" if result.mode == "enforced" else "advisory"
    return result.outcome


def finding_json(finding: Finding) -> dict[str, Any]:
    """One finding as plain data."""
    return {
        "rule": finding.rule,
        "severity": finding.severity,
        "file": finding.file,
        "line": finding.line,
        "path": finding.path,
        "message": finding.message,
        "remedy": finding.remedy,
        "docs": finding.anchor,
    }


def render_json(report: ValidationReport, rules: list[str]) -> str:
    """ruleset, verdict, per-rule results and every finding, as JSON."""
    data = {
        "plugin": report.plugin,
        "version": report.version,
        "ruleset": report.ruleset,
        "rules": rules,
        "verdict": report.verdict,
        "failed": report.failed,
        "advisory": report.advisory,
        "errored": report.errored,
        "permissionsWidened": list(report.permissions_widened),
        "notes": list(report.notes),
        "results": [
            {
                "rule": r.rule,
                "title": r.title,
                "mode": r.mode,
                "outcome": r.outcome,
                "error": r.error,
                "excuse": r.excuse,
                "seconds": round(r.seconds, 4),
                "findings": [finding_json(f) for f in r.findings],
            }
            for r in report.results
        ],
        "findings": [finding_json(f) for r in report.results for f in r.findings],
    }
    return json.dumps(data, indent=2) + "\n"


def render_text(report: ValidationReport) -> str:
    """Grouped by outcome: what failed first, each finding with where, what and what to do."""
    lines = [f"{report.plugin}@{report.version}  ruleset {report.ruleset}", ""]
    for group, heading in _HEADINGS:
        members = [r for r in report.results if _group(r) == group]
        if not members:
            continue
        lines.append(heading)
        for result in members:
            lines.append(f"  {result.rule}  {result.title}")
            if result.error:
                lines.append(f"    error: {result.error}")
            if result.excuse:
                lines.append(f"    excused: {result.excuse}")
            for finding in result.findings:
                lines += _finding_lines(finding)
        lines.append("")
    passed = [r.rule for r in report.results if r.outcome == "passed"]
    skipped = [r.rule for r in report.results if r.outcome == "skipped"]
    if passed:
        lines.append(f"passed: {', '.join(passed)}")
    if skipped:
        lines.append(f"off (policies/market.yaml): {', '.join(skipped)}")
    if report.permissions_widened:
        lines.append(f"permissions widened: {', '.join(report.permissions_widened)}")
    lines += [f"note: {note}" for note in report.notes]
    lines.append(_VERDICTS[report.verdict])
    return "\n".join(lines) + "\n"


def _finding_lines(finding: Finding) -> list[str]:
    where = finding.where()
    lines = [f"    {finding.severity:<8} {where + ': ' if where else ''}{finding.message}"]
    lines.append(f"             fix: {finding.remedy}")
    lines.append(f"             see: {finding.anchor}")
    return lines


def render_checklist(report: ValidationReport) -> str:
    """A Markdown task list for a pull request body: one box per rule, findings below."""
    lines = [
        f"### Marketplace validation of `{report.plugin}@{report.version}`: {report.verdict}",
        "",
        f"Ruleset `{report.ruleset}`",
        "",
    ]
    for result in report.results:
        if result.outcome == "skipped":
            continue
        done = "x" if result.outcome in ("passed", "excused") else " "
        status = {
            "passed": "",
            "excused": f" (excused: {result.excuse})",
            "errored": f" (errored: {result.error})",
        }.get(result.outcome, "" if result.mode == "enforced" else " (advisory)")
        lines.append(f"- [{done}] `{result.rule}` {result.title}{status}")
        for finding in result.findings:
            where = finding.where()
            place = f"`{where}`: " if where else ""
            lines.append(
                f"  - **{finding.severity}** {place}{finding.message}. "
                f"Fix: {finding.remedy} ([{finding.rule}]({finding.anchor}))"
            )
    if report.permissions_widened:
        lines += ["", f"Permissions widened: {', '.join(report.permissions_widened)}"]
    lines += [f"> {note}" for note in report.notes]
    return "\n".join(lines) + "\n"
