"""Verified signers of catalog versions, remembered across syncs.

Rebuilding a page (`--all`, a new catalog format) verifies its versions' signatures again,
though neither bundle, release record nor trust policy changed. A successful key-mode
verification is remembered in an index under the repo's git directory (`stampfile`), keyed
by everything it depends on: the bundle's blob id, the artifact's sha256, the plugin@version
it must name and the trust policy's digest; with the time window in which it holds (the
key's and the signed predicate's notBefore/notAfter), so a sync after a key expired
verifies again, and refuses. A refusal is never remembered (it is verified again, and says
why); keyless verifications are only remembered for the process (`blob_results`).

A first sync still verifies every version: the index only spares a rebuild.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline import stampfile
from pipeline.gitrepo import GitRepo
from pipeline.models.signing import SigningPolicy
from pipeline.signing.verify import Verification

log = logging.getLogger(__name__)

INDEX_FILE = Path("powerx") / "catalog-signers"
"""Where the index lives, under the repo's git directory."""
FORMAT = "powerx-catalog-signers"
INDEX_VERSION = 1
MAX_ENTRIES = 200_000
"""Past this (about 50 MB), the index keeps only what the last sync used."""

Row = list[Any]
"""[mode, identity, issuer, valid from (POSIX seconds or None), valid until (or None)]."""


def signer_key(bundle_blob: str, sha256: str, release_ref: str, trust: str) -> str:
    """The index key of one verification."""
    return f"{bundle_blob} {sha256} {release_ref} {trust}"


@dataclass
class SignerMemo:
    """The remembered verifications (`known`) and those this build verified or reused."""

    known: Mapping[str, Row] = field(default_factory=dict)
    used: dict[str, Row] = field(default_factory=dict)
    trust: str = ""
    """The trust policy's digest (`catalog_build.trust_digest`): part of every key."""

    def recall(self, key: str, now: datetime) -> Row | None:
        """The remembered verification under `key`, if it holds at `now`."""
        row = self.known.get(key)
        if row is None or not _holds(row, now):
            return None
        self.used[key] = row
        return row

    def remember(self, key: str, verified: Verification, policy: SigningPolicy) -> None:
        """Remember a successful key-mode verification, with the window it holds in."""
        if verified.mode != "key":
            return
        signing_key = next((k for k in policy.keys if k.id == verified.signer), None)
        release = verified.release
        starts = [
            moment
            for moment in (
                signing_key.not_before if signing_key else None,
                release.not_before if release else None,
            )
            if moment is not None
        ]
        ends = [
            moment
            for moment in (
                signing_key.not_after if signing_key else None,
                release.not_after if release else None,
            )
            if moment is not None
        ]
        self.used[key] = [
            verified.mode,
            verified.signer,
            verified.issuer,
            max(starts).timestamp() if starts else None,
            min(ends).timestamp() if ends else None,
        ]


def _holds(row: Row, now: datetime) -> bool:
    moment = now.timestamp()
    return (row[3] is None or moment >= row[3]) and (row[4] is None or moment < row[4])


def index_path(git: GitRepo) -> Path:
    """The index file of `git`."""
    return Path(git.repo.path) / INDEX_FILE


def load_memo(git: GitRepo) -> SignerMemo:
    """The remembered verifications of `git` (none when the index is absent or unusable)."""
    body = stampfile.read(index_path(git), stampfile.stamp(FORMAT, INDEX_VERSION))
    if body is None:
        return SignerMemo()
    try:
        rows = json.loads(body)
        if not isinstance(rows, dict) or not all(
            isinstance(row, list) and len(row) == 5 for row in rows.values()
        ):
            raise ValueError("not a map of rows")
    except ValueError as error:
        log.warning("index %s is not usable (%s); rebuilding", index_path(git), error)
        return SignerMemo()
    return SignerMemo(known=rows)


def save_memo(git: GitRepo, memo: SignerMemo) -> None:
    """Add what a build verified to the index (nothing new: no write). Entries of another
    trust policy than `memo.trust` (when set) are dropped: they would never match again."""
    fresh = {key: row for key, row in memo.used.items() if memo.known.get(key) != row}
    if not fresh:
        return
    kept = {
        key: row
        for key, row in memo.known.items()
        if not memo.trust or key.endswith(f" {memo.trust}")
    }
    rows = {**kept, **fresh} if len(kept) + len(fresh) <= MAX_ENTRIES else memo.used
    body = json.dumps(rows, separators=(",", ":"), sort_keys=True).encode()
    stampfile.write(index_path(git), stampfile.stamp(FORMAT, INDEX_VERSION), body)
