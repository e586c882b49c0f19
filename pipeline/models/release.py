"""`releases/<plugin>/<version>/release.yaml`: one released version of a plugin."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, HttpUrl, field_validator, model_validator

from pipeline.models.base import Document, Name, SemVer, Strict, VersionRangeText
from pipeline.models.digest import Sha256Digest

Channel = Literal["online", "offline"]
ONLINE: Channel = "online"


class Artifact(Strict):
    """The plugin package this release ships, pinned by digest."""

    uri: str = Field(
        min_length=1, description="where the .pxp lives: https://..., file://... or a repo path"
    )
    sha256: Sha256Digest
    size: int = Field(ge=0, description="size in bytes")
    signature: str | None = Field(
        default=None,
        min_length=1,
        description="its Sigstore bundle, relative to the release folder "
        "(e.g. hello-1.0.0.pxp.sigstore.json); required by the signature gate",
    )


class Change(Strict):
    """One registered change (ticket) that this release delivers."""

    id: str = Field(min_length=1, description="the change's id in the tracker, e.g. PX-101")
    title: str = Field(min_length=1)
    link: HttpUrl | None = None


class Evidence(Strict):
    """Reports produced by real tools, as paths relative to the release folder."""

    coverage: list[str] = Field(
        default_factory=list,
        description="coverage.py JSON, Cobertura XML, LCOV or Go coverage profile reports",
    )
    tests: list[str] = Field(
        default_factory=list,
        description="JUnit XML reports (pytest, node --test, Jest, gotestsum, Surefire...)",
    )
    scans: list[str] = Field(
        default_factory=list, description="SARIF 2.1.0 reports (bandit, checkov, ESLint...)"
    )


class Contact(Strict):
    """Someone to reach about this release."""

    name: str = Field(min_length=1)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    role: str | None = None


class RollbackPlaybook(Strict):
    """How to undo this release if it misbehaves."""

    playbook: str = Field(min_length=1, description="the steps, in Markdown")
    to: SemVer | None = Field(default=None, description="the version to go back to")


class Release(Document):
    """A released plugin version: artifact, evidence, compatibility and who to call."""

    kind: Literal["Release"]
    plugin: Name
    version: SemVer
    artifact: Artifact
    notes: str = Field(default="", description="release notes, in Markdown")
    changes: list[Change] = Field(default_factory=list)
    evidence: Evidence = Field(default_factory=Evidence)
    compatibility: dict[str, VersionRangeText] = Field(
        description="host ranges this plugin runs on; must name 'powerx'"
    )
    dependencies: dict[Name, VersionRangeText] = Field(
        default_factory=dict, description="other plugins and the versions this one needs"
    )
    license: str = Field(
        pattern=r"^[()]*[A-Za-z0-9.+-]+[()]*( (AND|OR|WITH) [()]*[A-Za-z0-9.+-]+[()]*)*$",
        description="an SPDX licence id or expression, e.g. Apache-2.0",
    )
    channels: list[Channel] = Field(default_factory=lambda: [ONLINE], min_length=1)

    @field_validator("channels")
    @classmethod
    def _unique_channels(cls, channels: list[Channel]) -> list[Channel]:
        if len(set(channels)) != len(channels):
            raise ValueError("each channel may be listed once")
        return channels

    rollback: RollbackPlaybook
    contacts: list[Contact] = Field(min_length=1)

    @model_validator(mode="after")
    def _names_the_host(self) -> Release:
        if "powerx" not in self.compatibility:
            raise ValueError(
                "compatibility must give a range for the host, e.g. powerx: '>=2.4,<3'"
            )
        return self

    @property
    def ref(self) -> str:
        """`plugin@version`, the way people name a release."""
        return f"{self.plugin}@{self.version}"
