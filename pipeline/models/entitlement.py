"""`entitlements/<plugin>.yaml`: a site's licence to run a commercially licensed plugin.

A release needs an entitlement when its licence expression names a `LicenseRef-...`
(SPDX's marker for a licence that is not an open-source one). Entitlements travel in
offline bundles and are committed into the site's repo on import.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field, model_validator

from pipeline.models.base import Document, Name, VersionRangeText


class Entitlement(Document):
    """A licence grant: which plugin, for whom, which versions, from when until when."""

    kind: Literal["Entitlement"]
    plugin: Name
    licensee: str = Field(min_length=1, description="the customer or site the licence is for")
    versions: VersionRangeText = Field(default="*", description="the versions it covers")
    not_before: AwareDatetime | None = Field(default=None, alias="notBefore")
    not_after: AwareDatetime = Field(alias="notAfter", description="the licence expires at")
    reference: str | None = Field(default=None, description="the contract or order number")

    @model_validator(mode="after")
    def _window(self) -> Entitlement:
        if self.not_before is not None and self.not_after <= self.not_before:
            raise ValueError("notAfter must be later than notBefore")
        return self
