"""What `powerx trust` and `powerx team` take from the command line, checked before any edit.

A public key file must hold an ECDSA P-256 public key: a private key is refused and its
content never echoed. A keyless signer is an https OIDC issuer and an e-mail or URI
identity (or a pattern over it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import ValidationError

from pipeline.errors import InputError
from pipeline.models.signing import IdentityRule
from pipeline.signing.keys import key_id, load_public_key, public_pem
from pipeline.urls import credential_problem, redact_url

MAX_KEY_FILE_BYTES = 64 * 1024
"""A PEM public key is a few hundred bytes."""

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class PublicKeyFile:
    """A public key read from a file and checked: its id and normalised PEM."""

    path: Path
    key_id: str
    pem: str


def read_public_key(path: Path) -> PublicKeyFile:
    """Read and check a public key file; a private key is refused and never echoed."""
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as error:
        raise InputError(
            f"cannot read public key file {path}: {error.strerror or error}",
            hint="give the .pub file px-plugin keygen wrote",
        ) from None
    if b"PRIVATE KEY" in raw:
        raise InputError(
            f"{path} holds a private key: refusing to put it in a policy",
            hint="give the public half (the .pub file px-plugin keygen wrote next to it); "
            "a private key never goes into the release repo",
        )
    if len(raw) > MAX_KEY_FILE_BYTES:
        raise InputError(f"{path} is over {MAX_KEY_FILE_BYTES // 1024} KiB: not a public key")
    public_key = load_public_key(raw, str(path))
    return PublicKeyFile(path, key_id(public_key), public_pem(public_key).decode())


def check_identity(identity: str | None, pattern: str | None, issuer: str) -> IdentityRule:
    """A keyless signer from command-line values: https issuer, e-mail or URI identity."""
    parts = urlsplit(issuer)
    if parts.scheme != "https" or not parts.hostname or credential_problem(issuer):
        raise InputError(
            f"issuer {redact_url(issuer)!r} is not an https URL without credentials",
            hint="give the OIDC issuer URL, e.g. https://token.actions.githubusercontent.com",
        )
    if (identity is None) == (pattern is None):
        raise InputError("give exactly one of --identity and --identity-regexp")
    if identity is not None and not (_EMAIL.match(identity) or _is_uri(identity)):
        raise InputError(
            f"identity {identity!r} is neither an e-mail address nor a URI",
            hint="e.g. ada@example.com, or https://github.com/ORG/REPO/.github/workflows/"
            "release.yml@refs/tags/v1.0.0 (use --identity-regexp for a pattern)",
        )
    try:
        return IdentityRule.model_validate(
            {"issuer": issuer, "subject": identity, "subjectPattern": pattern}
        )
    except ValidationError as error:
        raise InputError(error.errors()[0]["msg"].removeprefix("Value error, ")) from None


def _is_uri(text: str) -> bool:
    parts = urlsplit(text)
    return (
        bool(re.fullmatch(r"[a-z][a-z0-9+.-]*", parts.scheme))
        and bool(parts.netloc or parts.path)
        and not any(c.isspace() for c in text)
    )
