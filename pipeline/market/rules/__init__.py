"""The Marketplace validator's rules: each a small function with a stable id and version.

Every rule is documented under its id in docs/market-rules.md (the anchor each finding
links to). Bump a rule's version whenever what it accepts changes: the ruleset id that
every validation records changes with it.
"""

from __future__ import annotations

from pipeline.market.rules.base import (
    ListingInput,
    PackageInput,
    Rule,
    RuleUnavailableError,
    Submission,
)
from pipeline.market.rules.listing import check_fields, check_links, check_screenshots
from pipeline.market.rules.naming import check_squatting
from pipeline.market.rules.package import check_permissions, check_secrets
from pipeline.market.rules.release import (
    check_consistency,
    check_licence,
    check_newer,
    check_security,
    check_signature,
)
from pipeline.market.rules.text import check_text

RULES: tuple[Rule, ...] = (
    Rule("listing.fields", 1, "Required fields and lengths", check_fields),
    Rule(
        "listing.screenshots",
        1,
        "Screenshots are real PNG/JPEG within the limits",
        check_screenshots,
    ),
    Rule("listing.links", 1, "Links are https", check_links),
    Rule(
        "listing.text",
        1,
        "Notes and changelog present, no stub text",
        check_text,
        needs_package=True,  # only when release.yaml has no notes or changes
    ),
    Rule(
        "release.consistency",
        1,
        "The package agrees with the release record",
        check_consistency,
        needs_package=True,
    ),
    Rule("version.newer", 1, "Newer than the listed version", check_newer),
    Rule("signature.valid", 1, "Signature trusted and not expired", check_signature),
    Rule("security.report", 1, "Security report with nothing high or above", check_security),
    Rule("licence.allowed", 1, "Licence allowed", check_licence),
    Rule("package.secrets", 1, "No secrets in the package", check_secrets, needs_package=True),
    Rule("naming.squatting", 1, "Name not too close to a listed plugin", check_squatting),
    Rule(
        "permissions.widened",
        1,
        "Permissions widened since the listed version",
        check_permissions,
        default_mode="advisory",
        needs_package=True,
        needs_previous=True,
    ),
)
"""Every rule, in the order they run and are reported."""

RULE_IDS: frozenset[str] = frozenset(rule.id for rule in RULES)

__all__ = [
    "RULES",
    "RULE_IDS",
    "ListingInput",
    "PackageInput",
    "Rule",
    "RuleUnavailableError",
    "Submission",
]
