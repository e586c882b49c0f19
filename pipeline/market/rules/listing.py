"""Rules on the listing itself: its fields, its screenshots and its links."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

from pipeline.errors import InputError
from pipeline.market import listing_path
from pipeline.market.findings import Finding
from pipeline.market.images import ImageError, inspect_image
from pipeline.market.rules.base import Submission
from pipeline.urls import credential_problem, redact_url

FIELDS = "listing.fields"
SCREENSHOTS = "listing.screenshots"
LINKS = "listing.links"

LINK_FIELDS: tuple[tuple[str | int, ...], ...] = (
    ("support", "url"),
    ("documentation",),
    ("vendor", "url"),
)
"""Every listing field that holds a URL."""


def check_fields(submission: Submission) -> Iterator[Finding]:
    """The listing exists, parses, and has every required field within its limits."""
    if submission.listing.raw is None:
        yield Finding(
            FIELDS,
            "high",
            f"{submission.plugin} has no listing",
            f"write {listing_path(submission.plugin)} (see docs/formats.md#listing) and commit "
            "it with its screenshots under releases/<plugin>/listing/",
            file=submission.listing.file,
        )
        return
    for error in submission.listing_errors:
        yield _from_input_error(submission, error)
    model = submission.listing_model
    if model is not None and model.plugin != submission.plugin:
        yield submission.finding(
            FIELDS,
            "high",
            f"the listing is for {model.plugin!r}, not {submission.plugin!r}",
            f"set 'plugin: {submission.plugin}' (a listing describes one plugin)",
            "plugin",
        )


def _from_input_error(submission: Submission, error: InputError) -> Finding:
    """A parse or validation error of listing.yaml, as a finding at its line."""
    where = error.location
    remedy = error.hint or "fix the field as the message says; docs/formats.md#listing lists them"
    return Finding(
        FIELDS,
        "high",
        error.message,
        remedy,
        file=submission.listing.file,
        line=where.line if where else None,
    )


def check_screenshots(submission: Submission) -> Iterator[Finding]:
    """Every screenshot is a real PNG or JPEG within the policy's size and dimensions."""
    limits = submission.policies.market.screenshots
    shots = submission.listing_data.get("screenshots")
    if not isinstance(shots, list):
        return  # no listing, or no screenshots field: listing.fields reports it
    for index, shot in enumerate(shots[:8]):
        name = shot.get("file") if isinstance(shot, dict) else None
        if not isinstance(name, str) or not name:
            continue  # listing.fields reports the missing file name
        where = ("screenshots", index, "file")
        try:
            data = submission.listing.read_asset(name, limits.max_bytes)
        except InputError as refused:
            yield submission.finding(
                SCREENSHOTS,
                "medium",
                f"screenshot {name}: {refused.message}",
                refused.hint or "keep screenshots inside the listing folder, within the limits",
                *where,
            )
            continue
        if data is None:
            yield submission.finding(
                SCREENSHOTS,
                "medium",
                f"screenshot {name} does not exist",
                "commit the image next to listing.yaml (e.g. listing/main.png) or fix the path",
                *where,
            )
            continue
        try:
            inspect_image(data, limits)
        except ImageError as problem:
            yield submission.finding(
                SCREENSHOTS,
                "medium",
                f"screenshot {name} {problem.message}",
                problem.remedy,
                *where,
            )


def check_links(submission: Submission) -> Iterator[Finding]:
    """Every link of the listing is an https URL without credentials."""
    data = submission.listing_data
    for key_path in LINK_FIELDS:
        value: object = data
        for part in key_path:
            value = value.get(str(part)) if isinstance(value, dict) else None
        if isinstance(value, str):
            yield from _link(submission, value, key_path)


def _link(submission: Submission, url: str, key_path: tuple[str | int, ...]) -> Iterator[Finding]:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        parts = None
    if parts is None or parts.scheme != "https" or not parts.hostname:
        yield submission.finding(
            LINKS,
            "medium",
            f"{redact_url(url)[:80]!r} is not an https link",
            "link to an https:// page (customers' browsers refuse or warn about others)",
            *key_path,
        )
        return
    problem = credential_problem(url)
    if problem is not None:
        yield submission.finding(
            LINKS,
            "high",
            f"the link {'.'.join(map(str, key_path))} {problem}",
            "remove the credentials from the link and rotate them",
            *key_path,
        )
