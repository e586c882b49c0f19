"""Evidence reports a release gate reads: coverage, test results and security scans.

Each parser takes the raw bytes of a report and the path to name in errors, and
either returns a small frozen summary or raises `InputError` saying where the report
is wrong and what to do about it.
"""

from __future__ import annotations

from pipeline.evidence._common import MAX_REPORT_BYTES
from pipeline.evidence.coverage import CoverageReport, parse_coverage
from pipeline.evidence.junit import TestReport, parse_junit
from pipeline.evidence.sarif import SEVERITY_ORDER, Finding, ScanReport, Severity, parse_sarif

__all__ = [
    "MAX_REPORT_BYTES",
    "SEVERITY_ORDER",
    "CoverageReport",
    "Finding",
    "ScanReport",
    "Severity",
    "TestReport",
    "parse_coverage",
    "parse_junit",
    "parse_sarif",
]
