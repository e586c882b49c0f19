"""What a validator rule is, and what it sees of a submission.

A rule is a small function `check(submission) -> findings` with a stable id and a version
(bumped whenever what it accepts changes, so the ruleset id changes with it). It raises
`RuleUnavailableError` when it cannot run (a missing package, store or tool): the validator
reports that as *errored*, never as passed or failed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.errors import InputError
from pipeline.market.findings import Finding, Severity
from pipeline.models.listing import Listing
from pipeline.models.market import RuleMode
from pipeline.models.plugin import PluginManifest
from pipeline.models.policy import PolicySet
from pipeline.models.release import Release
from pipeline.packaging import PackageInfo
from pipeline.snapshot import Loaded, Snapshot
from pipeline.yamlio import YamlDocument


class RuleUnavailableError(Exception):
    """A rule cannot run: an input or a tool it needs is missing (outcome errored)."""


@dataclass(frozen=True)
class Rule:
    """One validator rule."""

    id: str
    version: int
    title: str
    check: Callable[[Submission], Iterable[Finding]]
    default_mode: RuleMode = "enforced"
    needs_package: bool = False
    needs_previous: bool = False

    @property
    def key(self) -> str:
        """`id@version`, as the ruleset id records it."""
        return f"{self.id}@{self.version}"


@dataclass(frozen=True)
class ListingInput:
    """The listing under review: its bytes, where they came from, and its screenshots."""

    file: str
    """The path shown in findings (a repo path, or the local file given with --listing)."""
    raw: bytes | None
    read_asset: Callable[[str, int], bytes | None]
    """read_asset(path relative to the listing's folder, max bytes) -> bytes, None if absent;
    InputError when the file is over the limit or the path leaves the folder."""


@dataclass(frozen=True)
class PackageInput:
    """A package of the submission: verified and extracted, or why it is not available."""

    info: PackageInfo | None = None
    manifest: PluginManifest | None = None
    """Its plugin.yaml (also known without `info` for a listed version's package)."""
    missing: str | None = None
    """Why there is no package to look at (no store given, not in the store...)."""
    error: InputError | None = None
    """Why the package was refused when read (corrupt, unsafe, checksums wrong)."""

    def require(self, what: str = "the package") -> PackageInfo:
        """The package, or RuleUnavailableError saying why there is none."""
        if self.info is not None:
            return self.info
        if self.error is not None:
            raise RuleUnavailableError(f"{what} could not be read: {self.error.message}")
        if what == "the package" and self.missing:
            raise RuleUnavailableError(self.missing)
        raise RuleUnavailableError(
            f"{what} is not available" + (f": {self.missing}" if self.missing else "")
        )

    def require_manifest(self, what: str = "the package") -> PluginManifest:
        """The package's plugin.yaml, or RuleUnavailableError saying why there is none."""
        if self.manifest is not None:
            return self.manifest
        return self.require(what).manifest


@dataclass(frozen=True)
class Submission:
    """Everything the rules look at for one plugin@version."""

    snapshot: Snapshot
    policies: PolicySet
    plugin: str
    version: str
    now: datetime
    release: Loaded[Release]
    listing: ListingInput
    listing_doc: YamlDocument | None = None
    listing_model: Listing | None = None
    listing_errors: tuple[InputError, ...] = ()
    package: PackageInput = field(default_factory=PackageInput)
    previous_version: str | None = None
    """The newest listed version older than this one (None: nothing listed before)."""
    previous_package: PackageInput = field(default_factory=PackageInput)

    @property
    def listing_data(self) -> dict[str, Any]:
        """The listing as plain data (empty when absent or not a mapping)."""
        data = self.listing_doc.data if self.listing_doc is not None else None
        return data if isinstance(data, dict) else {}

    def listing_line(self, *key_path: str | int) -> int | None:
        """The line of a listing field, when known."""
        if self.listing_doc is None:
            return None
        return self.listing_doc.locate(key_path).line

    def finding(
        self,
        rule: str,
        severity: Severity,
        message: str,
        remedy: str,
        *key_path: str | int,
        path: str | None = None,
    ) -> Finding:
        """A finding about the listing, at the line of `key_path`."""
        return Finding(
            rule=rule,
            severity=severity,
            message=message,
            remedy=remedy,
            file=self.listing.file,
            line=self.listing_line(*key_path) if key_path else None,
            path=path or _dotted(key_path),
        )

    def release_finding(
        self,
        rule: str,
        severity: Severity,
        message: str,
        remedy: str,
        *key_path: str | int,
        path: str | None = None,
    ) -> Finding:
        """A finding about release.yaml, at the line of `key_path`."""
        where = self.release.locate(*key_path)
        return Finding(
            rule=rule,
            severity=severity,
            message=message,
            remedy=remedy,
            file=where.path,
            line=where.line,
            path=path or _dotted(key_path),
        )


def _dotted(key_path: tuple[str | int, ...]) -> str | None:
    """`pricing.plans[0].price` for ('pricing', 'plans', 0, 'price')."""
    text = ""
    for part in key_path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or None
