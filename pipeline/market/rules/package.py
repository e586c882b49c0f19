"""Rules on the package's contents: no secrets, and no permissions widened unseen.

The secret scan is a small set of well-known, high-confidence patterns (private keys,
cloud and forge tokens, `.env` files), bounded: every file is read in chunks, and past
`MAX_SCAN_BYTES` in all the rule cannot vouch for the rest, so it errors instead of passing.
A match is never echoed whole: findings show its first characters only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from pipeline.market.findings import Finding
from pipeline.market.rules.base import RuleUnavailableError, Submission
from pipeline.models.plugin import CHECKSUMS_FILE, SBOM_FILE

SECRETS = "package.secrets"
PERMISSIONS = "permissions.widened"

MAX_SCAN_BYTES = 256 * 1024 * 1024
"""Bytes the secret scan reads in all before it gives up (errored, not passed)."""
CHUNK = 1024 * 1024
OVERLAP = 4096
"""Bytes carried from one chunk to the next, so a secret across a chunk border is found."""
MAX_PER_FILE = 3

PATTERNS: tuple[tuple[str, re.Pattern[bytes]], ...] = (
    (
        "a private key",
        re.compile(
            rb"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----"
        ),
    ),
    ("an AWS access key id", re.compile(rb"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    (
        "a GitHub token",
        re.compile(rb"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})"),
    ),
    ("a GitLab token", re.compile(rb"\bglpat-[A-Za-z0-9_-]{20,}")),
    ("a Slack token", re.compile(rb"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a Google API key", re.compile(rb"\bAIza[0-9A-Za-z_-]{35}")),
    ("a Stripe live key", re.compile(rb"\b[sr]k_live_[0-9A-Za-z]{20,}")),
    ("a PyPI token", re.compile(rb"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{20,}")),
    ("an npm token", re.compile(rb"\bnpm_[A-Za-z0-9]{36}\b")),
)
"""What the scan looks for: (what it is, pattern)."""

SECRET_FILES = re.compile(
    r"^(?:\.env(?:\.[A-Za-z0-9_-]+)?|id_(?:rsa|dsa|ecdsa|ed25519)|.+\.(?:p12|pfx))$"
)
"""File names that hold secrets by their nature."""
HARMLESS_ENV = re.compile(r"^\.env\.(?:example|sample|template|dist)$")
SKIPPED = {CHECKSUMS_FILE, SBOM_FILE}
"""Files the packer writes itself (digests and the SBOM hold no secrets)."""


def check_secrets(submission: Submission) -> Iterator[Finding]:
    """No private keys, tokens or .env files anywhere in the package."""
    package = submission.package.require()
    assert package.root is not None  # the validator always extracts the package
    budget = MAX_SCAN_BYTES
    for packed in sorted(package.files, key=lambda f: f.path):
        if packed.path in SKIPPED:
            continue
        base = PurePosixPath(packed.path).name
        if SECRET_FILES.match(base) and not HARMLESS_ENV.match(base):
            yield _secret(packed.path, None, f"a {base!r} file, which holds secrets by design")
        budget -= packed.size
        if budget < 0:
            raise RuleUnavailableError(
                f"the package holds more than {MAX_SCAN_BYTES:,} bytes: too much to scan for "
                "secrets here; ask the Marketplace team to scan it"
            )
        yield from _scan_file(package.root / packed.path, packed.path)


def _scan_file(path: Path, name: str) -> Iterator[Finding]:
    """Findings for the secrets in one file (at most MAX_PER_FILE), with their lines."""
    found, line, carry = 0, 1, b""
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            window = carry + chunk
            for what, pattern in PATTERNS:
                for match in pattern.finditer(window):
                    if match.end() <= len(carry):
                        continue  # reported with the previous chunk
                    at = line + window.count(b"\n", 0, match.start()) - carry.count(b"\n")
                    yield _secret(name, at, f"{what} ({_redacted(match.group(0))})")
                    found += 1
                    if found >= MAX_PER_FILE:
                        return
            line += chunk.count(b"\n")
            carry = window[-OVERLAP:]


def _redacted(secret: bytes) -> str:
    text = secret.decode("ascii", "replace")
    return text[:6] + "…" if len(text) > 6 else "…"


def _secret(name: str, line: int | None, what: str) -> Finding:
    return Finding(
        SECRETS,
        "critical",
        f"{name} holds {what}",
        "remove it from the package and rotate it: anyone who downloaded the package has it; "
        "read secrets from the host's configuration at run time instead",
        file=name,
        line=line,
        path=name,
    )


def check_permissions(submission: Submission) -> Iterator[Finding]:
    """Permissions this version asks for that the listed version did not (human review)."""
    if submission.previous_version is None:
        return
    package = submission.package.require()
    previous = submission.previous_package.require(
        f"the package of the listed {submission.plugin}@{submission.previous_version}"
    )
    before = set(previous.manifest.permissions)
    for permission in package.manifest.permissions:
        if permission not in before:
            yield Finding(
                PERMISSIONS,
                "medium",
                f"asks for {permission!r}, which the listed {submission.previous_version} did "
                "not: a reviewer must confirm it, and subscribers are told",
                "explain the new permission in the release notes; drop it if it is not needed "
                "(px-plugin permissions template lists what the plugin really uses)",
                file="plugin.yaml",
                path=permission,
            )
