"""Coverage reports: real coverage.py output in all three formats, and every bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.errors import InputError
from pipeline.evidence import MAX_REPORT_BYTES, CoverageReport, parse_coverage
from pipeline.evidence.coverage import NOT_COVERAGE

FIXTURES = Path(__file__).resolve().parent / "data" / "reports" / "python"
DATA = Path(__file__).resolve().parent / "data" / "reports"
FORMATS = {
    "coverage.json": "coverage.py-json",
    "coverage.xml": "cobertura",
    "coverage.lcov": "lcov",
}


def error_of(raw: bytes, path: str = "cov.txt") -> InputError:
    with pytest.raises(InputError) as caught:
        parse_coverage(raw, path)
    return caught.value


@pytest.mark.parametrize("name", FORMATS)
def test_failing_fixture_is_71_percent_in_every_format(name: str) -> None:
    report = parse_coverage((FIXTURES / "failing" / name).read_bytes(), name)
    assert report == CoverageReport(FORMATS[name], 11, 15, 4, 6)
    assert report.percent == pytest.approx(71.43, abs=0.01)


@pytest.mark.parametrize("name", FORMATS)
def test_passing_fixture_is_100_percent_in_every_format(name: str) -> None:
    report = parse_coverage((FIXTURES / "passing" / name).read_bytes(), name)
    assert report == CoverageReport(FORMATS[name], 9, 9, 2, 2)
    assert report.percent == 100.0


@pytest.mark.parametrize("name", ["coverage-nobranch.json", "coverage-nobranch.xml"])
def test_report_without_branch_coverage_counts_lines_only(name: str) -> None:
    report = parse_coverage((DATA / name).read_bytes(), name)
    assert (report.lines_covered, report.lines_total) == (6, 8)
    assert (report.branches_covered, report.branches_total) == (0, 0)
    assert report.percent == 75.0


def test_lcov_without_branch_records() -> None:
    report = parse_coverage((DATA / "coverage-nobranch.lcov").read_bytes(), "x.lcov")
    assert report == CoverageReport("lcov", 6, 8, 0, 0)


def test_format_is_detected_from_content_not_name() -> None:
    raw = (FIXTURES / "failing" / "coverage.xml").read_bytes()
    assert parse_coverage(raw, "coverage.json").format == "cobertura"
    raw = (FIXTURES / "failing" / "coverage.lcov").read_bytes()
    assert parse_coverage(raw, "coverage.xml").format == "lcov"


def test_utf8_bom_is_accepted() -> None:
    raw = b"\xef\xbb\xbf" + (FIXTURES / "passing" / "coverage.json").read_bytes()
    assert parse_coverage(raw, "c.json").percent == 100.0


# --- not a coverage report ------------------------------------------------------------


def test_junit_given_as_coverage_is_refused() -> None:
    error = error_of((FIXTURES / "failing" / "junit.xml").read_bytes(), "reports/junit.xml")
    assert error.message == NOT_COVERAGE
    assert str(error.location) == "reports/junit.xml:1"
    assert "coverage json" in (error.hint or "")


def test_sarif_given_as_coverage_is_refused() -> None:
    error = error_of((FIXTURES / "failing" / "bandit.sarif").read_bytes(), "bandit.sarif")
    assert error.diagnostics().startswith(f"bandit.sarif:1: {NOT_COVERAGE}")


def test_json_array_is_not_coverage() -> None:
    assert error_of(b"[1, 2]").message == NOT_COVERAGE


def test_plain_text_is_not_coverage_and_names_first_line() -> None:
    error = error_of(b"\n\nhello world\n", "notes.txt")
    assert error.message == NOT_COVERAGE
    assert str(error.location) == "notes.txt:3"


# --- size, encoding, emptiness, JSON syntax --------------------------------------------


@pytest.mark.parametrize("raw", [b"", b"  \n\t\n"])
def test_empty_report(raw: bytes) -> None:
    error = error_of(raw, "empty.json")
    assert error.diagnostics() == (
        "empty.json:1:1: report is empty\n"
        "  hint: the tool wrote no report: check that it ran to the end"
    )


def test_non_utf8_names_line_and_column() -> None:
    error = error_of(b"SF:a.py\nDA:1,\xff\n", "c.lcov")
    assert error.message == "not valid UTF-8 (byte 0xff at offset 13)"
    assert str(error.location) == "c.lcov:2:6"


def test_oversized_report() -> None:
    error = error_of(b" " * (MAX_REPORT_BYTES + 1), "huge.lcov")
    assert error.message == "report is 67,108,865 bytes, over the limit of 67,108,864"
    assert str(error.location) == "huge.lcov"


def test_malformed_json_names_line_and_column() -> None:
    error = error_of(b'{"meta": {"format": 3},\n "totals": {"covered_lines": }}', "c.json")
    assert error.message == "invalid JSON: Expecting value"
    assert str(error.location) == "c.json:2:30"


def test_json_nan_is_refused() -> None:
    error = error_of(b'{"meta": {"format": 3}, "totals": {"covered_lines": NaN}}', "c.json")
    assert error.message == "invalid JSON: NaN is not a JSON number"


def test_json_integer_with_too_many_digits_is_refused() -> None:
    error = error_of(b'{"a": ' + b"1" * 5000 + b"}", "c.json")
    assert error.message.startswith("invalid JSON: Exceeds the limit")


def test_json_nested_too_deeply_is_refused() -> None:
    error = error_of(b"[" * 200_000 + b"]" * 200_000, "c.json")
    assert error.message == "invalid JSON: nested too deeply"


# --- coverage.py JSON -------------------------------------------------------------------


def coverage_json(**totals: object) -> bytes:
    real = json.loads((FIXTURES / "failing" / "coverage.json").read_bytes())
    real["totals"].update(totals)
    return json.dumps(real).encode()


@pytest.mark.parametrize(
    ("value", "shown"), [(-1, "-1"), ("11", "'11'"), (11.0, "11.0"), (True, "True")]
)
def test_json_count_must_be_a_whole_number(value: object, shown: str) -> None:
    error = error_of(coverage_json(covered_lines=value), "c.json")
    assert error.message == f"totals.covered_lines is {shown}, expected a whole number of 0 or more"
    assert str(error.location) == "c.json"


def test_json_missing_count() -> None:
    real = json.loads((FIXTURES / "failing" / "coverage.json").read_bytes())
    del real["totals"]["num_statements"]
    error = error_of(json.dumps(real).encode(), "c.json")
    assert error.message == "totals.num_statements is missing"


def test_json_totals_must_be_an_object() -> None:
    error = error_of(b'{"meta": {"format": 3}, "totals": [1]}', "c.json")
    assert error.message == "totals is not an object"


def test_json_more_covered_than_measured() -> None:
    error = error_of(coverage_json(covered_branches=7), "c.json")
    assert error.message == "branches: 7 covered out of 6, more than there are"


def test_report_measuring_nothing_is_refused() -> None:
    raw = coverage_json(covered_lines=0, num_statements=0, covered_branches=0, num_branches=0)
    error = error_of(raw, "c.json")
    assert error.message == "report measures no code (0 lines and 0 branches)"
    assert "--source" in (error.hint or "")


# --- Cobertura XML ----------------------------------------------------------------------


def cobertura(old: str, new: str) -> bytes:
    text = (FIXTURES / "failing" / "coverage.xml").read_text()
    assert old in text
    return text.replace(old, new).encode()


def test_cobertura_missing_attribute_names_root_line() -> None:
    error = error_of(cobertura('branches-valid="6" ', ""), "coverage.xml")
    assert error.message == "<coverage> has no branches-valid attribute"
    assert str(error.location) == "coverage.xml:2:1"
    assert "lines-valid, lines-covered, branches-valid, branches-covered" in (error.hint or "")


@pytest.mark.parametrize("value", ["-4", "abc", "4.5", ""])
def test_cobertura_count_must_be_a_whole_number(value: str) -> None:
    error = error_of(cobertura('branches-covered="4"', f'branches-covered="{value}"'), "c.xml")
    assert error.message == f"branches-covered is '{value}', expected a whole number of 0 or more"


def test_cobertura_more_covered_than_measured() -> None:
    error = error_of(cobertura('lines-covered="11"', 'lines-covered="16"'), "c.xml")
    assert error.message == "lines: 16 covered out of 15, more than there are"


def test_malformed_xml_names_expat_position() -> None:
    error = error_of(cobertura("</packages>", "</package>"), "c.xml")
    assert error.message == "invalid XML: mismatched tag"
    assert str(error.location) == "c.xml:42:4"


def test_truncated_xml() -> None:
    raw = (FIXTURES / "failing" / "coverage.xml").read_bytes()[:300]
    error = error_of(raw, "c.xml")
    assert error.message.startswith("invalid XML: ")
    assert error.location is not None
    assert error.location.line == 4


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
]>
<coverage lines-valid="&lol2;" lines-covered="1" branches-valid="0" branches-covered="0"/>
"""

INTERNAL_SUBSET = b"""<?xml version="1.0"?>
<!DOCTYPE coverage SYSTEM "coverage-04.dtd" [
 <!ATTLIST coverage branches-valid CDATA "0">
]>
<coverage lines-valid="1" lines-covered="1" branches-covered="0"/>
"""


@pytest.mark.parametrize("raw", [BILLION_LAUGHS, INTERNAL_SUBSET])
def test_dtd_content_is_refused(raw: bytes) -> None:
    error = error_of(raw, "evil.xml")
    assert error.message == (
        "XML with DTD content is refused: a report may not declare entities or DTD rules"
    )
    assert error.location is not None
    assert (error.location.path, error.location.line) == ("evil.xml", 2)


def test_bare_doctype_names_a_dtd_that_is_never_read(tmp_path: Path) -> None:
    """c8's `<!DOCTYPE coverage SYSTEM ...>` line is accepted; the DTD it names is not read.

    The named DTD exists and would, if read, declare `&x;` and default `branches-valid`:
    the entity stays undefined and the attribute stays missing.
    """
    dtd = tmp_path / "evil.dtd"
    dtd.write_text('<!ENTITY x "999">\n<!ATTLIST coverage branches-valid CDATA "7">\n')
    head = f'<?xml version="1.0"?>\n<!DOCTYPE coverage SYSTEM "{dtd.as_uri()}">\n'
    body = '<coverage lines-valid="4" lines-covered="{}" branches-valid="0" branches-covered="0"/>'
    report = parse_coverage((head + body.format(3)).encode(), "c.xml")
    assert report == CoverageReport("cobertura", 3, 4, 0, 0)
    error = error_of((head + body.format("&x;")).encode(), "c.xml")
    assert error.message == "invalid XML: undefined entity"
    assert str(error.location) == "c.xml:3:1"
    no_branches = head + '<coverage lines-valid="4" lines-covered="3" branches-covered="0"/>'
    error = error_of(no_branches.encode(), "c.xml")
    assert error.message == "<coverage> has no branches-valid attribute"


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE coverage SYSTEM "http://cobertura.sourceforge.net/xml/coverage-04.dtd">',
        "<!DOCTYPE coverage PUBLIC '-//x//DTD y//EN' 'http://example.invalid/y.dtd'>",
        "<!DOCTYPE coverage>",
    ],
)
def test_bare_doctype_after_comments_keeps_positions(doctype: str) -> None:
    raw = f'<?xml version="1.0"?>\n<!-- made by a tool -->\n{doctype}\n<coverage lines-valid="x"/>'
    error = error_of(raw.encode(), "c.xml")
    assert error.message.startswith("<coverage> has no lines-covered")
    assert str(error.location) == "c.xml:4:1"


def test_undefined_entity_is_an_xml_error() -> None:
    raw = b'<coverage lines-valid="&x;" lines-covered="1" branches-valid="0" branches-covered="0"/>'
    error = error_of(raw, "c.xml")
    assert error.message == "invalid XML: undefined entity"
    assert str(error.location) == "c.xml:1:1"


def test_deeply_nested_xml_is_refused() -> None:
    error = error_of(b"<coverage>" + b"<a>" * 300 + b"</a>" * 300 + b"</coverage>", "c.xml")
    assert error.message == "XML nests deeper than 256 elements"


def test_xml_without_root_element() -> None:
    error = error_of(b'<?xml version="1.0"?>\n', "c.xml")
    assert error.message == "invalid XML: no element found"


# --- LCOV -------------------------------------------------------------------------------


def lcov_error(text: str) -> InputError:
    return error_of(text.encode(), "c.lcov")


def test_lcov_counts_da_and_brda_when_totals_are_absent() -> None:
    text = (
        "TN:\nSF:a.py\nDA:1,3\nDA:2,0\nDA:3,1\n"
        "BRDA:1,0,0,2\nBRDA:1,0,1,0\nBRDA:2,0,0,-\nend_of_record\n\n"
    )
    assert parse_coverage(text.encode(), "c.lcov") == CoverageReport("lcov", 2, 3, 1, 3)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "SF:a.py\nLF:2\nend_of_record\nend_of_record\n",
            4,
            "end_of_record without an SF: line before it",
        ),
        ("SF:a.py\nSF:b.py\nend_of_record\n", 2, "SF: inside a record (missing end_of_record)"),
        ("SF:a.py\nthis is not lcov\nend_of_record\n", 2, "not an LCOV line: 'this is not lcov'"),
        ("TN:\nLF:3\n", 2, "LF: outside a record (no SF: line before it)"),
        ("SF:a.py\nLF:3\nLH:2\n", 1, "last record has no end_of_record (file truncated?)"),
        ("SF:a.py\nBRDA:1,0,0\nend_of_record\n", 2, "BRDA needs 4 fields, found 3"),
    ],
)
def test_lcov_structure_errors(text: str, line: int, message: str) -> None:
    error = lcov_error(text)
    assert error.message == f"invalid LCOV: {message}"
    assert str(error.location) == f"c.lcov:{line}"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("SF:a.py\nLF:-3\nend_of_record\n", 2, "LF is '-3', expected a whole number of 0 or more"),
        ("SF:a.py\nDA:1\nend_of_record\n", 2, "DA hits is missing"),
        (
            "SF:a.py\nDA:1,x\nend_of_record\n",
            2,
            "DA hits is 'x', expected a whole number of 0 or more",
        ),
        (
            "SF:a.py\nBRDA:1,0,0,y\nend_of_record\n",
            2,
            "BRDA taken is 'y', expected a whole number of 0 or more",
        ),
    ],
)
def test_lcov_bad_counts(text: str, line: int, message: str) -> None:
    error = lcov_error(text)
    assert error.message == message
    assert str(error.location) == f"c.lcov:{line}"


def test_lcov_more_hit_than_found_names_the_record() -> None:
    error = lcov_error("SF:a.py\nLF:1\nLH:1\nend_of_record\nSF:b.py\nLF:2\nLH:3\nend_of_record\n")
    assert error.message == "lines: 3 covered out of 2, more than there are"
    assert str(error.location) == "c.lcov:5"
