"""`policies/*.yaml`: the gates a change must pass, one kind per file."""

from __future__ import annotations

from typing import Literal, TypeVar

from pydantic import Field, model_validator

from pipeline.models.access import ConsoleAccess
from pipeline.models.approvals import ApprovalPolicy, Teams
from pipeline.models.base import API_VERSION, Document, Name, Strict
from pipeline.models.market import MarketPolicy
from pipeline.models.rollout import RolloutPolicy
from pipeline.models.signing import SigningPolicy
from pipeline.models.windows import ChangeWindows

SEVERITIES = ("none", "low", "medium", "high", "critical")
Severity = Literal["low", "medium", "high", "critical"]


class CoverageGate(Strict):
    """Minimum line+branch coverage, in percent."""

    minimum: float = Field(default=90.0, ge=0, le=100)


class TestGate(Strict):
    """Minimum pass rate of the JUnit reports (skipped tests do not count), in percent."""

    min_pass_rate: float = Field(default=100.0, ge=0, le=100, alias="minPassRate")
    min_tests: int = Field(default=1, ge=0, alias="minTests")


class FindingsGate(Strict):
    """Scanner findings at or above `failOn` fail the gate."""

    fail_on: Severity = Field(default="high", alias="failOn")


class GatePolicy(Document):
    """Evidence gates every release must pass: `policies/gates.yaml`."""

    kind: Literal["GatePolicy"]
    coverage: CoverageGate = Field(default_factory=CoverageGate)
    tests: TestGate = Field(default_factory=TestGate)
    findings: FindingsGate = Field(default_factory=FindingsGate)
    require_evidence: bool = Field(
        default=True,
        alias="requireEvidence",
        description="a release without coverage, test or scan reports fails",
    )


DEFAULT_LICENSES = [
    "Apache-2.0",
    "MIT",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "ISC",
    "MPL-2.0",
]


class LicensePolicy(Document):
    """Licences a plugin may carry: `policies/licenses.yaml`."""

    kind: Literal["LicensePolicy"]
    allowed: list[str] = Field(min_length=1, description="SPDX licence ids")


class PromotionPolicy(Document):
    """The order releases move through environments: `policies/promotion.yaml`."""

    kind: Literal["PromotionPolicy"]
    order: list[Name] = Field(min_length=1)
    soak_minutes: dict[Name, int] = Field(
        default_factory=dict,
        alias="soakMinutes",
        description="minimum minutes a version runs in an environment before it moves on",
    )
    via: dict[Name, Literal["commit", "pull-request", "canary"]] = Field(
        default_factory=dict,
        description="how promotions land in an environment: a direct commit (the default), "
        "a pull request whose reviews are approvals, or a canary rollout "
        "(policies/rollout.yaml) started at its first step",
    )

    def lands_by_pull_request(self, env: str) -> bool:
        """Whether promotions into `env` are proposed as a pull request."""
        return self.via.get(env) == "pull-request"

    def starts_canary(self, env: str) -> bool:
        """Whether promotions into `env` start a canary rollout instead of replacing it."""
        return self.via.get(env) == "canary"

    @model_validator(mode="after")
    def _unique(self) -> PromotionPolicy:
        if len(set(self.order)) != len(self.order):
            raise ValueError("each environment may appear once in the promotion order")
        unknown = sorted(set(self.via) - set(self.order))
        if unknown:
            raise ValueError(f"via names environments not in the order: {', '.join(unknown)}")
        return self


POLICY_KINDS: dict[str, type[Document]] = {
    "GatePolicy": GatePolicy,
    "LicensePolicy": LicensePolicy,
    "PromotionPolicy": PromotionPolicy,
    "SigningPolicy": SigningPolicy,
    "ApprovalPolicy": ApprovalPolicy,
    "Teams": Teams,
    "ChangeWindows": ChangeWindows,
    "RolloutPolicy": RolloutPolicy,
    "ConsoleAccess": ConsoleAccess,
    "MarketPolicy": MarketPolicy,
}

POLICY_FIELDS = {
    "GatePolicy": "gates",
    "LicensePolicy": "licenses",
    "PromotionPolicy": "promotion",
    "SigningPolicy": "signing",
    "ApprovalPolicy": "approvals",
    "Teams": "teams",
    "ChangeWindows": "windows",
    "RolloutPolicy": "rollout",
    "ConsoleAccess": "access",
    "MarketPolicy": "market",
}
"""Policy kind -> the PolicySet field that holds it."""

DEFAULT_ORDER = ["test", "staging", "prod"]
DEFAULT_APPROVALS = {"staging": {"required": 1}, "prod": {"required": 2}}

P = TypeVar("P", bound=Document)


def _seed(model: type[P], **fields: object) -> P:
    """A policy of `model`'s kind with the seed defaults."""
    kind = model.model_fields["kind"].annotation.__args__[0]  # type: ignore[union-attr]
    return model.model_validate({"apiVersion": API_VERSION, "kind": kind, **fields})


class PolicySet(Strict):
    """All policies of a revision; a kind with no file takes the seed defaults."""

    gates: GatePolicy = Field(default_factory=lambda: _seed(GatePolicy))
    licenses: LicensePolicy = Field(
        default_factory=lambda: _seed(LicensePolicy, allowed=DEFAULT_LICENSES)
    )
    promotion: PromotionPolicy = Field(
        default_factory=lambda: _seed(PromotionPolicy, order=DEFAULT_ORDER)
    )
    signing: SigningPolicy = Field(
        default_factory=lambda: _seed(SigningPolicy),
        description="trusted release signers; the seed trusts nobody (fail closed)",
    )
    approvals: ApprovalPolicy = Field(
        default_factory=lambda: _seed(ApprovalPolicy, environments=DEFAULT_APPROVALS),
        description="approvals per environment; the seed asks 1 for staging and 2 for prod",
    )
    windows: ChangeWindows = Field(
        default_factory=lambda: _seed(ChangeWindows),
        description="go-live windows and freezes; the seed has none",
    )
    rollout: RolloutPolicy = Field(
        default_factory=lambda: _seed(RolloutPolicy),
        description="canary steps and metrics; the seed has no metrics, so no canary can pass",
    )
    teams: Teams = Field(
        default_factory=lambda: _seed(Teams),
        description="teams and members; the seed has none, so nobody can approve (fail closed)",
    )
    access: ConsoleAccess = Field(
        default_factory=lambda: _seed(ConsoleAccess),
        description="console roles per team; the seed has none, so everyone is a viewer",
    )
    market: MarketPolicy = Field(
        default_factory=lambda: _seed(MarketPolicy),
        description="Marketplace rules and reviewers; the seed names no reviewer (fail closed)",
    )
    sources: dict[str, str] = Field(
        default_factory=dict, description="policy kind -> file it was read from"
    )

    def previous_environment(self, env: str) -> str | None:
        """The environment a release must be in before it may enter `env`."""
        order = self.promotion.order
        index = order.index(env)
        return order[index - 1] if index > 0 else None
