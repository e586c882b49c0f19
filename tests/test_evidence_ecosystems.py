"""Reports of the JavaScript and Go toolchains, read at the figures the tools themselves print.

Every report in tests/data/reports/{javascript,go}/ was written by the real tool, and each
run's own summary (c8's text report, node's spec reporter, Jest's and ESLint's console
output, `go tool cover -func`, gotestsum's DONE line) is vendored beside it: the expected
figures are read from those summaries, not from the reports we parse.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import Repo
from test_check import RELEASE, add_release, json_check

from pipeline.errors import InputError
from pipeline.evidence import CoverageReport, TestReport, parse_coverage, parse_junit, parse_sarif

DATA = Path(__file__).resolve().parent / "data" / "reports"
JS, GO = DATA / "javascript", DATA / "go"


def figure(path: Path, pattern: str) -> tuple[str, ...]:
    """The groups of `pattern` in a vendored summary; the summary must contain it."""
    match = re.search(pattern, path.read_text(encoding="utf-8"))
    assert match is not None, f"{pattern!r} not in {path.name}"
    return match.groups()


def counts(path: Path, pattern: str) -> tuple[int, ...]:
    return tuple(int(group) for group in figure(path, pattern))


# --- c8 (coverage of node's test runner) ------------------------------------------------

C8_LINES = counts(JS / "c8-summary.txt", r"Lines\s*:\s*[0-9.]+% \( (\d+)/(\d+) \)")
C8_BRANCHES = counts(JS / "c8-summary.txt", r"Branches\s*:\s*[0-9.]+% \( (\d+)/(\d+) \)")


@pytest.mark.parametrize(("name", "kind"), [("c8-cobertura.xml", "cobertura"), ("c8.lcov", "lcov")])
def test_c8_reports_give_c8s_own_totals(name: str, kind: str) -> None:
    report = parse_coverage((JS / name).read_bytes(), name)
    assert (report.lines_covered, report.lines_total) == C8_LINES == (23, 42)
    assert (report.branches_covered, report.branches_total) == C8_BRANCHES == (8, 10)
    assert report == CoverageReport(kind, 23, 42, 8, 10)
    assert report.percent == pytest.approx((23 + 8) / (42 + 10) * 100)


def test_c8_cobertura_declares_a_doctype_and_is_read() -> None:
    raw = (JS / "c8-cobertura.xml").read_bytes()
    assert raw.splitlines()[1] == (
        b'<!DOCTYPE coverage SYSTEM "http://cobertura.sourceforge.net/xml/coverage-04.dtd">'
    )
    assert parse_coverage(raw, "c8.xml").format == "cobertura"


@pytest.mark.parametrize(
    "subset",
    [
        b'[<!ENTITY lines "42">]',
        b"[\n<!ATTLIST coverage lines-valid CDATA '42'>\n]",
        b"[]",
    ],
)
def test_c8_cobertura_with_dtd_content_is_refused(subset: bytes) -> None:
    raw = (
        (JS / "c8-cobertura.xml")
        .read_bytes()
        .replace(b'coverage-04.dtd">', b'coverage-04.dtd" ' + subset + b">", 1)
    )
    with pytest.raises(InputError) as caught:
        parse_coverage(raw, "c8.xml")
    assert caught.value.message.startswith("XML with DTD content is refused")
    assert str(caught.value.location).startswith("c8.xml:2:")


# --- JUnit: node's test runner, Jest, gotestsum -------------------------------------------


def test_node_test_runner_junit_counts_cases_under_testsuites() -> None:
    raw = (JS / "node-junit.xml").read_bytes()
    assert b"<testsuites>\n\t<testcase " in raw  # top-level tests sit straight under the root
    text = (JS / "node-spec.txt").read_text(encoding="utf-8")
    summary = {
        key: int(value)
        for key, value in re.findall(r"^\N{INFORMATION SOURCE} (\w+) (\d+)", text, re.M)
    }
    tests, passed, failed = summary["tests"], summary["pass"], summary["fail"]
    skipped, todo = summary["skipped"], summary["todo"]
    report = parse_junit(raw, "node-junit.xml")
    assert (report.total, report.passed, report.failed) == (tests, passed, failed) == (7, 3, 2)
    assert report.skipped == skipped + todo == 2  # node writes a todo as <skipped type="todo">
    assert report.errors == 0
    assert report.failures == ("test.div divides", "test.lowers high values")
    assert report.pass_rate == pytest.approx(60.0)


def test_jest_junit_counts_and_its_todo_case() -> None:
    """Jest counts 3 passed and 1 todo; jest-junit writes the todo as a bare <testcase>.

    Nothing in the file tells that case from a passed one (jest-community/jest-junit#242),
    so it reads as passed: 4 of 5 executed.
    """
    failed, skipped, todo, passed, total = counts(
        JS / "jest-summary.txt",
        r"Tests:\s+(\d+) failed, (\d+) skipped, (\d+) todo, (\d+) passed, (\d+) total",
    )
    report = parse_junit((JS / "jest-junit.xml").read_bytes(), "jest-junit.xml")
    assert (report.total, report.failed, report.skipped) == (total, failed, skipped) == (6, 1, 1)
    assert report.passed == passed + todo == 4
    assert report.failures == ("div throws on zero.div throws on zero",)


def test_gotestsum_junit_counts_what_gotestsum_counts() -> None:
    total, skipped, failed = counts(
        GO / "gotestsum-summary.txt", r"DONE (\d+) tests, (\d+) skipped, (\d+) failure"
    )
    report = parse_junit((GO / "gotestsum-junit.xml").read_bytes(), "gotestsum-junit.xml")
    assert report == TestReport(
        total=total,
        passed=total - skipped - failed,
        failed=failed,
        errors=0,
        skipped=skipped,
        failures=("example.com/calcplug/calc.TestDiv",),
    )
    assert (total, skipped, failed) == (8, 1, 1)


# --- ESLint SARIF ---------------------------------------------------------------------------


def test_eslint_sarif_findings_match_eslints_own_count() -> None:
    problems, errors, warnings = counts(
        JS / "eslint-summary.txt", r"(\d+) problems \((\d+) errors?, (\d+) warnings?\)"
    )
    report = parse_sarif((JS / "eslint.sarif").read_bytes(), "eslint.sarif")
    assert report.tools == ("ESLint",)
    assert len(report.findings) == problems == 2  # the no-console suppressed in source is not one
    severities = [finding.severity for finding in report.findings]
    assert severities.count("high") == errors == 1  # level "error"
    assert severities.count("medium") == warnings == 1  # level "warning"
    [blocking] = report.at_or_above("high")
    assert (blocking.rule_id, blocking.source) == ("eqeqeq", "level")
    assert blocking.location == "file:///build/calcplug-js/src/format.js:5"


def test_eslint_suppressed_result_is_in_the_log() -> None:
    """The suppressed no-console result is there, with an in-source suppression."""
    data: dict[str, Any] = json.loads((JS / "eslint.sarif").read_bytes())
    results = data["runs"][0]["results"]
    suppressed = [r["ruleId"] for r in results if r["suppressions"]]
    assert suppressed == ["no-console"]


# --- go test -coverprofile ------------------------------------------------------------------


def go_total(name: str) -> float:
    (percent,) = figure(GO / name, r"total:\s+\(statements\)\s+([0-9.]+)%")
    return float(percent)


@pytest.mark.parametrize(
    ("name", "func"),
    [
        ("coverage.out", "coverage.func.txt"),
        ("coverage-coverpkg.out", "coverage-coverpkg.func.txt"),
    ],
)
def test_go_profile_gives_go_tool_covers_total(name: str, func: str) -> None:
    report = parse_coverage((GO / name).read_bytes(), name)
    assert report == CoverageReport("go-coverprofile", 10, 16, 0, 0)
    assert report.percent == pytest.approx(go_total(func), abs=0.05)
    assert go_total(func) == 62.5


def test_go_coverpkg_profile_repeats_blocks_that_count_once() -> None:
    """Each test binary reports every block; summed naively the figure would be wrong."""
    lines = (GO / "coverage-coverpkg.out").read_text().splitlines()[1:]
    statements = sum(int(line.split()[1]) for line in lines)
    covered = sum(int(line.split()[1]) for line in lines if int(line.split()[2]) > 0)
    assert (covered, statements) == (10, 32)  # naive: 31.25%
    assert len({line.rsplit(" ", 2)[0] for line in lines}) * 2 == len(lines)
    per_binary = figure(
        GO / "go-test-coverpkg.txt", r"coverage: ([0-9.]+)%[^\n]*\n[\s\S]*coverage: ([0-9.]+)%"
    )
    assert sorted(per_binary) == ["12.5", "50.0"]
    assert parse_coverage("\n".join(["mode: count", *lines]).encode(), "c.out").percent == 62.5


# --- through the gates ------------------------------------------------------------------------


def test_javascript_and_go_evidence_gate_like_pythons(run_cli: Any, release_repo: Repo) -> None:
    reports = {
        "coverage.out": GO / "coverage.out",
        "c8-cobertura.xml": JS / "c8-cobertura.xml",
        "gotestsum-junit.xml": GO / "gotestsum-junit.xml",
        "node-junit.xml": JS / "node-junit.xml",
        "eslint.sarif": JS / "eslint.sarif",
    }
    add_release(
        release_repo,
        evidence={
            "coverage": ["evidence/coverage.out", "evidence/c8-cobertura.xml"],
            "tests": ["evidence/gotestsum-junit.xml", "evidence/node-junit.xml"],
            "scans": ["evidence/eslint.sarif"],
        },
    )
    release_repo.commit(
        {f"{RELEASE}/evidence/{name}": path.read_bytes() for name, path in reports.items()}
    )
    data = json_check(run_cli, release_repo)
    found = {
        (r["gate"], r["evidence"]): (r["status"], r["found"])
        for r in data["results"]
        if r["gate"] in ("coverage", "tests", "findings")
    }
    evidence = f"{RELEASE}/evidence"
    assert found == {
        ("coverage", f"{evidence}/coverage.out"): ("fail", "62.50% (go-coverprofile)"),
        ("coverage", f"{evidence}/c8-cobertura.xml"): ("fail", "59.62% (cobertura)"),
        ("tests", f"{evidence}/gotestsum-junit.xml"): ("fail", "85.71% (6/7 passed, 1 skipped)"),
        ("tests", f"{evidence}/node-junit.xml"): ("fail", "60.00% (3/5 passed, 2 skipped)"),
        ("findings", f"{evidence}/eslint.sarif"): ("fail", "1 high, 1 medium"),
    }
    assert data["exit_code"] == 1


# --- damaged JavaScript and Go reports are input errors with a line --------------------------


def test_truncated_c8_lcov_names_its_last_record() -> None:
    raw = (JS / "c8.lcov").read_bytes()
    cut = raw[: raw.rindex(b"end_of_record")]
    with pytest.raises(InputError) as caught:
        parse_coverage(cut, "c8.lcov")
    assert (
        caught.value.message == "invalid LCOV: last record has no end_of_record (file truncated?)"
    )
    second_record = raw[: raw.rindex(b"SF:")].count(b"\n") + 1
    assert str(caught.value.location) == f"c8.lcov:{second_record}"


@pytest.mark.parametrize(
    ("name", "parse"),
    [
        ("node-junit.xml", parse_junit),
        ("jest-junit.xml", parse_junit),
        ("c8-cobertura.xml", parse_coverage),
    ],
)
def test_truncated_xml_reports_name_the_line(name: str, parse: Any) -> None:
    raw = (JS / name).read_bytes()
    cut = raw[: len(raw) // 2]
    with pytest.raises(InputError) as caught:
        parse(cut, name)
    assert caught.value.message.startswith("invalid XML: ")
    assert caught.value.location is not None
    assert caught.value.location.line == cut.count(b"\n") + 1


def test_doctype_after_the_root_element_is_not_a_bare_doctype_line() -> None:
    raw = (JS / "c8-cobertura.xml").read_bytes()
    doctype = raw.splitlines()[1]
    moved = raw.replace(doctype + b"\n", b"", 1).replace(b"<sources>", doctype + b"<sources>", 1)
    with pytest.raises(InputError) as caught:
        parse_coverage(moved, "c8.xml")
    assert caught.value.message.startswith("invalid XML: ")
