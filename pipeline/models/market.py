"""The Marketplace's files: its policy, the review record of a submission, subscriptions.

policies/market.yaml                          MarketPolicy: rule modes, exceptions, limits, SLA
market/reviews/<plugin>/<version>.yaml        Review: one submission's state and its history
market/subscriptions.yaml                     Subscriptions: who is told about new listings
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import AwareDatetime, Field, HttpUrl, model_validator

from pipeline.models.base import Document, Name, SemVer, Sha256, Strict

RuleMode = Literal["enforced", "advisory", "off"]
"""enforced: a failing finding blocks approval; advisory: shown, never blocks; off: not run."""


class RuleException(Strict):
    """One plugin excused from one rule, for a reason, until a date."""

    plugin: Name
    rule: str = Field(pattern=r"^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*$")
    reason: str = Field(min_length=10, max_length=500)
    expires: date = Field(description="the exception ends at the start of this day (UTC)")
    approved_by: str = Field(alias="approvedBy", min_length=1)


class ScreenshotLimits(Strict):
    """What a screenshot must be."""

    max_bytes: int = Field(default=2 * 1024 * 1024, gt=0, alias="maxBytes")
    min_width: int = Field(default=640, gt=0, alias="minWidth")
    min_height: int = Field(default=360, gt=0, alias="minHeight")
    max_width: int = Field(default=3840, gt=0, alias="maxWidth")
    max_height: int = Field(default=2160, gt=0, alias="maxHeight")


class ReviewSla(Strict):
    """How long a review may take, in business days (Monday to Friday, minus holidays)."""

    online_days: int = Field(default=2, ge=1, alias="onlineDays")
    offline_days: int = Field(default=3, ge=1, alias="offlineDays")
    holidays: list[date] = Field(default_factory=list)


class MarketPolicy(Document):
    """`policies/market.yaml`: which validator rules block, who reviews, and the review SLA."""

    kind: Literal["MarketPolicy"]
    rules: dict[str, RuleMode] = Field(
        default_factory=dict,
        description="rule id -> mode; a rule not named keeps its default mode",
    )
    exceptions: list[RuleException] = Field(default_factory=list, max_length=1000)
    screenshots: ScreenshotLimits = Field(default_factory=ScreenshotLimits)
    squatting_distance: int = Field(
        default=2,
        ge=0,
        le=5,
        alias="squattingDistance",
        description="a new plugin name this close (edit distance) to a listed one is refused",
    )
    reviewers: list[Name] = Field(
        default_factory=list,
        description="teams (policies/teams.yaml) whose members may review; empty: nobody",
    )
    sla: ReviewSla = Field(default_factory=ReviewSla)


ReviewState = Literal[
    "submitted", "in-review", "changes-requested", "approved", "rejected", "errored"
]
FINAL_STATES: frozenset[str] = frozenset({"approved", "rejected"})

ReasonCategory = Literal[
    "metadata",
    "screenshots",
    "security",
    "licence",
    "signature",
    "compatibility",
    "permissions",
    "naming",
    "quality",
    "policy",
    "other",
]
"""Why a reviewer requested changes or rejected (the report counts by category)."""


class ValidationSummary(Strict):
    """The validator run a transition was based on."""

    ruleset: str = Field(description="the ruleset version (rules and policy digest)")
    failed: list[str] = Field(default_factory=list, description="enforced rules that failed")
    advisory: list[str] = Field(default_factory=list, description="advisory rules that failed")
    errored: list[str] = Field(default_factory=list, description="rules that could not run")


class Transition(Strict):
    """One step of a review, as committed."""

    state: ReviewState
    at: AwareDatetime
    by: str = Field(min_length=1, description="who: the vendor, a reviewer, or the runner")
    reason: str | None = Field(default=None, max_length=4000)
    category: ReasonCategory | None = None
    validation: ValidationSummary | None = None

    @model_validator(mode="after")
    def _reasons_where_needed(self) -> Transition:
        if self.state in ("changes-requested", "rejected", "errored") and not (
            self.reason and self.reason.strip()
        ):
            raise ValueError(f"a transition to {self.state} needs a reason")
        if self.state in ("changes-requested", "rejected") and self.category is None:
            raise ValueError(f"a transition to {self.state} needs a reason category")
        return self


class Review(Document):
    """`market/reviews/<plugin>/<version>.yaml`: one submission and every step of its review."""

    kind: Literal["Review"]
    plugin: Name
    version: SemVer
    channel: Literal["online", "offline"] = "online"
    artifact_sha256: Sha256 = Field(alias="artifactSha256")
    listing_sha256: Sha256 | None = Field(default=None, alias="listingSha256")
    permissions_widened: list[str] = Field(
        default_factory=list,
        alias="permissionsWidened",
        description="permissions this version asks for that the listed version did not",
    )
    history: list[Transition] = Field(min_length=1, max_length=10_000)

    @property
    def state(self) -> ReviewState:
        """Where the review stands now."""
        return self.history[-1].state

    @property
    def submitted_at(self) -> AwareDatetime:
        """When the latest submission (or resubmission) was made."""
        for step in reversed(self.history):
            if step.state == "submitted":
                return step.at
        return self.history[0].at


MarketEvent = Literal["listing.created", "version.published", "permissions.widened"]
MARKET_EVENTS: tuple[MarketEvent, ...] = (
    "listing.created",
    "version.published",
    "permissions.widened",
)


class Subscription(Strict):
    """A tenant told about Marketplace events by webhook (CloudEvents 1.0, JSON)."""

    tenant: Name
    webhook: HttpUrl
    plugins: list[Name] = Field(default_factory=list, description="empty: every plugin")
    categories: list[str] = Field(default_factory=list, description="empty: every category")
    events: list[MarketEvent] = Field(default_factory=lambda: list(MARKET_EVENTS))
    secret_env: str | None = Field(
        default=None,
        alias="secretEnv",
        pattern=r"^[A-Z_][A-Z0-9_]*$",
        description="the environment variable holding the HMAC key that signs deliveries",
    )


class PendingNotification(Strict):
    """A CloudEvent that did not reach a tenant's webhook yet; the next sync sends it again
    (same event id, so a receiver that got it after all can drop the repeat)."""

    id: str = Field(min_length=1, max_length=64, description="the CloudEvent id, kept on retries")
    tenant: Name
    event: MarketEvent
    plugin: Name
    version: SemVer
    categories: list[str] = Field(default_factory=list, max_length=50)
    permissions_widened: list[str] = Field(
        default_factory=list, alias="permissionsWidened", max_length=50
    )
    commit: str | None = Field(default=None, description="the catalog commit that listed it")
    rounds: int = Field(ge=1, description="syncs that tried to deliver it")
    since: AwareDatetime = Field(description="when the first delivery failed")
    last_error: str = Field(default="", alias="lastError", max_length=500)


class NotificationOutbox(Document):
    """`market/outbox.yaml`: Marketplace notifications still to be delivered."""

    kind: Literal["NotificationOutbox"]
    pending: list[PendingNotification] = Field(default_factory=list, max_length=10_000)


class Subscriptions(Document):
    """`market/subscriptions.yaml`: every tenant's Marketplace subscriptions."""

    kind: Literal["Subscriptions"]
    subscriptions: list[Subscription] = Field(default_factory=list, max_length=10_000)
