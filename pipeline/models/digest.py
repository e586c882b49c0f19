"""The one spelling of a sha256 digest: read `sha256:<hex>` or bare hex, keep bare hex.

Release manifests, plugin states and bundle manifests store the bare 64 lower-case hex
digits (the field's name says the algorithm: `artifact.sha256`, `digest`); the
`sha256:<hex>` spelling that `px-plugin pack` and cosign print is accepted wherever a
digest is read, and normalised. Upper-case hex, another length or another algorithm is
refused with a message that says which.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

PREFIX = "sha256:"
SHA256_DIGEST_PATTERN = r"^(sha256:)?[0-9a-f]{64}$"
"""The JSON Schema of a digest field (the validator below gives the reasons)."""

_HEX64 = re.compile(r"[0-9a-f]{64}")
_RULE = "a sha256 digest is 64 lower-case hex digits, optionally after 'sha256:'"
_ALGORITHM = re.compile(r"([A-Za-z][A-Za-z0-9+._-]*):")


def parse_sha256(text: str) -> str:
    """The bare hex of `sha256:<hex>` or `<hex>`; ValueError saying what is wrong."""
    value = text.strip()
    algorithm = _ALGORITHM.match(value)
    if algorithm and algorithm.group(1) != "sha256":
        raise ValueError(f"{_RULE}; {algorithm.group(1)!r} is not accepted")
    hexdigits = value.removeprefix(PREFIX)
    if _HEX64.fullmatch(hexdigits):
        return hexdigits
    if _HEX64.fullmatch(hexdigits.lower()):
        raise ValueError(f"{_RULE}; write the hex digits in lower case")
    if re.fullmatch(r"[0-9a-fA-F]*", hexdigits):
        raise ValueError(f"{_RULE}; this one has {len(hexdigits)}")
    raise ValueError(f"{_RULE}; this is not hex")


def digest_text(hexdigits: str) -> str:
    """How a digest is shown to people and pasted back: `sha256:<hex>`."""
    return PREFIX + parse_sha256(hexdigits)


Sha256Digest = Annotated[
    str,
    AfterValidator(parse_sha256),
    Field(
        json_schema_extra={"pattern": SHA256_DIGEST_PATTERN},
        description="a sha256 digest: 64 lower-case hex digits, optionally written "
        "sha256:<hex> (stored without the prefix)",
    ),
]
"""A digest field: accepts both spellings, holds the bare hex."""
