"""Render a check report for people (text), machines (JSON) and GitHub Actions."""

from __future__ import annotations

import html
import json
from importlib.resources import files

import jinja2

from pipeline.policy.results import CheckReport, GateResult, Status

ICONS: dict[str, str] = {"pass": "✅", "fail": "❌", "warn": "⚠️", "error": "⛔"}
VERDICTS: dict[str, str] = {
    "pass": "all gates pass",
    "fail": "a gate failed",
    "error": "bad input",
}
_TEXT_MARKS = {"pass": "PASS", "fail": "FAIL", "warn": "WARN", "error": "ERROR"}


def worst(results: list[GateResult]) -> Status:
    """The most serious status among results."""
    for status in ("error", "fail", "warn"):
        if any(r.status == status for r in results):
            return status
    return "pass"


def render_text(report: CheckReport) -> str:
    """A readable report: one block per subject, one line per gate."""
    lines = [
        f"powerx check {report.base[:12]}..{report.head[:12]}: "
        f"{report.changed_files} changed file(s)"
    ]
    for subject, results in report.subjects().items():
        lines.append("")
        lines.append(f"{_TEXT_MARKS[worst(results)]:5} {subject}")
        for r in results:
            detail = f"expected {r.expected}, found {r.found}" if r.expected or r.found else ""
            lines.append(f"  {_TEXT_MARKS[r.status]:5} {r.gate:14} {detail}".rstrip())
            for extra in (
                r.message,
                r.evidence and f"evidence: {r.evidence}",
                r.where and f"at {r.where}",
            ):
                if extra:
                    lines.append(f"        {extra}")
            if r.hint and r.status != "pass":
                lines.append(f"        hint: {r.hint}")
    if not report.results:
        lines.append("nothing in this change touches releases, environments or policies")
    lines.append("")
    lines.append(f"result: {report.status.upper()} ({VERDICTS[report.status]})")
    return "\n".join(lines) + "\n"


def render_json(report: CheckReport) -> str:
    """The report as JSON, with the overall status and exit code."""
    data = report.model_dump(mode="json")
    data["status"] = report.status
    data["exit_code"] = report.exit_code
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotations(report: CheckReport) -> str:
    """Workflow commands (`::error file=...,line=...::`) for every failure and warning."""
    lines = []
    for r in report.results:
        if r.status == "pass":
            continue
        level = "warning" if r.status == "warn" else "error"
        props = [f"title={_escape_property(f'{r.subject}: {r.gate}')}"]
        if r.file:
            props.insert(0, f"file={_escape_property(r.file)}")
            if r.line:
                props.insert(1, f"line={r.line}")
                if r.column:
                    props.insert(2, f"col={r.column}")
        text = r.message or f"expected {r.expected}, found {r.found}"
        if r.hint:
            text += f" (hint: {r.hint})"
        lines.append(f"::{level} {','.join(props)}::{_escape_data(text)}")
    return "\n".join(lines) + ("\n" if lines else "")


def _cell(value: object) -> str:
    text = html.escape(str(value or ""), quote=False)
    return text.replace("|", "\\|").replace("\n", "<br>")


def render_summary(report: CheckReport) -> str:
    """The Markdown job summary (for $GITHUB_STEP_SUMMARY)."""
    environment = jinja2.Environment(autoescape=False, keep_trailing_newline=True)  # noqa: S701 - Markdown
    environment.filters["cell"] = _cell
    source = files("pipeline").joinpath("templates/check-summary.md.j2").read_text("utf-8")
    template = environment.from_string(source)
    return template.render(report=report, icon=ICONS, verdict=VERDICTS, worst=worst)
