"""The base of every file model, and shared field types."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from pipeline.models.semver import SEMVER_PATTERN, VersionRange

API_VERSION = "powerx.io/v1alpha1"

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
"""Plugin, environment and tenant names: lower-case DNS labels, safe in paths and URLs."""

Name = Annotated[
    str,
    Field(pattern=NAME_PATTERN, description="lower-case letters, digits and '-', 1-63 chars"),
]
SemVer = Annotated[
    str, Field(pattern=SEMVER_PATTERN, description="a semantic version (semver.org), e.g. 1.4.0")
]
SHA256_PATTERN = r"^[0-9a-f]{64}$"
Sha256 = Annotated[
    str, Field(pattern=SHA256_PATTERN, description="a sha256 digest, 64 lower-case hex digits")
]


def _check_range(text: str) -> str:
    VersionRange.parse(text)
    return text


VersionRangeText = Annotated[
    str,
    AfterValidator(_check_range),
    Field(
        description="comma-separated comparators (>=, >, <=, <, =, !=, ^, ~), e.g. '>=2.4,<3'",
        examples=[">=2.4,<3", "^1.2"],
    ),
]


class Strict(BaseModel):
    """A part of a file: unknown fields are rejected, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Document(Strict):
    """A whole file: it names its schema with `apiVersion` and `kind`."""

    api_version: str = Field(
        alias="apiVersion",
        pattern=r"^powerx\.io/v1alpha1$",
        description=f"always {API_VERSION}",
    )
