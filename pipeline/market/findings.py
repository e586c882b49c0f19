"""What the Marketplace validator reports: findings of rules, and the run's verdict.

A rule is a small function with a stable id that returns findings. Its mode comes from
`policies/market.yaml` (enforced, advisory or off), an exception can excuse one plugin from
one rule until a date, and a rule that could not run reports *errored*: never passed, never
a rejection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["critical", "high", "medium", "low", "info"]
Outcome = Literal["passed", "failed", "errored", "skipped", "excused"]
DOCS_BASE = "docs/market-rules.md"


@dataclass(frozen=True)
class Finding:
    """One thing a rule found wrong, where, and what to do about it."""

    rule: str
    severity: Severity
    message: str
    remedy: str
    file: str | None = None
    line: int | None = None
    path: str | None = None
    """A key path in the file (e.g. 'pricing.plans[0].price') or a path in the package."""

    @property
    def anchor(self) -> str:
        """The docs anchor that explains the rule."""
        return f"{DOCS_BASE}#{self.rule.replace('.', '-')}"

    def where(self) -> str:
        """`file:line (path)`, as much of it as is known."""
        place = self.file or ""
        if self.line is not None:
            place += f":{self.line}"
        if self.path:
            place += f" ({self.path})" if place else self.path
        return place


@dataclass(frozen=True)
class RuleResult:
    """One rule's outcome for one submission."""

    rule: str
    title: str
    mode: Literal["enforced", "advisory", "off"]
    outcome: Outcome
    findings: tuple[Finding, ...] = ()
    error: str | None = None
    """Why the rule could not run (outcome 'errored')."""
    excuse: str | None = None
    """The exception's reason and expiry (outcome 'excused')."""
    seconds: float = 0.0


@dataclass(frozen=True)
class ValidationReport:
    """Every rule's result, the ruleset they came from, and the verdict."""

    plugin: str
    version: str
    ruleset: str
    results: tuple[RuleResult, ...] = field(default_factory=tuple)
    permissions_widened: tuple[str, ...] = ()
    """Permissions this version asks for that the listed version did not (for the review
    record's permissionsWidened and the subscribers' notification)."""
    notes: tuple[str, ...] = ()
    """What the run says about itself: exceptions that expired and were ignored, policy
    entries naming no known rule."""

    @property
    def failed(self) -> list[str]:
        """Enforced rules that failed: these block approval."""
        return [r.rule for r in self.results if r.outcome == "failed" and r.mode == "enforced"]

    @property
    def advisory(self) -> list[str]:
        """Advisory rules that failed: shown, never blocking."""
        return [r.rule for r in self.results if r.outcome == "failed" and r.mode == "advisory"]

    @property
    def errored(self) -> list[str]:
        """Rules that could not run: the review waits for a retry."""
        return [r.rule for r in self.results if r.outcome == "errored"]

    @property
    def verdict(self) -> Literal["passed", "failed", "errored"]:
        """failed if an enforced rule failed; errored if one could not run; else passed."""
        if self.failed:
            return "failed"
        if self.errored:
            return "errored"
        return "passed"
