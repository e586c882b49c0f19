"""The Marketplace: listings, the validator, the review workflow, the catalog and its reports.

Files (models in `pipeline.models.listing` and `pipeline.models.market`):

    releases/<plugin>/listing.yaml              the listing (one per plugin)
    releases/<plugin>/listing/*.png|jpg         its screenshots
    policies/market.yaml                        rule modes, exceptions, limits, reviewers, SLA
    market/reviews/<plugin>/<version>.yaml      a submission's review record (every transition
                                                is one commit by a named person)
    market/subscriptions.yaml                   who is told about new listings (CloudEvents)
    market/outbox.yaml                          notifications not delivered yet (retried)
    catalog/                                    the synced catalog: index plus a page per plugin

Modules: `findings` (what a rule reports), `rules/` and `validate` (the validator),
`review` (the state machine), `submit` (online and offline submissions), `catalog` and
`search` (the catalog and its SQLite FTS5 index), `trials` (entitlements from trials and
purchases), `events` (CloudEvents notifications), `report` (review and usage figures).
"""

LISTING_FILE = "listing.yaml"
REVIEWS_DIR = "market/reviews"
SUBSCRIPTIONS_FILE = "market/subscriptions.yaml"
OUTBOX_FILE = "market/outbox.yaml"
CATALOG_DIR = "catalog"


def listing_path(plugin: str) -> str:
    """The listing of one plugin."""
    return f"releases/{plugin}/{LISTING_FILE}"


def review_path(plugin: str, version: str) -> str:
    """The review record of one submitted version."""
    return f"{REVIEWS_DIR}/{plugin}/{version}.yaml"
