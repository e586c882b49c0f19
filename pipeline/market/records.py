"""Reading the Marketplace's files from the repo at one revision (one home for these reads)."""

from __future__ import annotations

from pipeline.market import REVIEWS_DIR, SUBSCRIPTIONS_FILE, listing_path, review_path
from pipeline.market.catalog_read import read_model
from pipeline.models.listing import Listing
from pipeline.models.market import Review, Subscriptions
from pipeline.models.semver import Version
from pipeline.snapshot import Loaded, Snapshot


def load_listing(snapshot: Snapshot, plugin: str) -> Loaded[Listing] | None:
    """`releases/<plugin>/listing.yaml`, None if the plugin has none."""
    return snapshot.load(listing_path(plugin), Listing)


def load_review(snapshot: Snapshot, plugin: str, version: str) -> Loaded[Review] | None:
    """The review record of plugin@version, None if it was never submitted."""
    return snapshot.load(review_path(plugin, version), Review)


def reviewed_plugins(snapshot: Snapshot) -> list[str]:
    """Plugins with at least one review record."""
    return sorted(
        name for name, is_dir in snapshot.git.list_dir(snapshot.commit, REVIEWS_DIR) if is_dir
    )


def reviews(snapshot: Snapshot, plugin: str) -> dict[str, Review]:
    """Every review record of a plugin, by version, newest version first (read without
    line numbers; an invalid one is refused as `load_review` refuses it, with its line)."""
    found: list[tuple[Version, str, Review]] = []
    for name, is_dir in snapshot.git.list_dir(snapshot.commit, f"{REVIEWS_DIR}/{plugin}"):
        if is_dir or not name.endswith(".yaml"):
            continue
        version = name.removesuffix(".yaml")
        try:
            parsed = Version.parse(version)
        except ValueError:
            continue
        review = read_model(snapshot, review_path(plugin, version), Review)
        if review is not None:
            found.append((parsed, version, review))
    return {
        version: review for _, version, review in sorted(found, key=lambda f: f[0], reverse=True)
    }


def listed_versions(snapshot: Snapshot, plugin: str) -> list[str]:
    """Versions of a plugin whose review ended approved (listed), newest first."""
    return [
        version
        for version, review in reviews(snapshot, plugin).items()
        if review.state == "approved"
    ]


def load_subscriptions(snapshot: Snapshot) -> Subscriptions | None:
    """`market/subscriptions.yaml`, None if there is none."""
    loaded = snapshot.load(SUBSCRIPTIONS_FILE, Subscriptions)
    return loaded.model if loaded else None
