"""Coverage reports: coverage.py JSON, Cobertura XML, LCOV and Go profiles, told apart by content.

Every format is reduced to four totals (lines and branches, covered and measured), and
the percentage is coverage.py's own: covered lines and branches over all of them, so
the three formats of one run give the same figure. A Go coverage profile counts
statements, not lines, and has no branches: its figure is Go's statement coverage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.errors import InputError, Location
from pipeline.evidence._common import (
    check_covered,
    json_count,
    load_json,
    read_text,
    text_count,
)
from pipeline.evidence.gocover import looks_like_coverprofile, statement_totals
from pipeline.evidence.xmlsafe import parse_xml

NOT_COVERAGE = (
    "not a coverage report: expected coverage.py JSON, Cobertura XML, LCOV or a Go coverage profile"
)
_NOT_COVERAGE_HINT = (
    "name the file written by `coverage json|xml|lcov`, c8's cobertura or lcov reporter,"
    " or `go test -coverprofile`"
)
_COUNT_HINT = "produce the report again with the coverage tool; do not edit it by hand"
_COBERTURA_ATTRIBUTES = ("lines-valid", "lines-covered", "branches-valid", "branches-covered")


@dataclass(frozen=True)
class CoverageReport:
    """Totals of one coverage report (for a Go profile, "lines" are statements)."""

    format: str
    lines_covered: int
    lines_total: int
    branches_covered: int
    branches_total: int

    @property
    def percent(self) -> float:
        """Covered lines and branches over all lines and branches, in percent."""
        covered = self.lines_covered + self.branches_covered
        return covered / (self.lines_total + self.branches_total) * 100


def parse_coverage(raw: bytes, path: str) -> CoverageReport:
    """Read a coverage report in any supported format, detected from its content."""
    text = read_text(raw, path)
    start = text.lstrip()[:1]
    if start in ("{", "["):
        report = _from_json(load_json(text, path), path)
    elif start == "<":
        report = _from_cobertura(text, path)
    elif looks_like_coverprofile(text):
        covered, total = statement_totals(text, path)
        report = CoverageReport("go-coverprofile", covered, total, 0, 0)
    else:
        report = _from_lcov(text, path)
    if report.lines_total + report.branches_total == 0:
        raise InputError(
            "report measures no code (0 lines and 0 branches)",
            location=Location(path),
            hint="check that coverage ran over the plugin's source"
            " (e.g. coverage.py's `--source=src`, c8's `--all`, go test's `-coverpkg`)",
        )
    return report


def _not_coverage(path: str, line: int | None = 1) -> InputError:
    return InputError(NOT_COVERAGE, location=Location(path, line), hint=_NOT_COVERAGE_HINT)


def _from_json(data: Any, path: str) -> CoverageReport:
    """coverage.py JSON: `meta.format` plus `totals`; branch totals only with --branch."""
    if not (
        isinstance(data, dict)
        and isinstance(data.get("meta"), dict)
        and "format" in data["meta"]
        and "totals" in data
    ):
        raise _not_coverage(path)
    totals = data["totals"]
    where = Location(path)
    if not isinstance(totals, dict):
        raise InputError("totals is not an object", location=where, hint=_COUNT_HINT)

    def count(key: str, default: int | None = None) -> int:
        value = totals.get(key, default)
        return json_count(value, f"totals.{key}", where, _COUNT_HINT)

    lines_covered, lines_total = count("covered_lines"), count("num_statements")
    branches_covered, branches_total = count("covered_branches", 0), count("num_branches", 0)
    check_covered(lines_covered, lines_total, "lines", where)
    check_covered(branches_covered, branches_total, "branches", where)
    return CoverageReport(
        "coverage.py-json", lines_covered, lines_total, branches_covered, branches_total
    )


class _CoberturaRoot:
    """Keeps the root element's tag, attributes and position."""

    def __init__(self) -> None:
        self.tag: str | None = None
        self.attrs: dict[str, str] = {}
        self.where: Location | None = None

    def start(self, tag: str, attrs: dict[str, str], where: Location) -> None:
        if self.tag is None:
            self.tag, self.attrs, self.where = tag, attrs, where

    def end(self, tag: str) -> None:
        """Nothing to do when an element closes."""


def _from_cobertura(text: str, path: str) -> CoverageReport:
    """Cobertura XML: totals are attributes of the root `<coverage>` element."""
    root = _CoberturaRoot()
    parse_xml(text, path, root)  # expat guarantees a root element once this returns
    where = root.where or Location(path, 1)
    if root.tag != "coverage":
        raise _not_coverage(path, where.line)
    hint = "Cobertura XML needs " + ", ".join(_COBERTURA_ATTRIBUTES) + " on <coverage>"
    for name in _COBERTURA_ATTRIBUTES:
        if name not in root.attrs:
            raise InputError(f"<coverage> has no {name} attribute", location=where, hint=hint)
    lines_total, lines_covered, branches_total, branches_covered = (
        text_count(root.attrs[name], name, where, _COUNT_HINT) for name in _COBERTURA_ATTRIBUTES
    )
    check_covered(lines_covered, lines_total, "lines", where)
    check_covered(branches_covered, branches_total, "branches", where)
    return CoverageReport("cobertura", lines_covered, lines_total, branches_covered, branches_total)


class _LcovRecord:
    """Totals of one `SF:` ... `end_of_record` block."""

    def __init__(self, line: int) -> None:
        self.line = line
        self.totals: dict[str, int] = {}
        self.lines_found = 0
        self.lines_hit = 0
        self.branches_found = 0
        self.branches_hit = 0


def _from_lcov(text: str, path: str) -> CoverageReport:
    """LCOV tracefile: sum LF/LH/BRF/BRH over records (counted from DA/BRDA if absent)."""
    lines = text.splitlines()
    first = next(index for index, line in enumerate(lines) if line.strip())
    if not lines[first].strip().startswith(("TN:", "SF:")):
        raise _not_coverage(path, first + 1)
    totals = [0, 0, 0, 0]
    record: _LcovRecord | None = None
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        where = Location(path, number)
        if not line:
            continue
        if line == "end_of_record":
            if record is None:
                raise _lcov_error("end_of_record without an SF: line before it", where)
            for index, amount in enumerate(_record_totals(record, path)):
                totals[index] += amount
            record = None
            continue
        key, colon, value = line.partition(":")
        if not colon or not key.isalpha() or not key.isupper():
            raise _lcov_error(f"not an LCOV line: {line[:60]!r}", where)
        if key == "SF":
            if record is not None:
                raise _lcov_error("SF: inside a record (missing end_of_record)", where)
            record = _LcovRecord(number)
        elif record is not None:
            _lcov_field(record, key, value, where)
        elif key != "TN":
            raise _lcov_error(f"{key}: outside a record (no SF: line before it)", where)
    if record is not None:
        raise _lcov_error(
            "last record has no end_of_record (file truncated?)", Location(path, record.line)
        )
    return CoverageReport("lcov", totals[1], totals[0], totals[3], totals[2])


def _lcov_error(message: str, where: Location) -> InputError:
    return InputError(
        f"invalid LCOV: {message}",
        location=where,
        hint="the report is damaged or truncated: produce it again with the coverage tool",
    )


def _lcov_field(record: _LcovRecord, key: str, value: str, where: Location) -> None:
    """Take in one `KEY:value` line of a record; unknown keys are ignored."""
    if key in ("LF", "LH", "BRF", "BRH"):
        record.totals[key] = text_count(value, key, where, _COUNT_HINT)
    elif key == "DA":
        fields = value.split(",")
        hits = text_count(fields[1] if len(fields) > 1 else None, "DA hits", where, _COUNT_HINT)
        record.lines_found += 1
        record.lines_hit += hits > 0
    elif key == "BRDA":
        fields = value.split(",")
        if len(fields) != 4:
            raise _lcov_error(f"BRDA needs 4 fields, found {len(fields)}", where)
        taken = fields[3].strip()
        if taken != "-":
            taken_count = text_count(taken, "BRDA taken", where, _COUNT_HINT)
            record.branches_hit += taken_count > 0
        record.branches_found += 1


def _record_totals(record: _LcovRecord, path: str) -> tuple[int, int, int, int]:
    """(lines found, lines hit, branches found, branches hit) of a finished record."""
    where = Location(path, record.line)
    lines_found = record.totals.get("LF", record.lines_found)
    lines_hit = record.totals.get("LH", record.lines_hit)
    branches_found = record.totals.get("BRF", record.branches_found)
    branches_hit = record.totals.get("BRH", record.branches_hit)
    check_covered(lines_hit, lines_found, "lines", where)
    check_covered(branches_hit, branches_found, "branches", where)
    return lines_found, lines_hit, branches_found, branches_hit
