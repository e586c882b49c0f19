"""Offline bundles: the signed manifest `bundle.json`, and a site's `imports/<env>.yaml`.

A bundle is one tar file whose first entry is `bundle.json` (a `BundleManifest`) and whose
second is its signature `bundle.json.sigstore.json`; every other entry is listed in the
manifest's `files` index with its sha256 and size. A site records what it imported last,
per environment, in `imports/<env>.yaml` (an `ImportState`), so anti-rollback lives in git.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field, field_validator, model_validator

from pipeline.models.base import Document, Name, SemVer, Strict
from pipeline.models.digest import Sha256Digest
from pipeline.models.signing import GIT_COMMIT_PATTERN

BUNDLE_FORMAT = 1
"""The bundle layout version this code writes and reads."""


class BundleFile(Strict):
    """One entry of the bundle, pinned by digest and size."""

    path: str = Field(
        pattern=r"^(environment|releases|artifacts|entitlements)/[A-Za-z0-9._+@/-]+$",
        description="the entry's name in the tar, relative, '/'-separated",
    )
    sha256: Sha256Digest
    size: int = Field(ge=0, description="size in bytes")

    @field_validator("path")
    @classmethod
    def _plain_segments(cls, path: str) -> str:
        if any(part in ("", ".", "..") for part in path.split("/")):
            raise ValueError("path segments may not be empty, '.' or '..'")
        return path


class BundleSource(Strict):
    """Where the bundle comes from: the release repo and the commit it was exported at."""

    repo: str = Field(min_length=1, description="a name for the source release repo")
    commit: str = Field(pattern=GIT_COMMIT_PATTERN)


class BundleRelease(Strict):
    """A release the bundle's environment needs: deployed there, or a dependency of one."""

    plugin: Name
    version: SemVer
    artifact: Sha256Digest = Field(description="sha256 of the release's .pxp")
    role: Literal["deployed", "dependency"]
    included: bool = Field(
        description="true: its files and artifact are in this bundle; "
        "false: an incremental bundle expects the site to have them already"
    )


class BundleBase(Strict):
    """What an incremental bundle was cut against (--since)."""

    commit: str | None = Field(default=None, pattern=GIT_COMMIT_PATTERN)
    bundle: Sha256Digest | None = Field(
        default=None, description="sha256 of the earlier bundle.json"
    )
    sequence: int | None = Field(default=None, ge=0)


class BundleManifest(Document):
    """`bundle.json`: what the bundle holds, signed as a whole by its exporter."""

    kind: Literal["OfflineBundle"]
    format: Literal[1] = Field(description="the bundle layout version")
    environment: Name
    sequence: int = Field(
        ge=1, description="grows with every export (milliseconds since 1970 at creation)"
    )
    created: AwareDatetime
    expires: AwareDatetime = Field(description="the bundle is refused after this time")
    source: BundleSource
    since: BundleBase | None = Field(default=None, description="set for incremental bundles")
    releases: list[BundleRelease] = Field(default_factory=list)
    files: list[BundleFile] = Field(description="every other entry of the tar, in order")

    @model_validator(mode="after")
    def _consistent(self) -> BundleManifest:
        if self.expires <= self.created:
            raise ValueError("expires must be later than created")
        paths = [entry.path for entry in self.files]
        if len(set(paths)) != len(paths):
            raise ValueError("a path is listed twice in files")
        return self

    def total_size(self) -> int:
        """Bytes of every indexed entry."""
        return sum(entry.size for entry in self.files)


class ImportRecord(Strict):
    """One bundle a site imported."""

    sequence: int = Field(ge=1)
    bundle: Sha256Digest = Field(description="sha256 of the imported bundle.json")
    source_commit: str = Field(alias="sourceCommit", pattern=GIT_COMMIT_PATTERN)
    imported_at: AwareDatetime = Field(alias="importedAt")
    operator: str | None = None
    overrides: list[str] = Field(
        default_factory=list, description="refusals an admin overrode (rollback, expired)"
    )


class ImportState(Document):
    """`imports/<env>.yaml`: the last bundle a site imported into one environment."""

    kind: Literal["ImportState"]
    environment: Name
    last: ImportRecord = Field(description="the newest import; its sequence is the floor")
    history: list[ImportRecord] = Field(
        default_factory=list, description="earlier imports, newest first (bounded)"
    )


ImportResultName = Literal["imported", "refused", "rolled back"]


class ImportAttempt(Strict):
    """One line of `<plugin store>/incoming/imports.jsonl`: one `powerx plugin import
    --offline` run, whatever its result (a refusal writes nothing else anywhere)."""

    time: AwareDatetime = Field(description="when the import ran")
    bundle_file: str = Field(alias="bundleFile", description="the bundle's file name")
    digest: Sha256Digest | None = Field(
        default=None, description="sha256 of its bundle.json (None: the manifest was unreadable)"
    )
    sequence: int | None = Field(default=None, ge=1)
    environment: Name | None = None
    signer: str | None = Field(
        default=None,
        description="who signed bundle.json, as trusted by the site: 'key <id>' or "
        "'keyless <identity> (<issuer>)' (None: not verified)",
    )
    operator: str | None = None
    result: ImportResultName
    reason: str | None = Field(
        default=None, description="why it was refused or rolled back (shortened when long)"
    )
    exit_code: int = Field(alias="exitCode", ge=0, description="the import's exit code")
    commit: str | None = Field(
        default=None, pattern=GIT_COMMIT_PATTERN, description="the import commit, when it landed"
    )
