"""Rules on the package's contents: no secrets, and no permissions widened unseen.

The secret scan is a small set of well-known, high-confidence patterns (private keys,
cloud and forge tokens, `.env` files), bounded: the verified package is streamed (never
extracted), every file read in chunks; a package of more than `MAX_SCAN_BYTES` in all is
not scanned (errored, never passed).
A match is never echoed whole: findings show its first characters only.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from pathlib import PurePosixPath
from typing import IO

from pipeline.market.findings import Finding
from pipeline.market.rules.base import RuleUnavailableError, Submission
from pipeline.market.rules.members import package_files
from pipeline.models.plugin import CHECKSUMS_FILE, SBOM_FILE

SECRETS = "package.secrets"
PERMISSIONS = "permissions.widened"

MAX_SCAN_BYTES = 256 * 1024 * 1024
"""Bytes the secret scan reads in all before it gives up (errored, not passed)."""
CHUNK = 1024 * 1024
OVERLAP = 4096
"""Bytes carried from one chunk to the next, so a secret across a chunk border is found."""
MAX_PER_FILE = 3

PATTERNS: tuple[tuple[str, tuple[bytes, ...], re.Pattern[bytes]], ...] = (
    (
        "a private key",
        (b"PRIVATE KEY",),
        re.compile(
            rb"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----"
        ),
    ),
    ("an AWS access key id", (b"AKIA", b"ASIA"), re.compile(rb"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    (
        "a GitHub token",
        (b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_", b"github_pat_"),
        re.compile(rb"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})"),
    ),
    ("a GitLab token", (b"glpat-",), re.compile(rb"\bglpat-[A-Za-z0-9_-]{20,}")),
    ("a Slack token", (b"xox",), re.compile(rb"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a Google API key", (b"AIza",), re.compile(rb"\bAIza[0-9A-Za-z_-]{35}")),
    ("a Stripe live key", (b"k_live_",), re.compile(rb"\b[sr]k_live_[0-9A-Za-z]{20,}")),
    ("a PyPI token", (b"pypi-AgEI",), re.compile(rb"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{20,}")),
    ("an npm token", (b"npm_",), re.compile(rb"\bnpm_[A-Za-z0-9]{36}\b")),
)
"""What the scan looks for: (what it is, literals one of which every match holds, pattern).
A chunk is searched with a pattern only when it holds one of its literals (a fast scan)."""

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
    total = sum(packed.size for packed in package.files if packed.path not in SKIPPED)
    if total > MAX_SCAN_BYTES:
        raise RuleUnavailableError(
            f"the package holds {total:,} bytes, more than the {MAX_SCAN_BYTES:,} scanned for "
            "secrets here; ask the Marketplace team to scan it"
        )
    for packed in sorted(package.files, key=lambda f: f.path):
        base = PurePosixPath(packed.path).name
        if SECRET_FILES.match(base) and not HARMLESS_ENV.match(base):
            yield _secret(packed.path, None, f"a {base!r} file, which holds secrets by design")
    budget = total
    for name, stream in package_files(package.path):
        if name not in SKIPPED:
            budget = yield from _scan(stream, name, budget)


def _scan(stream: IO[bytes], name: str, budget: int) -> Generator[Finding, None, int]:
    """Findings for the secrets in one file (at most MAX_PER_FILE); the budget left."""
    found, line, carry = 0, 1, b""
    while chunk := stream.read(CHUNK):
        budget -= len(chunk)
        if budget < 0:
            raise RuleUnavailableError("the package changed while it was scanned for secrets")
        window = carry + chunk
        for what, literals, pattern in PATTERNS:
            if not any(literal in window for literal in literals):
                continue
            for match in pattern.finditer(window):
                if match.end() <= len(carry):
                    continue  # reported with the previous chunk
                at = line + window.count(b"\n", 0, match.start()) - carry.count(b"\n")
                yield _secret(name, at, f"{what} ({_redacted(match.group(0))})")
                found += 1
                if found >= MAX_PER_FILE:
                    return budget
        line += chunk.count(b"\n")
        carry = window[-OVERLAP:]
    return budget


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
    manifest = submission.package.require_manifest()
    previous = submission.previous_package.require_manifest(
        f"the package of the listed {submission.plugin}@{submission.previous_version}"
    )
    before = set(previous.permissions)
    for permission in manifest.permissions:
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
