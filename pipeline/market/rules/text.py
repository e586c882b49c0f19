"""listing.text: release notes and a changelog are there, and none of the text is a stub.

Notes are release.yaml's `notes` (or the notes file plugin.yaml declares in the package); the
changelog is release.yaml's `changes` (or the package's changelog file). Stub text is what
templates and generators leave behind: TODO/TBD/FIXME, lorem ipsum, "describe your changes",
and the "_No release notes._" the release request writes when `powerx publish create` is
given no notes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pipeline.market.findings import Finding
from pipeline.market.rules.base import Submission
from pipeline.market.rules.members import read_text

TEXT = "listing.text"
MIN_NOTES = 20
MAX_READ = 256 * 1024

STUB = re.compile(
    r"\b(TODO|TBD|FIXME|XXX)\b|lorem ipsum|_No release notes\._|"
    r"\b(describe|write|add) (your|the) (changes|release notes|plugin|description)( here)?\b|"
    r"\bplaceholder\b|\bchangeme\b|\binsert .{1,30} here\b",
    re.IGNORECASE,
)
"""Text that templates and generators leave for someone to replace."""

LISTING_TEXT: tuple[tuple[str | int, ...], ...] = (("title",), ("summary",), ("description",))


def stub_marker(text: str) -> str | None:
    """The stub words in `text`, if any."""
    found = STUB.search(text)
    return found.group(0) if found else None


def check_text(submission: Submission) -> Iterator[Finding]:
    """Notes and changelog present; no stub text in them or in the listing."""
    release = submission.release.model
    notes = release.notes.strip() or _package_text(submission, "notes")
    if len(notes) < MIN_NOTES:
        yield submission.release_finding(
            TEXT,
            "medium",
            "the release has no release notes"
            if not notes
            else f"the release notes are "
            f"{len(notes)} characters: too short to tell customers what changed",
            "write what changed and why (Markdown, at least "
            f"{MIN_NOTES} characters) in release.yaml's notes, or ship a NOTES.md in the "
            "package and name it in plugin.yaml's notes",
            *(("notes",) if release.notes else ()),
        )
    elif marker := stub_marker(notes):
        yield submission.release_finding(
            TEXT,
            "medium",
            f"the release notes are stub text ({marker!r})",
            "replace the template text with what really changed",
            "notes",
        )
    changes_text = "\n".join(f"{c.id} {c.title}" for c in release.changes)
    changelog = changes_text or _package_text(submission, "changelog")
    if not changelog.strip():
        yield submission.release_finding(
            TEXT,
            "medium",
            "the release has no changelog",
            "list the changes (tickets) under release.yaml's changes, or ship a CHANGELOG.md "
            "and name it in plugin.yaml's changelog",
        )
    elif marker := stub_marker(changelog):
        yield submission.release_finding(
            TEXT,
            "medium",
            f"the changelog is stub text ({marker!r})",
            "replace the template entries with the real changes",
            *(("changes",) if changes_text else ()),
        )
    yield from _listing_stubs(submission)


def _listing_stubs(submission: Submission) -> Iterator[Finding]:
    data = submission.listing_data
    places: list[tuple[tuple[str | int, ...], object]] = [
        (p, data.get(str(p[0]))) for p in LISTING_TEXT
    ]
    highlights = data.get("highlights")
    if isinstance(highlights, list):
        places += [(("highlights", i), h) for i, h in enumerate(highlights[:6])]
    for key_path, value in places:
        if isinstance(value, str) and (marker := stub_marker(value)):
            yield submission.finding(
                TEXT,
                "medium",
                f"{'.'.join(map(str, key_path))} is stub text ({marker!r})",
                "write the text customers will read in place of the template's",
                *key_path,
            )


def _package_text(submission: Submission, which: str) -> str:
    """The notes or changelog file the package declares, as text ('' if none).

    Asked only when release.yaml has none: then the package decides, so without it the rule
    cannot tell (RuleUnavailableError), and a refused package has none.
    """
    if submission.package.error is not None:
        return ""
    package = submission.package.require(f"the {which} are not in release.yaml, and the package")
    name = package.manifest.notes if which == "notes" else package.manifest.changelog
    return read_text(package.path, name, MAX_READ).strip() if name else ""
