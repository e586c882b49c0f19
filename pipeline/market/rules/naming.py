"""naming.squatting: a new plugin's name must not imitate a listed one."""

from __future__ import annotations

from collections.abc import Iterator

from pipeline.market import records
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


def listed_plugins(submission: Submission) -> list[str]:
    """Plugins with at least one listed (approved) version."""
    snapshot = submission.snapshot
    return [p for p in records.reviewed_plugins(snapshot) if records.listed_versions(snapshot, p)]


def check_squatting(submission: Submission) -> Iterator[Finding]:
    """The name is not within squattingDistance edits of another listed plugin's."""
    limit = submission.policies.market.squatting_distance
    listed = listed_plugins(submission)
    if limit == 0 or submission.plugin in listed:
        return  # a listed plugin was judged when it was first listed
    name = submission.plugin
    for other in listed:
        distance = edit_distance(name, other, limit=limit)
        if distance <= limit:
            yield submission.release_finding(
                SQUATTING,
                "high",
                f"the name {name!r} is {distance} edit{'s' if distance != 1 else ''} away from "
                f"the listed plugin {other!r}: customers would confuse them",
                "choose a distinct name; if you make both plugins, ask the Marketplace team for "
                "an exception in policies/market.yaml",
                "plugin",
            )
