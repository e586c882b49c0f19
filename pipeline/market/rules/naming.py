"""naming.squatting: a new plugin's name must not imitate a listed one."""

from __future__ import annotations

from collections.abc import Iterator

from pipeline import layout
from pipeline.market import listing_path, records
from pipeline.market.findings import Finding
from pipeline.market.rules.base import Submission

SQUATTING = "naming.squatting"


def edit_distance(a: str, b: str, *, limit: int) -> int:
    """Optimal string alignment distance (a swap of neighbours counts 1), capped at limit+1."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return min(previous[-1], limit + 1)


def candidate_names(submission: Submission) -> set[str]:
    """Plugins that have a review record or a listing (folder listings only: no parsing)."""
    snapshot = submission.snapshot
    with_listing = {
        name
        for name, is_dir in snapshot.git.list_dir(snapshot.commit, layout.RELEASES)
        if is_dir and snapshot.blob_id(listing_path(name)) is not None
    }
    return with_listing | set(records.reviewed_plugins(snapshot))


def check_squatting(submission: Submission) -> Iterator[Finding]:
    """The name is not within squattingDistance edits of another listed plugin's."""
    limit = submission.policies.market.squatting_distance
    name, snapshot = submission.plugin, submission.snapshot
    if limit == 0 or records.listed_versions(snapshot, name):
        return  # a listed plugin was judged when it was first listed
    close = sorted(
        (distance, other)
        for other in candidate_names(submission) - {name}
        if (distance := edit_distance(name, other, limit=limit)) <= limit
    )
    for distance, other in close:  # only the close names' reviews are read
        if not records.listed_versions(snapshot, other):
            continue
        yield submission.release_finding(
            SQUATTING,
            "high",
            f"the name {name!r} is {distance} edit{'s' if distance != 1 else ''} away from "
            f"the listed plugin {other!r}: customers would confuse them",
            "choose a distinct name; if you make both plugins, ask the Marketplace team for "
            "an exception in policies/market.yaml",
            "plugin",
        )
