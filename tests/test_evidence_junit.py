"""JUnit XML reports: real pytest output, suite layouts, and every bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import InputError
from pipeline.evidence import TestReport, parse_junit

FIXTURES = Path(__file__).resolve().parent / "data" / "reports" / "python"
DATA = Path(__file__).resolve().parent / "data" / "reports"
MIXED = (DATA / "junit-mixed.xml").read_text()


def error_of(raw: bytes, path: str = "junit.xml") -> InputError:
    with pytest.raises(InputError) as caught:
        parse_junit(raw, path)
    return caught.value


def test_failing_fixture_has_two_passing_tests() -> None:
    report = parse_junit((FIXTURES / "failing" / "junit.xml").read_bytes(), "junit.xml")
    assert report == TestReport(total=2, passed=2, failed=0, errors=0, skipped=0)
    assert report.executed == 2
    assert report.pass_rate == 100.0


def test_passing_fixture_has_three_passing_tests() -> None:
    report = parse_junit((FIXTURES / "passing" / "junit.xml").read_bytes(), "junit.xml")
    assert (report.total, report.passed, report.failures) == (3, 3, ())


def test_real_run_with_failure_error_and_skip() -> None:
    report = parse_junit(MIXED.encode(), "junit-mixed.xml")
    assert report == TestReport(
        total=4,
        passed=1,
        failed=1,
        errors=1,
        skipped=1,
        failures=("tests.test_calc.test_div", "tests.test_calc.test_needs_fixture"),
    )
    assert report.executed == 3
    assert report.pass_rate == pytest.approx(33.333, abs=0.001)


def test_single_testsuite_root() -> None:
    start = MIXED.index("<testsuite ")
    end = MIXED.index("</testsuites>")
    report = parse_junit(MIXED[start:end].encode(), "suite.xml")
    assert (report.total, report.failed, report.errors, report.skipped) == (4, 1, 1, 1)


def test_nested_suites_are_counted() -> None:
    raw = b"""<testsuites>
      <testsuite name="outer">
        <testcase classname="a" name="one"/>
        <testsuite name="inner">
          <properties><property name="x" value="y"/></properties>
          <testcase classname="b" name="two"><failure message="boom"/></testcase>
          <testcase classname="b" name="three"><skipped/></testcase>
        </testsuite>
        <system-out>noise</system-out>
      </testsuite>
    </testsuites>"""
    report = parse_junit(raw, "nested.xml")
    assert report == TestReport(4 - 1, 1, 1, 0, 1, ("b.two",))


def test_failure_and_error_on_one_case_count_once_as_failed() -> None:
    raw = b'<testsuite><testcase name="t"><failure/><error/></testcase></testsuite>'
    report = parse_junit(raw, "j.xml")
    assert (report.total, report.failed, report.errors, report.failures) == (1, 1, 0, ("t",))


def test_no_tests_has_no_pass_rate() -> None:
    report = parse_junit(b'<testsuites name="pytest tests"/>', "j.xml")
    assert report == TestReport(0, 0, 0, 0, 0)
    assert report.pass_rate is None


def test_all_skipped_has_no_pass_rate() -> None:
    raw = b'<testsuite><testcase name="t"><skipped/></testcase></testsuite>'
    report = parse_junit(raw, "j.xml")
    assert (report.executed, report.pass_rate) == (0, None)


def test_failure_names_stop_at_twenty_but_counts_do_not() -> None:
    cases = "".join(f'<testcase classname="c" name="t{i}"><error/></testcase>' for i in range(25))
    report = parse_junit(f"<testsuite>{cases}</testsuite>".encode(), "j.xml")
    assert report.errors == 25
    assert report.failures == tuple(f"c.t{i}" for i in range(20))


def test_testcase_directly_under_testsuites_counts() -> None:
    """node's test runner writes top-level tests straight under <testsuites>."""
    raw = (
        b'<testsuites><testcase name="top"><failure/></testcase>'
        b'<testsuite><testcase name="t"/></testsuite></testsuites>'
    )
    report = parse_junit(raw, "j.xml")
    assert (report.total, report.passed, report.failed) == (2, 1, 1)
    assert report.failures == ("top",)


def test_testcase_outside_a_suite_is_ignored() -> None:
    raw = (
        b'<testsuites><testsuite><properties><testcase name="stray"/></properties>'
        b'<testcase name="t"/></testsuite></testsuites>'
    )
    assert parse_junit(raw, "j.xml").total == 1


# --- bad input ----------------------------------------------------------------------------


def test_testcase_without_name_names_its_position() -> None:
    raw = (
        b'<testsuites>\n  <testsuite>\n    <testcase classname="c"/>\n  </testsuite>\n</testsuites>'
    )
    error = error_of(raw, "reports/junit.xml")
    assert error.diagnostics() == (
        "reports/junit.xml:3:5: <testcase> has no name attribute\n"
        "  hint: every <testcase> needs a name; produce the report again with the test runner"
    )


def test_coverage_xml_given_as_junit() -> None:
    error = error_of((FIXTURES / "failing" / "coverage.xml").read_bytes(), "coverage.xml")
    assert error.message == (
        "not a JUnit XML report: root element is <coverage>, expected <testsuites> or <testsuite>"
    )
    assert str(error.location) == "coverage.xml:2:1"


def test_json_given_as_junit() -> None:
    error = error_of((FIXTURES / "failing" / "coverage.json").read_bytes(), "coverage.json")
    assert error.message == "not a JUnit XML report: the file is not XML"
    assert str(error.location) == "coverage.json:1"


def test_truncated_report_names_expat_position() -> None:
    error = error_of(MIXED[:400].encode(), "junit.xml")
    assert error.message == "invalid XML: unclosed token"
    assert str(error.location) == "junit.xml:1:357"


def test_doctype_is_refused() -> None:
    raw = (
        b'<?xml version="1.0"?>\n'
        b'<!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        b'<testsuite><testcase name="&x;"/></testsuite>'
    )
    error = error_of(raw, "junit.xml")
    assert error.message.startswith("XML with DTD content is refused")
    assert str(error.location).startswith("junit.xml:2:")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "report is empty"),
        (b'<testsuite name="\xe9"/>', "not valid UTF-8 (byte 0xe9 at offset 17)"),
    ],
)
def test_empty_and_non_utf8(raw: bytes, message: str) -> None:
    assert error_of(raw).message == message
