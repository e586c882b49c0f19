"""`releases/<plugin>/listing.yaml`: how a plugin is presented in the Marketplace.

One listing per plugin (not per version): the catalog shows it with every approved version.
The model checks shape and lengths; everything that needs a file, another document or a
policy (https links, real images, consistency with the release record...) is a validator rule
in `pipeline.market`, so it is reported with a rule id and a remedy instead of a parse error.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator

from pipeline.models.base import Document, Name, Strict

CATEGORIES: dict[str, str] = {
    "analytics": "reports, dashboards and metrics",
    "communication": "mail, chat and notifications",
    "data": "import, export and data quality",
    "developer-tools": "tools for plugin and integration developers",
    "finance": "accounting, billing and payments",
    "integration": "connectors to other systems",
    "operations": "monitoring, backup and administration",
    "productivity": "documents, tasks and scheduling",
    "security": "access, audit and compliance",
    "sales": "CRM, quotes and orders",
}
"""Every Marketplace category, with what belongs in it."""

PROMOTION_TAGS = ("featured", "new", "staff-pick", "popular", "verified-vendor")
"""Tags the Marketplace team may put on a listing (shown as badges)."""


class Screenshot(Strict):
    """An image in the repo, shown on the listing page."""

    file: str = Field(
        min_length=1,
        description="path relative to releases/<plugin>/ (e.g. listing/main.png); PNG or JPEG",
    )
    caption: str = Field(min_length=3, max_length=120)


class Plan(Strict):
    """One way to buy the plugin."""

    name: str = Field(min_length=1, max_length=40)
    price: Decimal = Field(ge=0, max_digits=10, decimal_places=2)
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. EUR")
    period: Literal["month", "year", "once"] = "month"
    per: Literal["tenant", "user"] = "tenant"


class Pricing(Strict):
    """Free, or paid with plans; a paid plugin may offer a trial."""

    model: Literal["free", "paid", "freemium"]
    trial_days: int = Field(default=0, ge=0, le=90, alias="trialDays")
    plans: list[Plan] = Field(default_factory=list, max_length=10)

    @model_validator(mode="after")
    def _plans_match_model(self) -> Pricing:
        if self.model != "free" and not self.plans:
            raise ValueError(f"a {self.model} plugin needs at least one plan")
        if self.model == "free" and (self.plans or self.trial_days):
            raise ValueError("a free plugin has no plans and no trial")
        return self


class Support(Strict):
    """How customers get help, and how fast."""

    contact: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", description="an e-mail address")
    response_time: str = Field(
        alias="responseTime",
        pattern=r"^[1-9][0-9]{0,2} (hour|hours|business day|business days)$",
        description="the promised first answer, e.g. '8 hours' or '2 business days'",
    )
    url: str = Field(min_length=1, max_length=2048, description="the support page (https)")


class Vendor(Strict):
    """Who makes the plugin."""

    name: str = Field(min_length=2, max_length=80)
    url: str | None = Field(default=None, max_length=2048, description="https")
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Visibility(Strict):
    """Who can find and install the plugin."""

    scope: Literal["public", "private", "tenants"] = "public"
    tenants: list[Name] = Field(
        default_factory=list, max_length=1000, description="with scope 'tenants': who sees it"
    )

    @model_validator(mode="after")
    def _tenants_with_scope(self) -> Visibility:
        if self.scope == "tenants" and not self.tenants:
            raise ValueError("scope 'tenants' needs the tenants that may see the plugin")
        if self.scope != "tenants" and self.tenants:
            raise ValueError(f"scope {self.scope!r} takes no tenants list")
        return self


class Deprecation(Strict):
    """A plugin (or some of its versions) that should no longer be installed."""

    versions: str = Field(default="*", description="the deprecated versions, e.g. '<2'")
    reason: str = Field(min_length=10, max_length=500)
    replacement: Name | None = Field(default=None, description="the plugin to use instead")


class Listing(Document):
    """A plugin's Marketplace listing."""

    kind: Literal["Listing"]
    plugin: Name
    title: str = Field(min_length=3, max_length=60)
    summary: str = Field(min_length=20, max_length=160, description="one sentence, plain text")
    description: str = Field(min_length=80, max_length=20_000, description="Markdown")
    highlights: list[str] = Field(min_length=1, max_length=6)
    categories: list[str] = Field(min_length=1, max_length=3, description="see CATEGORIES")
    tags: list[Name] = Field(default_factory=list, max_length=12)
    pricing: Pricing
    screenshots: list[Screenshot] = Field(min_length=1, max_length=8)
    support: Support
    documentation: str = Field(min_length=1, max_length=2048, description="https URL")
    vendor: Vendor
    visibility: Visibility = Field(default_factory=Visibility)
    promotion: list[str] = Field(
        default_factory=list, description="badges set by the Marketplace team; see PROMOTION_TAGS"
    )
    deprecated: Deprecation | None = None

    @model_validator(mode="after")
    def _known_words(self) -> Listing:
        unknown = [c for c in self.categories if c not in CATEGORIES]
        if unknown:
            raise ValueError(
                f"unknown categories {', '.join(unknown)}; use: {', '.join(CATEGORIES)}"
            )
        bad_tags = [t for t in self.promotion if t not in PROMOTION_TAGS]
        if bad_tags:
            raise ValueError(
                f"unknown promotion tags {', '.join(bad_tags)}; use: {', '.join(PROMOTION_TAGS)}"
            )
        long = [h for h in self.highlights if not 3 <= len(h) <= 120]
        if long:
            raise ValueError("each highlight is 3 to 120 characters")
        return self
