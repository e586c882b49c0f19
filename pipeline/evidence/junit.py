"""JUnit XML test reports (pytest `--junitxml`, Surefire, Gradle, Jest, gotestsum, node...).

Totals are counted from the `<testcase>` elements themselves, not taken from the
suites' `tests`/`failures` attributes, which some tools leave out or get wrong. A case
may sit in a `<testsuite>` or directly under `<testsuites>` (node's test runner writes
its top-level tests there). A case with a `<failure>` child failed, else one with
`<error>` errored, else one with `<skipped>` was skipped, else it passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.errors import InputError, Location
from pipeline.evidence._common import read_text
from pipeline.evidence.xmlsafe import parse_xml

MAX_FAILURE_NAMES = 20
"""How many failing cases a report names; the counts always cover all of them."""

_SUITES = ("testsuites", "testsuite")
_OUTCOMES = ("failure", "error", "skipped")


@dataclass(frozen=True)
class TestReport:
    """Outcome counts of one test run."""

    __test__ = False  # not a pytest test class, despite the name

    total: int
    passed: int
    failed: int
    errors: int
    skipped: int
    failures: tuple[str, ...] = field(default=())

    @property
    def executed(self) -> int:
        """Cases that ran: all but the skipped ones."""
        return self.total - self.skipped

    @property
    def pass_rate(self) -> float | None:
        """Passed cases over executed ones, in percent; None when nothing ran."""
        if self.executed == 0:
            return None
        return self.passed / self.executed * 100


class _Counter:
    """Counts test cases while the XML streams by."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.stack: list[str] = []
        self.counts = dict.fromkeys(("passed", *_OUTCOMES), 0)
        self.failures: list[str] = []
        self.case: str | None = None
        self.outcomes: set[str] = set()

    def start(self, tag: str, attrs: dict[str, str], where: Location) -> None:
        parent = self.stack[-1] if self.stack else None
        self.stack.append(tag)
        if parent is None and tag not in _SUITES:
            raise InputError(
                f"not a JUnit XML report: root element is <{tag}>,"
                " expected <testsuites> or <testsuite>",
                location=where,
                hint="name the file written by the test runner (e.g. pytest --junitxml=FILE)",
            )
        if tag == "testcase" and parent in _SUITES:
            self.case = _case_name(attrs, where)
            self.outcomes = set()
        elif parent == "testcase" and tag in _OUTCOMES and self.case is not None:
            self.outcomes.add(tag)

    def end(self, tag: str) -> None:
        self.stack.pop()
        if tag != "testcase" or self.case is None:
            return
        outcome = next((name for name in _OUTCOMES if name in self.outcomes), "passed")
        self.counts[outcome] += 1
        if outcome in ("failure", "error") and len(self.failures) < MAX_FAILURE_NAMES:
            self.failures.append(self.case)
        self.case = None


def _case_name(attrs: dict[str, str], where: Location) -> str:
    """`classname.name` of a test case (just `name` when it has no class name)."""
    name = attrs.get("name", "").strip()
    if not name:
        raise InputError(
            "<testcase> has no name attribute",
            location=where,
            hint="every <testcase> needs a name; produce the report again with the test runner",
        )
    classname = attrs.get("classname", "").strip()
    return f"{classname}.{name}" if classname else name


def parse_junit(raw: bytes, path: str) -> TestReport:
    """Read a JUnit XML report: a `<testsuites>` or `<testsuite>` root, suites may nest."""
    text = read_text(raw, path)
    if not text.lstrip().startswith("<"):
        raise InputError(
            "not a JUnit XML report: the file is not XML",
            location=Location(path, 1),
            hint="name the file written by the test runner (e.g. pytest --junitxml=FILE)",
        )
    counter = _Counter(path)
    parse_xml(text, path, counter)
    counts = counter.counts
    return TestReport(
        total=sum(counts.values()),
        passed=counts["passed"],
        failed=counts["failure"],
        errors=counts["error"],
        skipped=counts["skipped"],
        failures=tuple(counter.failures),
    )
