"""SARIF scan reports: real bandit and checkov output, the severity rules, and bad input."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.errors import InputError
from pipeline.evidence import SEVERITY_ORDER, Finding, ScanReport, parse_sarif
from pipeline.evidence.sarif import NO_SEVERITY_HINT

FIXTURES = Path(__file__).resolve().parent / "data" / "reports" / "python"
DATA = Path(__file__).resolve().parent / "data" / "reports"
BANDIT: dict[str, Any] = json.loads((FIXTURES / "failing" / "bandit.sarif").read_bytes())
SRC = "src/sampleplug/__init__.py"


def bandit() -> dict[str, Any]:
    """A fresh copy of the real failing bandit log, to derive variants from."""
    return copy.deepcopy(BANDIT)


def results(log: dict[str, Any]) -> list[dict[str, Any]]:
    return log["runs"][0]["results"]  # type: ignore[no-any-return]


def rules(log: dict[str, Any]) -> list[dict[str, Any]]:
    return log["runs"][0]["tool"]["driver"]["rules"]  # type: ignore[no-any-return]


def parse(log: object, path: str = "scan.sarif") -> ScanReport:
    return parse_sarif(json.dumps(log).encode(), path)


def error_of(log: object, path: str = "scan.sarif") -> InputError:
    with pytest.raises(InputError) as caught:
        parse(log, path)
    return caught.value


def severities(report: ScanReport) -> list[tuple[str, str, str]]:
    return [(f.rule_id, f.severity, f.source) for f in report.findings]


# --- real tool output ---------------------------------------------------------------------


def test_failing_bandit_fixture() -> None:
    report = parse_sarif((FIXTURES / "failing" / "bandit.sarif").read_bytes(), "bandit.sarif")
    assert report.tools == ("Bandit",)
    assert report.findings[1] == Finding(
        rule_id="B324",
        severity="high",
        message="Use of weak MD5 hash for security. Consider usedforsecurity=False",
        location=f"{SRC}:6",
        source="tool:issue_severity",
    )
    assert severities(report) == [
        ("B404", "low", "tool:issue_severity"),
        ("B324", "high", "tool:issue_severity"),
        ("B602", "high", "tool:issue_severity"),
    ]
    assert [f.rule_id for f in report.at_or_above("high")] == ["B324", "B602"]
    assert report.at_or_above("critical") == ()
    assert len(report.at_or_above("low")) == 3
    assert len(report.at_or_above("none")) == 3


def test_passing_bandit_fixture_has_no_findings() -> None:
    report = parse_sarif((FIXTURES / "passing" / "bandit.sarif").read_bytes(), "bandit.sarif")
    assert report == ScanReport(tools=("Bandit",), findings=())


def test_checkov_security_severity_level_and_suppression() -> None:
    report = parse_sarif((DATA / "checkov.sarif").read_bytes(), "checkov.sarif")
    assert report.tools == ("Checkov",)
    # The fourth result is skipped in source (#checkov:skip), so it is no finding.
    assert severities(report) == [
        ("CKV_AWS_24", "high", "level"),
        ("CKV2_PX_2", "medium", "security-severity"),
        ("CKV2_PX_1", "critical", "security-severity"),
    ]
    assert report.findings[2].location == "src/main.tf:1"
    assert [f.rule_id for f in report.at_or_above("high")] == ["CKV_AWS_24", "CKV2_PX_1"]


def test_severity_order() -> None:
    assert sorted(SEVERITY_ORDER, key=SEVERITY_ORDER.__getitem__) == [
        "none",
        "low",
        "medium",
        "high",
        "critical",
    ]


def test_unknown_threshold_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        ScanReport(tools=(), findings=()).at_or_above("severe")
    assert caught.value.message == "unknown severity 'severe'"
    assert caught.value.hint == "use one of none, low, medium, high, critical"


# --- the order in which severity is read ---------------------------------------------------


def test_level_is_used_without_tool_severity() -> None:
    log = bandit()
    for result in results(log):
        del result["properties"]
    assert severities(parse(log)) == [
        ("B404", "low", "level"),
        ("B324", "high", "level"),
        ("B602", "high", "level"),
    ]


def test_rule_default_level_is_used_last() -> None:
    log = bandit()
    for result in results(log):
        del result["properties"], result["level"]
    rules(log)[0]["defaultConfiguration"] = {"level": "warning"}
    rules(log)[1]["defaultConfiguration"] = {"level": "none"}
    rules(log)[2]["defaultConfiguration"] = {"level": "error"}
    assert severities(parse(log)) == [
        ("B404", "medium", "level"),
        ("B324", "none", "level"),
        ("B602", "high", "level"),
    ]


def test_no_severity_at_all_is_refused() -> None:
    log = bandit()
    del results(log)[2]["properties"], results(log)[2]["level"]
    error = error_of(log, "reports/bandit.sarif")
    assert error.diagnostics() == (
        "reports/bandit.sarif: runs[0].results[2] (rule B602) has no severity:"
        " no security-severity, no tool severity and no level\n"
        f"  hint: {NO_SEVERITY_HINT}"
    )


def test_security_severity_on_rule_beats_tool_severity_and_level() -> None:
    log = bandit()
    rules(log)[0]["properties"]["security-severity"] = "9.8"
    assert severities(parse(log))[0] == ("B404", "critical", "security-severity")


def test_security_severity_on_result_beats_rule() -> None:
    log = bandit()
    rules(log)[1]["properties"]["security-severity"] = "9.8"
    results(log)[1]["properties"]["security-severity"] = 5
    assert severities(parse(log))[1] == ("B324", "medium", "security-severity")


@pytest.mark.parametrize(
    ("score", "severity"),
    [
        ("10.0", "critical"),
        ("9.0", "critical"),
        ("8.9", "high"),
        (7, "high"),
        ("6.9", "medium"),
        (" 4.0 ", "medium"),
        ("3.9", "low"),
        (0.1, "low"),
        ("0", "none"),
        (0.0, "none"),
    ],
)
def test_cvss_score_reading(score: object, severity: str) -> None:
    log = bandit()
    results(log)[0]["properties"]["security-severity"] = score
    assert severities(parse(log))[0] == ("B404", severity, "security-severity")


@pytest.mark.parametrize("score", ["high", "10.1", -1, True, "nan", [7]])
def test_bad_cvss_score_is_refused(score: object) -> None:
    log = bandit()
    rules(log)[2]["properties"]["security-severity"] = score
    error = error_of(log)
    assert error.message == (
        f"runs[0].results[2]: security-severity {score!r} is not a CVSS score from 0.0 to 10.0"
    )
    assert str(error.location) == "scan.sarif"


@pytest.mark.parametrize(
    ("name", "value", "severity"),
    [
        ("severity", "ERROR", "high"),
        ("severity", "warning", "medium"),
        ("severity", "Critical", "critical"),
        ("severity", "info", "low"),
        ("problem.severity", "recommendation", "low"),
        ("problem.severity", "error", "high"),
        ("issue_severity", "MEDIUM", "medium"),
    ],
)
def test_tool_severity_words(name: str, value: str, severity: str) -> None:
    log = bandit()
    del results(log)[0]["properties"]
    rules(log)[0]["properties"][name] = value
    assert severities(parse(log))[0] == ("B404", severity, f"tool:{name}")


def test_unknown_tool_severity_word_falls_back_to_level() -> None:
    log = bandit()
    results(log)[1]["properties"]["issue_severity"] = "UNDEFINED"
    assert severities(parse(log))[1] == ("B324", "high", "level")


def test_bad_level_is_refused() -> None:
    log = bandit()
    del results(log)[0]["properties"]
    results(log)[0]["level"] = "fatal"
    error = error_of(log)
    assert error.message == (
        "runs[0].results[0] (rule B404) has level 'fatal', expected error, warning, note or none"
    )
    assert error.hint == NO_SEVERITY_HINT


# --- finding the rule -----------------------------------------------------------------------


def test_rule_found_by_rule_id_without_index() -> None:
    log = bandit()
    for result in results(log):
        del result["ruleIndex"], result["properties"]
    rules(log)[2]["properties"]["security-severity"] = "9.1"
    assert severities(parse(log))[2] == ("B602", "critical", "security-severity")


def test_rule_id_taken_from_indexed_rule_when_result_has_none() -> None:
    log = bandit()
    del results(log)[1]["ruleId"]
    assert severities(parse(log))[1][0] == "B324"


def test_rule_reference_object_without_rule_id() -> None:
    log = bandit()
    result = results(log)[1]
    del result["ruleId"], result["ruleIndex"]
    result["rule"] = {"id": "B324"}
    assert severities(parse(log))[1][0] == "B324"


def test_result_with_unknown_rule_uses_its_own_severity() -> None:
    log = bandit()
    result = results(log)[0]
    del result["ruleIndex"]
    result["ruleId"] = "B999"
    assert severities(parse(log))[0] == ("B999", "low", "tool:issue_severity")


def test_result_without_any_rule_id() -> None:
    log = bandit()
    result = results(log)[0]
    del result["ruleIndex"], result["ruleId"], result["properties"]
    assert severities(parse(log))[0] == ("", "low", "level")


def extension_log(tool_component: dict[str, Any]) -> dict[str, Any]:
    """The failing bandit log with B602 moved into a tool extension, as CodeQL packs do."""
    log = bandit()
    run = log["runs"][0]
    run["tool"]["extensions"] = [
        {"name": "other-pack", "rules": []},
        {
            "name": "py-pack",
            "guid": "1234",
            "rules": [{"id": "B602", "properties": {"security-severity": "9.9"}}],
        },
    ]
    result = results(log)[2]
    del result["ruleIndex"], result["properties"]
    result["rule"] = {"id": "B602", "index": 0, "toolComponent": tool_component}
    return log


@pytest.mark.parametrize("component", [{"index": 1}, {"name": "py-pack"}, {"guid": "1234"}])
def test_rule_found_in_tool_extension(component: dict[str, Any]) -> None:
    assert severities(parse(extension_log(component)))[2] == (
        "B602",
        "critical",
        "security-severity",
    )


def test_unknown_tool_component_name_falls_back_to_driver() -> None:
    log = extension_log({"name": "missing-pack"})
    # index 0 of the driver's rules is B404, which has no severity of its own
    assert severities(parse(log))[2] == ("B602", "high", "level")


def test_tool_component_index_out_of_range() -> None:
    error = error_of(extension_log({"index": 5}))
    assert error.message == "runs[0]: toolComponent index 5 does not exist"


def test_rule_index_out_of_range() -> None:
    log = bandit()
    results(log)[0]["ruleIndex"] = 3
    assert error_of(log).message == "runs[0]: ruleIndex 3 does not exist"


# --- which results are findings, and how they read -----------------------------------------


@pytest.mark.parametrize(
    ("suppressions", "counted"),
    [
        ([{"kind": "inSource"}], False),
        ([{"kind": "external", "status": "accepted"}], False),
        ([{"kind": "external", "status": "rejected"}], True),
        ([{"kind": "external", "status": "underReview"}], True),
        ([], True),
    ],
)
def test_suppressed_results(suppressions: list[dict[str, str]], counted: bool) -> None:
    log = bandit()
    results(log)[1]["suppressions"] = suppressions
    rule_ids = [f.rule_id for f in parse(log).findings]
    assert ("B324" in rule_ids) is counted


@pytest.mark.parametrize(
    ("kind", "counted"), [("pass", False), ("notApplicable", False), ("fail", True)]
)
def test_result_kind(kind: str, counted: bool) -> None:
    log = bandit()
    results(log)[1]["kind"] = kind
    assert ("B324" in [f.rule_id for f in parse(log).findings]) is counted


def test_message_from_rule_message_strings() -> None:
    log = bandit()
    results(log)[0]["message"] = {"id": "default", "arguments": ["subprocess", 2]}
    rules(log)[0]["messageStrings"] = {"default": {"text": "Import of {0} on line {1}."}}
    assert parse(log).findings[0].message == "Import of subprocess on line 2."


@pytest.mark.parametrize(
    "message", [None, {"id": "nope"}, {"id": "default", "arguments": "not-a-list"}]
)
def test_message_fallbacks(message: object) -> None:
    log = bandit()
    results(log)[0]["message"] = message
    rules(log)[0]["messageStrings"] = {"default": {"text": "fixed"}}
    expected = "fixed" if isinstance(message, dict) and message["id"] == "default" else ""
    assert parse(log).findings[0].message == expected


@pytest.mark.parametrize(
    ("locations", "expected"),
    [
        ([{"physicalLocation": {"artifactLocation": {"uri": "a.py"}}}], "a.py"),
        (
            [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": "a.py"},
                        "region": {"startLine": 3},
                    }
                }
            ],
            "a.py:3",
        ),
        ([{"logicalLocations": [{"name": "f"}]}], ""),
        ([{"physicalLocation": {"region": {"startLine": 3}}}], ""),
        ([], ""),
        (None, ""),
    ],
)
def test_finding_location(locations: object, expected: str) -> None:
    log = bandit()
    results(log)[0]["locations"] = locations
    assert parse(log).findings[0].location == expected


def test_tools_of_several_runs() -> None:
    log = bandit()
    checkov = json.loads((DATA / "checkov.sarif").read_bytes())
    log["runs"] += [*checkov["runs"], copy.deepcopy(log["runs"][0])]
    report = parse(log)
    assert report.tools == ("Bandit", "Checkov")
    assert len(report.findings) == 9


# --- bad input -------------------------------------------------------------------------------


def test_coverage_json_given_as_sarif() -> None:
    raw = (FIXTURES / "failing" / "coverage.json").read_bytes()
    with pytest.raises(InputError) as caught:
        parse_sarif(raw, "coverage.json")
    assert caught.value.message == "not a SARIF log: expected an object with 'version' and 'runs'"
    assert str(caught.value.location) == "coverage.json"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": "2.0.0"}, "unsupported SARIF version '2.0.0', expected '2.1.0'"),
        ({"version": None}, "unsupported SARIF version None, expected '2.1.0'"),
        ({"runs": {}}, "runs is not a list"),
        ({"runs": [7]}, "runs[0] is not an object"),
        ({"runs": [{"results": []}]}, "runs[0].tool is not an object"),
        ({"runs": [{"tool": {}, "results": []}]}, "runs[0].tool.driver is not an object"),
        (
            {"runs": [{"tool": {"driver": {}}, "results": []}]},
            "runs[0].tool.driver.name is missing",
        ),
        (
            {"runs": [{"tool": {"driver": {"name": "T"}, "extensions": {}}, "results": []}]},
            "runs[0].tool.extensions is not a list",
        ),
        (
            {"runs": [{"tool": {"driver": {"name": "T"}}, "results": {}}]},
            "runs[0].results is not a list",
        ),
        (
            {"runs": [{"tool": {"driver": {"name": "T"}}, "results": ["x"]}]},
            "runs[0].results[0] is not an object",
        ),
    ],
)
def test_malformed_log(change: dict[str, Any], message: str) -> None:
    log = bandit()
    log.update(change)
    assert error_of(log).message == message


@pytest.mark.parametrize("results_value", [None, "absent"])
def test_run_without_results_is_refused(results_value: object) -> None:
    log = bandit()
    if results_value == "absent":
        del log["runs"][0]["results"]
    else:
        log["runs"][0]["results"] = results_value
    error = error_of(log)
    assert error.message == "runs[0] has no results: Bandit did not report what it found"
    assert error.hint == 'a scan that found nothing writes "results": []'


def test_unsuccessful_run_is_refused() -> None:
    log = bandit()
    log["runs"][0]["invocations"][0]["executionSuccessful"] = False
    error = error_of(log)
    assert error.message == "runs[0]: Bandit reports that it did not run successfully"


def test_malformed_json_names_line_and_column() -> None:
    raw = (FIXTURES / "failing" / "bandit.sarif").read_bytes().replace(b'"B404",', b'"B404"', 1)
    with pytest.raises(InputError) as caught:
        parse_sarif(raw, "bandit.sarif")
    assert caught.value.message == "invalid JSON: Expecting ',' delimiter"
    assert str(caught.value.location) == "bandit.sarif:11:15"


def test_empty_sarif() -> None:
    with pytest.raises(InputError) as caught:
        parse_sarif(b"\n", "bandit.sarif")
    assert str(caught.value.location) == "bandit.sarif:1:1"
