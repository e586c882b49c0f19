"""Anti-rollback and freshness, as TUF's snapshot/timestamp roles protect them.

A site keeps, per environment, the last bundle it imported in `imports/<env>.yaml` of its
own release repo (so the floor is in git, reviewed and audited like everything else). A
bundle whose sequence number is not above that floor (a replay, or an older bundle) or
whose `expires` has passed is refused, unless the admin overrides it explicitly; each
override is written into the import commit's trailers and into the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pipeline.errors import GateError
from pipeline.gitrepo import Commit, GitRepo
from pipeline.models.base import API_VERSION
from pipeline.models.bundle import BundleManifest, ImportRecord, ImportState
from pipeline.snapshot import Snapshot

IMPORTS = "imports"
HISTORY_KEPT = 20


def import_state_path(environment: str) -> str:
    """Where a site records its last import into `environment`."""
    return f"{IMPORTS}/{environment}.yaml"


def load_import_state(git: GitRepo, commit: Commit, environment: str) -> ImportState | None:
    """The site's import record for `environment` at `commit`, or None before the first import."""
    loaded = Snapshot(git, commit).load(import_state_path(environment), ImportState)
    return loaded.model if loaded is not None else None


@dataclass(frozen=True)
class Freshness:
    """The outcome of the anti-rollback check."""

    already_imported: bool
    """This very bundle is the site's last import: a re-run resumes after the commit."""
    overrides: tuple[str, ...] = ()


def check_freshness(
    manifest: BundleManifest,
    digest: str,
    state: ImportState | None,
    *,
    now: datetime,
    allow_rollback: bool = False,
    allow_expired: bool = False,
) -> Freshness:
    """GateError unless the bundle is newer than the last import and not expired."""
    if state is not None and state.last.bundle == digest:
        return Freshness(already_imported=True)
    overrides: list[str] = []
    if state is not None and manifest.sequence <= state.last.sequence:
        what = "a replay of" if manifest.sequence == state.last.sequence else "older than"
        if not allow_rollback:
            raise GateError(
                f"anti-rollback: bundle sequence {manifest.sequence} is {what} the last import "
                f"into {manifest.environment} (sequence {state.last.sequence}, "
                f"imported {state.last.imported_at.isoformat()})",
                hint="import a newer bundle; to go back on purpose pass --allow-rollback "
                "(recorded in the import commit)",
            )
        overrides.append(f"rollback from sequence {state.last.sequence} to {manifest.sequence}")
    if manifest.expires <= now:
        if not allow_expired:
            raise GateError(
                f"the bundle expired at {manifest.expires.isoformat()} (now {now.isoformat()})",
                hint="ask for a fresh export; to import it anyway pass --allow-expired "
                "(recorded in the import commit)",
            )
        overrides.append(f"expired at {manifest.expires.isoformat()}")
    return Freshness(already_imported=False, overrides=tuple(overrides))


def next_state(
    state: ImportState | None,
    manifest: BundleManifest,
    digest: str,
    *,
    now: datetime,
    operator: str | None,
    overrides: tuple[str, ...],
) -> ImportState:
    """The record after importing this bundle: it becomes `last`, the old one history."""
    record = ImportRecord(
        sequence=manifest.sequence,
        bundle=digest,
        source_commit=manifest.source.commit,
        imported_at=now,
        operator=operator,
        overrides=list(overrides),
    )
    history = [state.last, *state.history][:HISTORY_KEPT] if state is not None else []
    return ImportState.model_validate(
        {
            "apiVersion": API_VERSION,
            "kind": "ImportState",
            "environment": manifest.environment,
            "last": record,
            "history": history,
        }
    )
