"""SARIF 2.1.0 scan reports, with one severity per finding.

A result's severity comes from the first of these that is present:

1. `properties["security-severity"]` (a CVSS score) on the result, else on its rule,
   read as GitHub code scanning does: >= 9.0 critical, >= 7.0 high, >= 4.0 medium,
   > 0 low, 0 none;
2. the tool's own severity property on the result, else on its rule: bandit's
   `issue_severity`, or `severity`, or CodeQL's `problem.severity`
   (see `TOOL_SEVERITIES` for how their words map; unknown words are skipped);
3. the result's `level`, else its rule's `defaultConfiguration.level`
   (error -> high, warning -> medium, note -> low, none -> none).

A result with none of them is refused rather than guessed. Results that are not
failures (`kind` other than "fail") and results suppressed in the log (a suppression
whose `status` is absent or "accepted", e.g. a `#checkov:skip` comment) are not findings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, cast

from pipeline.errors import InputError, Location
from pipeline.evidence._common import load_json, read_text

Severity = Literal["critical", "high", "medium", "low", "none"]

SEVERITY_ORDER: dict[str, int] = {"none": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}

TOOL_SEVERITY_PROPERTIES = ("issue_severity", "severity", "problem.severity")
"""Tool-specific severity properties, in the order they are looked up."""

TOOL_SEVERITIES: dict[str, Severity] = {
    "critical": "critical",
    "blocker": "critical",
    "high": "high",
    "error": "high",
    "major": "high",
    "medium": "medium",
    "moderate": "medium",
    "warning": "medium",
    "low": "low",
    "minor": "low",
    "recommendation": "low",
    "note": "low",
    "info": "low",
    "informational": "low",
    "none": "none",
}
"""Words tools use for severity (matched case-insensitively), and our reading of them."""

LEVELS: dict[str, Severity] = {"error": "high", "warning": "medium", "note": "low", "none": "none"}
"""SARIF `level` values and the severity each stands for."""

NO_SEVERITY_HINT = "add properties.security-severity to the rule or set level"
_SARIF_HINT = "name the file written by the scanner's SARIF output (e.g. bandit -f sarif)"


@dataclass(frozen=True)
class Finding:
    """One result of a scan, with the severity we read for it and where that came from."""

    rule_id: str
    severity: Severity
    message: str
    location: str
    source: str


@dataclass(frozen=True)
class ScanReport:
    """The tools that ran and everything they found."""

    tools: tuple[str, ...]
    findings: tuple[Finding, ...]

    def at_or_above(self, severity: str) -> tuple[Finding, ...]:
        """Findings of `severity` or worse."""
        if severity not in SEVERITY_ORDER:
            raise InputError(
                f"unknown severity {severity!r}",
                hint="use one of " + ", ".join(SEVERITY_ORDER),
            )
        floor = SEVERITY_ORDER[severity]
        return tuple(f for f in self.findings if SEVERITY_ORDER[f.severity] >= floor)


def parse_sarif(raw: bytes, path: str) -> ScanReport:
    """Read a SARIF 2.1.0 log and give every result a severity."""
    data = load_json(read_text(raw, path), path)
    if not isinstance(data, dict) or "runs" not in data:
        raise _error(path, "not a SARIF log: expected an object with 'version' and 'runs'")
    if data.get("version") != "2.1.0":
        raise _error(path, f"unsupported SARIF version {data.get('version')!r}, expected '2.1.0'")
    runs = data["runs"]
    if not isinstance(runs, list):
        raise _error(path, "runs is not a list")
    tools: list[str] = []
    findings: list[Finding] = []
    for index, run in enumerate(runs):
        name, run_findings = _read_run(run, f"runs[{index}]", path)
        if name not in tools:
            tools.append(name)
        findings.extend(run_findings)
    return ScanReport(tools=tuple(tools), findings=tuple(findings))


def _error(path: str, message: str, hint: str = _SARIF_HINT) -> InputError:
    return InputError(message, location=Location(path), hint=hint)


def _object(value: Any, where: str, path: str) -> dict[str, Any]:
    """`value` if it is a JSON object, else an error naming `where`."""
    if not isinstance(value, dict):
        raise _error(path, f"{where} is not an object")
    return cast(dict[str, Any], value)


def _list(value: Any, where: str, path: str) -> list[Any]:
    """`value` if it is a JSON array (absent counts as empty), else an error."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _error(path, f"{where} is not a list")
    return value


class _Run:
    """One run's tool components, for looking up the rule of a result."""

    def __init__(self, run: dict[str, Any], where: str, path: str) -> None:
        tool = _object(run.get("tool"), f"{where}.tool", path)
        self.driver = _object(tool.get("driver"), f"{where}.tool.driver", path)
        self.extensions = [
            _object(ext, f"{where}.tool.extensions[{i}]", path)
            for i, ext in enumerate(_list(tool.get("extensions"), f"{where}.tool.extensions", path))
        ]
        self.where = where
        self.path = path

    def component(self, reference: dict[str, Any]) -> dict[str, Any]:
        """The tool component a `rule.toolComponent` reference points to (default: driver)."""
        target = reference.get("toolComponent")
        if not isinstance(target, dict):
            return self.driver
        index = target.get("index")
        if isinstance(index, int) and not isinstance(index, bool):
            if 0 <= index < len(self.extensions):
                return self.extensions[index]
            raise _error(self.path, f"{self.where}: toolComponent index {index} does not exist")
        for ext in self.extensions:
            if any(k in target and target[k] == ext.get(k) for k in ("name", "guid")):
                return ext
        return self.driver

    def rule(self, result: dict[str, Any], rule_id: str | None) -> dict[str, Any]:
        """The rule (reportingDescriptor) of a result, or {} when the log has none."""
        reference = result.get("rule")
        reference = reference if isinstance(reference, dict) else {}
        rules = _list(self.component(reference).get("rules"), f"{self.where} rules", self.path)
        index = result.get("ruleIndex", reference.get("index"))
        if isinstance(index, int) and not isinstance(index, bool) and index >= 0:
            if index >= len(rules):
                raise _error(self.path, f"{self.where}: ruleIndex {index} does not exist")
            return _object(rules[index], f"{self.where} rule {index}", self.path)
        for rule in rules:
            if isinstance(rule, dict) and rule_id is not None and rule.get("id") == rule_id:
                return cast(dict[str, Any], rule)
        return {}


def _read_run(run: Any, where: str, path: str) -> tuple[str, list[Finding]]:
    """The tool name and the findings of one run."""
    run = _object(run, where, path)
    tools = _Run(run, where, path)
    name = tools.driver.get("name")
    if not isinstance(name, str) or not name:
        raise _error(path, f"{where}.tool.driver.name is missing")
    for invocation in _list(run.get("invocations"), f"{where}.invocations", path):
        if isinstance(invocation, dict) and invocation.get("executionSuccessful") is False:
            raise _error(
                path,
                f"{where}: {name} reports that it did not run successfully",
                hint="fix the scan so that it completes; its results cannot be trusted",
            )
    if "results" not in run or run["results"] is None:
        raise _error(
            path,
            f"{where} has no results: {name} did not report what it found",
            hint='a scan that found nothing writes "results": []',
        )
    findings = []
    for index, result in enumerate(_list(run["results"], f"{where}.results", path)):
        result_where = f"{where}.results[{index}]"
        finding = _read_result(_object(result, result_where, path), tools, result_where)
        if finding is not None:
            findings.append(finding)
    return name, findings


def _read_result(result: dict[str, Any], run: _Run, where: str) -> Finding | None:
    """A finding for one result, or None when the result is not a live failure."""
    if result.get("kind", "fail") != "fail" or _suppressed(result):
        return None
    reference = result.get("rule")
    ref_id = reference.get("id") if isinstance(reference, dict) else None
    rule_id = result.get("ruleId", ref_id)
    rule_id = rule_id if isinstance(rule_id, str) else None
    rule = run.rule(result, rule_id)
    if rule_id is None and isinstance(rule.get("id"), str):
        rule_id = rule["id"]
    severity, source = _severity(result, rule, where, rule_id, run.path)
    return Finding(
        rule_id=rule_id or "",
        severity=severity,
        message=_message(result, rule),
        location=_location(result),
        source=source,
    )


def _suppressed(result: dict[str, Any]) -> bool:
    """Whether any suppression of the result is in force (status absent or accepted)."""
    suppressions = result.get("suppressions")
    if not isinstance(suppressions, list):
        return False
    return any(
        isinstance(item, dict) and item.get("status", "accepted") == "accepted"
        for item in suppressions
    )


def _properties(holder: dict[str, Any]) -> dict[str, Any]:
    properties = holder.get("properties")
    return cast(dict[str, Any], properties) if isinstance(properties, dict) else {}


def _severity(
    result: dict[str, Any], rule: dict[str, Any], where: str, rule_id: str | None, path: str
) -> tuple[Severity, str]:
    """The severity of a result and where it was read from."""
    for holder in (result, rule):
        score = _properties(holder).get("security-severity")
        if score is not None:
            return _from_score(score, where, path), "security-severity"
    for holder in (result, rule):
        properties = _properties(holder)
        for name in TOOL_SEVERITY_PROPERTIES:
            value = properties.get(name)
            if isinstance(value, str) and value.strip().lower() in TOOL_SEVERITIES:
                return TOOL_SEVERITIES[value.strip().lower()], f"tool:{name}"
    configuration = rule.get("defaultConfiguration")
    default = configuration.get("level") if isinstance(configuration, dict) else None
    level = result.get("level", default)
    if level is None:
        raise InputError(
            f"{where} (rule {rule_id or '?'}) has no severity:"
            " no security-severity, no tool severity and no level",
            location=Location(path),
            hint=NO_SEVERITY_HINT,
        )
    if level not in LEVELS:
        raise _error(
            path,
            f"{where} (rule {rule_id or '?'}) has level {level!r},"
            " expected error, warning, note or none",
            hint=NO_SEVERITY_HINT,
        )
    return LEVELS[level], "level"


def _from_score(score: Any, where: str, path: str) -> Severity:
    """GitHub code scanning's reading of a CVSS score."""
    value: float | None = None
    if isinstance(score, int | float) and not isinstance(score, bool):
        value = float(score)
    elif isinstance(score, str):
        try:
            value = float(score.strip())
        except ValueError:
            value = None
    if value is None or not math.isfinite(value) or not 0.0 <= value <= 10.0:
        raise _error(
            path,
            f"{where}: security-severity {score!r} is not a CVSS score from 0.0 to 10.0",
            hint='set properties.security-severity to a score such as "7.5"',
        )
    if value >= 9.0:
        return "critical"
    if value >= 7.0:
        return "high"
    if value >= 4.0:
        return "medium"
    return "low" if value > 0 else "none"


def _message(result: dict[str, Any], rule: dict[str, Any]) -> str:
    """The result's message text, or the rule's message string it refers to."""
    message = result.get("message")
    if not isinstance(message, dict):
        return ""
    text = message.get("text")
    if isinstance(text, str):
        return text
    strings = rule.get("messageStrings")
    entry = strings.get(message.get("id")) if isinstance(strings, dict) else None
    template = entry.get("text") if isinstance(entry, dict) else None
    if not isinstance(template, str):
        return ""
    arguments = message.get("arguments")
    for index, argument in enumerate(arguments if isinstance(arguments, list) else []):
        template = template.replace(f"{{{index}}}", str(argument))
    return template


def _location(result: dict[str, Any]) -> str:
    """`uri:line` of the first location (`uri` alone when no line is known), or ""."""
    locations = result.get("locations")
    if not isinstance(locations, list) or not locations or not isinstance(locations[0], dict):
        return ""
    physical = locations[0].get("physicalLocation")
    if not isinstance(physical, dict):
        return ""
    artifact = physical.get("artifactLocation")
    uri = artifact.get("uri") if isinstance(artifact, dict) else None
    if not isinstance(uri, str):
        return ""
    region = physical.get("region")
    line = region.get("startLine") if isinstance(region, dict) else None
    return f"{uri}:{line}" if isinstance(line, int) and not isinstance(line, bool) else uri
