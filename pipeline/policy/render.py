"""Render a check report for people (text), machines (JSON) and GitHub Actions."""

from __future__ import annotations

import html
import json
from importlib.resources import files

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


def render_text(report: CheckReport, *, verbose: bool = False) -> str:
    """A readable report: a line per passing subject, details for the others.

    With `verbose`, every gate of every subject is listed.
    """
    lines = [f"powerx check {_range(report)}: {report.changed_files} {_noun(report)}", ""]
    for subject, results in report.subjects().items():
        mark = _TEXT_MARKS[worst(results)]
        if mark == "PASS" and not verbose:
            gates = ", ".join(dict.fromkeys(r.gate for r in results))
            lines.append(f"{mark:5} {subject} ({gates})")
            continue
        lines.append(f"{mark:5} {subject}")
        for r in results:
            lines.append(f"  {_TEXT_MARKS[r.status]:5} {r.gate:14} {_detail(r)}".rstrip())
            if r.status == "pass":
                continue
            extras = (
                r.message,
                r.evidence and f"evidence: {r.evidence}",
                r.where and f"at {r.where}",
            )
            lines.extend(f"        {extra}" for extra in extras if extra)
            if r.hint:
                lines.append(f"        hint: {r.hint}")
        lines.append("")
    if not report.results:
        lines.append("nothing in this change touches releases, environments or policies")
    if lines[-1]:
        lines.append("")
    warnings = sum(r.status == "warn" for r in report.results)
    note = f"; {warnings} warning(s)" if warnings else ""
    lines.append(f"result: {report.status.upper()} ({VERDICTS[report.status]}{note})")
    return "\n".join(lines) + "\n"


def _range(report: CheckReport) -> str:
    if report.audit:
        return f"--all at {report.head[:12]}"
    return f"{report.base[:12]}..{report.head[:12]}"


def _noun(report: CheckReport) -> str:
    return "file(s) checked" if report.audit else "changed file(s)"


def _detail(result: GateResult) -> str:
    if result.expected and result.found:
        return f"expected {result.expected}, found {result.found}"
    return result.found or result.expected


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
    import jinja2  # only GitHub runs need it: keep it out of start-up

    environment = jinja2.Environment(autoescape=False, keep_trailing_newline=True)  # noqa: S701 - Markdown
    environment.filters["cell"] = _cell
    source = files("pipeline").joinpath("templates/check-summary.md.j2").read_text("utf-8")
    template = environment.from_string(source)
    return template.render(report=report, icon=ICONS, verdict=VERDICTS, worst=worst)
