"""Entitlements: a licence to run a commercially licensed plugin.

    entitlements/<plugin>.yaml                      site-wide (a contract; travels in bundles)
    entitlements/<plugin>/<tenant>/trial.yaml       one tenant's trial (`px-market trial start`)
    entitlements/<plugin>/<tenant>/purchase.yaml    one tenant's purchase (`px-market purchase`)

A release needs an entitlement when its licence expression names a `LicenseRef-...`
(SPDX's marker for a licence that is not an open-source one). Site-wide entitlements travel
in offline bundles and are committed into the site's repo on import; tenant ones are issued
by the Marketplace. Which one covers a tenant's version now: `pipeline.bundle.entitlements`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field, model_validator

from pipeline.models.base import Document, Name, VersionRangeText

EntitlementType = Literal["contract", "trial", "purchase"]


class Entitlement(Document):
    """A licence grant: which plugin, for whom, which versions, from when until when."""

    kind: Literal["Entitlement"]
    plugin: Name
    licensee: str = Field(min_length=1, description="the customer or site the licence is for")
    versions: VersionRangeText = Field(default="*", description="the versions it covers")
    not_before: AwareDatetime | None = Field(default=None, alias="notBefore")
    not_after: AwareDatetime = Field(alias="notAfter", description="the licence expires at")
    reference: str | None = Field(default=None, description="the contract or order number")
    type: EntitlementType = Field(
        default="contract",
        description="contract (site-wide, from the vendor), trial or purchase (one tenant)",
    )
    tenant: Name | None = Field(
        default=None, description="the tenant it is for; none: every tenant of the site"
    )
    plan: str | None = Field(
        default=None, min_length=1, max_length=40, description="the listing's plan (purchase)"
    )

    @model_validator(mode="after")
    def _window(self) -> Entitlement:
        if self.not_before is not None and self.not_after <= self.not_before:
            raise ValueError("notAfter must be later than notBefore")
        if self.type != "contract" and self.tenant is None:
            raise ValueError(f"a {self.type} entitlement names its tenant")
        if self.type == "purchase" and self.plan is None:
            raise ValueError("a purchase names its plan")
        return self
