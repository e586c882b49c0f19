"""`catalog/`: the Marketplace catalog, written by `px-market catalog sync` (never by hand).

    catalog/index.json               CatalogIndex: one entry per listed plugin (what search,
                                     the console and the static site list)
    catalog/plugins/<plugin>.json    CatalogPage: one plugin with every listed version

Both are generated from the approved review records, the listings and the release records
at one revision; a sync rewrites only the pages whose sources changed (`sourceDigest`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pipeline.models.base import Document, Name, SemVer, Sha256, Strict
from pipeline.models.listing import Deprecation, Plan, Screenshot, Support, Vendor, Visibility


class ReleaseLink(Strict):
    """Where a version's release record is: its path, and a commit that holds it as listed."""

    path: str = Field(description="releases/<plugin>/<version>/release.yaml")
    commit: str = Field(
        pattern=r"^[0-9a-f]{40}$",
        description="the revision the catalog read the record at (git show COMMIT:PATH)",
    )
    blob: str = Field(pattern=r"^[0-9a-f]{40}$", description="the record's git blob id")


class Signer(Strict):
    """Who signed a version's artifact, as `pipeline.signing` verified it at sync time."""

    verified: bool = Field(description="valid under policies/signing.yaml when synced")
    mode: Literal["key", "keyless"] | None = None
    identity: str | None = Field(
        default=None, description="the key id (key mode) or the certificate identity (keyless)"
    )
    issuer: str | None = Field(default=None, description="the OIDC issuer of a keyless signer")
    bundle: str | None = Field(default=None, description="the signature bundle's repo path")
    refusal: str | None = Field(default=None, description="why it did not verify")


class UpgradeStep(Strict):
    """One hop of an upgrade path."""

    to: SemVer
    requires: str | None = Field(
        default=None, description="the host (powerx) range the target version needs"
    )
    host_upgrade: bool = Field(
        default=False,
        alias="hostUpgrade",
        description="some hosts the version before runs on are outside the target's range",
    )


class CatalogVersion(Strict):
    """One listed (approved) version of a plugin."""

    version: SemVer
    compatibility: dict[str, str] = Field(description="host ranges, as the release record says")
    release: ReleaseLink
    artifact_sha256: Sha256 = Field(alias="artifactSha256")
    size: int = Field(ge=0)
    signer: Signer
    license: str
    approved_at: str = Field(alias="approvedAt", description="when the review ended approved")
    approved_by: str = Field(alias="approvedBy")
    permissions_widened: list[str] = Field(default_factory=list, alias="permissionsWidened")
    deprecated: bool = False
    upgrade: list[UpgradeStep] = Field(
        default_factory=list,
        description="the path to the newest version, hop by hop (empty for the newest): the "
        "newest of its own major first, then the newest of each later major",
    )


class Availability(Strict):
    """Whether a tenant can try or buy the plugin, and on what plans."""

    model: Literal["free", "paid", "freemium"]
    trial_days: int = Field(default=0, alias="trialDays")
    trial: bool = Field(description="a trial can be started")
    purchase: bool = Field(description="a plan can be bought")
    plans: list[Plan] = Field(default_factory=list)


class CatalogPage(Document):
    """`catalog/plugins/<plugin>.json`: one plugin as the Marketplace shows it."""

    kind: Literal["CatalogPage"]
    plugin: Name
    title: str
    summary: str
    description: str
    highlights: list[str]
    categories: list[str]
    tags: list[str]
    vendor: Vendor
    support: Support
    documentation: str
    screenshots: list[Screenshot]
    visibility: Visibility
    promotion: list[str]
    availability: Availability
    deprecation: Deprecation | None = None
    verified: bool = Field(
        description="the newest version's signature verified and the listing carries the "
        "verified-vendor promotion tag"
    )
    versions: list[CatalogVersion] = Field(min_length=1, description="newest first")
    source_digest: Sha256 = Field(
        alias="sourceDigest",
        description="sha256 of the blob ids the page was built from; unchanged: not rebuilt",
    )


class IndexVersion(Strict):
    """A version as the index lists it: enough to filter by host version."""

    version: SemVer
    powerx: str | None = Field(default=None, description="its host range")
    deprecated: bool = False


class IndexEntry(Strict):
    """One listed plugin in `catalog/index.json`."""

    plugin: Name
    title: str
    summary: str
    categories: list[str]
    tags: list[str]
    vendor: str
    pricing: Literal["free", "paid", "freemium"]
    trial: bool
    visibility: Literal["public", "private", "tenants"]
    tenants: list[Name] = Field(default_factory=list)
    promotion: list[str] = Field(default_factory=list)
    verified: bool
    deprecated: bool = Field(description="every listed version is deprecated")
    latest: SemVer
    versions: list[IndexVersion] = Field(min_length=1, description="newest first")
    page: str = Field(description="catalog/plugins/<plugin>.json")
    source_digest: Sha256 = Field(alias="sourceDigest", description="as on the page")


class CatalogIndex(Document):
    """`catalog/index.json`: every listed plugin, by name."""

    kind: Literal["CatalogIndex"]
    listings: list[IndexEntry] = Field(default_factory=list)
