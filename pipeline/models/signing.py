"""`policies/signing.yaml`: who may sign releases, and the predicate a release signature carries.

The seed default trusts nobody: a repository must declare its signers (fail closed).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, field_validator, model_validator

from pipeline.models.base import Document, Name, SemVer, Sha256, Strict
from pipeline.models.keyids import public_key_id

GIT_COMMIT_PATTERN = r"^[0-9a-f]{40}([0-9a-f]{24})?$"
"""A full git commit id: 40 (SHA-1) or 64 (SHA-256) lower-case hex digits."""

SignatureMode = Literal["keyless", "key", "any"]


def _check_window(not_before: AwareDatetime | None, not_after: AwareDatetime | None) -> None:
    if not_before is not None and not_after is not None and not_after <= not_before:
        raise ValueError("notAfter must be later than notBefore")


class ReleasePredicate(Strict):
    """The predicate of a PowerX release statement: what was released, from where, by whom."""

    plugin: Name
    version: SemVer
    source_commit: str = Field(
        alias="sourceCommit",
        pattern=GIT_COMMIT_PATTERN,
        description="the git commit the artifact was built from",
    )
    builder: str = Field(
        min_length=1, description="who built it: a CI workflow URL, or a host/tool name"
    )
    not_before: AwareDatetime | None = Field(
        default=None, alias="notBefore", description="RFC 3339; the signature is not valid before"
    )
    not_after: AwareDatetime | None = Field(
        default=None, alias="notAfter", description="RFC 3339; the signature expires at"
    )

    @model_validator(mode="after")
    def _window(self) -> ReleasePredicate:
        _check_window(self.not_before, self.not_after)
        return self


class IdentityRule(Strict):
    """A keyless signer: an OIDC issuer and an exact subject or a full-match regex."""

    issuer: str = Field(
        min_length=1,
        description="OIDC issuer URL, e.g. https://token.actions.githubusercontent.com",
    )
    subject: str | None = Field(
        default=None, min_length=1, description="the exact certificate identity (SAN)"
    )
    subject_pattern: str | None = Field(
        default=None,
        alias="subjectPattern",
        min_length=1,
        description="a regular expression the whole identity must match",
    )

    @field_validator("subject_pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as error:
                raise ValueError(f"invalid regular expression: {error}") from None
        return value

    @model_validator(mode="after")
    def _one_subject(self) -> IdentityRule:
        if (self.subject is None) == (self.subject_pattern is None):
            raise ValueError("give exactly one of 'subject' and 'subjectPattern'")
        return self

    def matches_subject(self, identity: str) -> bool:
        """Whether `identity` is this rule's subject (exact) or matches its pattern (whole)."""
        if self.subject is not None:
            return identity == self.subject
        return re.fullmatch(str(self.subject_pattern), identity) is not None

    def describe(self) -> str:
        """The rule in words, for error messages."""
        who = (
            f"subject {self.subject!r}"
            if self.subject is not None
            else f"subject matching {self.subject_pattern!r}"
        )
        return f"{who} from issuer {self.issuer!r}"


class SigningKey(Strict):
    """A trusted public key (key mode), with its validity dates and revocation state."""

    name: Name | None = Field(
        default=None, description="a label for people and for `powerx trust remove NAME`"
    )
    id: Sha256 = Field(description="sha256 of the key's DER SubjectPublicKeyInfo, hex")
    public_key: str = Field(alias="publicKey", description="the ECDSA P-256 public key, PEM")
    not_before: AwareDatetime | None = Field(default=None, alias="notBefore")
    not_after: AwareDatetime | None = Field(default=None, alias="notAfter")
    revoked: bool = False
    revoked_at: AwareDatetime | None = Field(default=None, alias="revokedAt")
    reason: str | None = Field(default=None, description="why the key was revoked")

    @model_validator(mode="after")
    def _consistent(self) -> SigningKey:
        actual = public_key_id(self.public_key.encode())
        if actual != self.id:
            raise ValueError(f"id does not match publicKey (its key id is {actual})")
        _check_window(self.not_before, self.not_after)
        return self


KeyId = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class EnvironmentSigning(Strict):
    """Stricter signing rules for one environment."""

    require: SignatureMode = Field(
        default="any", description="which kind of signature this environment accepts"
    )
    identities: list[IdentityRule] | None = Field(
        default=None,
        description="if set, a keyless signer must also match one of these",
    )
    keys: list[KeyId] | None = Field(
        default=None, description="if set, a key signer must also be one of these key ids"
    )

    def accepts_key(self, key_id: str) -> bool:
        """Whether a signature by this key may sign for the environment (the one rule)."""
        return self.require in ("any", "key") and (self.keys is None or key_id in self.keys)


GIB = 1024**3


class BundleLimits(Strict):
    """How much a signed offline bundle may make a site read and write (a signature is
    not a licence to consume unbounded resources)."""

    max_entry_bytes: int = Field(
        default=8 * GIB,
        alias="maxEntryBytes",
        ge=1,
        description="largest single entry (an artifact), declared and streamed",
    )
    max_total_bytes: int = Field(
        default=64 * GIB,
        alias="maxTotalBytes",
        ge=1,
        description="largest sum of all entries, declared and streamed",
    )
    max_entries: int = Field(
        default=100_000, alias="maxEntries", ge=1, description="most entries in the index"
    )


class BundleSigning(EnvironmentSigning):
    """Who may sign offline bundles, and the limits a bundle must keep."""

    limits: BundleLimits = Field(default_factory=BundleLimits)


class SigningPolicy(Document):
    """Trusted signers of release artifacts: `policies/signing.yaml`."""

    kind: Literal["SigningPolicy"]
    identities: list[IdentityRule] = Field(
        default_factory=list, description="trusted keyless (Sigstore) signers"
    )
    keys: list[SigningKey] = Field(default_factory=list, description="trusted signing keys")
    revoked_keys: list[KeyId] = Field(
        default_factory=list,
        alias="revokedKeys",
        description="key ids never trusted again, even when given on the command line",
    )
    environments: dict[Name, EnvironmentSigning] = Field(default_factory=dict)
    bundles: BundleSigning | None = Field(
        default=None,
        description="who may sign offline bundles (powerx export): a subset of the keys and "
        "identities above, and the size limits of a bundle; unset: this site trusts no bundle",
    )

    @model_validator(mode="after")
    def _unique_keys(self) -> SigningPolicy:
        ids = [key.id for key in self.keys]
        duplicates = sorted({key for key in ids if ids.count(key) > 1})
        if duplicates:
            raise ValueError(f"key ids listed more than once: {', '.join(duplicates)}")
        names = [key.name for key in self.keys if key.name is not None]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"key names listed more than once: {', '.join(twice)}")
        return self

    def revoked_ids(self) -> frozenset[str]:
        """Ids of every revoked key: the `revokedKeys` list and keys marked `revoked`."""
        return frozenset(self.revoked_keys) | {key.id for key in self.keys if key.revoked}
