"""The offline imports view: every `powerx plugin import --offline` the site repo records.

An import lands as ONE commit with `PowerX-Action: import` (`pipeline.bundle.import_commit`):
the environment, the `plugin@version`s it deploys, the bundle's digest and sequence, the
source commit, the operator, and any override (an older or expired bundle). When the agent
had to roll a plugin back after a failed health check, a rollback commit follows whose
reason names the bundle (`... after offline import <digest>`). `imports/<env>.yaml` keeps
the newest import per environment (the anti-rollback floor). This view reads those, through
the audit trail (`pipeline.promotion.audit`), newest first.

The import commit names the bundle's signer (`PowerX-Bundle-Signer`, since issue 13).
`/imports/{id}` (a commit id) adds each imported release's signer, verified again against
the site's signing policy at the import commit, and, for an import older than that
trailer, the signers the policy trusted for bundles.

A refused import writes nothing to the repo (every check runs before the first write); the
importer logs every attempt in the plugin store (`<store>/incoming/imports.jsonl`,
`pipeline.bundle.import_log`). With `powerx serve --plugin-store`, the refused attempts of
that log are merged into the list, newest first, with their reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from pipeline.errors import GateError, InputError
from pipeline.gitrepo import read_trailers
from pipeline.promotion.audit import AuditEntry, AuditQuery
from pipeline.web.audit import trail
from pipeline.web.views import Data, NotFoundError, Params, Source, View

if TYPE_CHECKING:
    from pipeline.models.bundle import ImportAttempt

MAX_SCANNED = 20_000
"""Audit entries looked at, newest first, before the list stops (and says so)."""
MAX_IMPORTS = 500
MAX_LOGGED = 2_000
"""Attempts read from the store's import log, newest first."""
_COMMIT = re.compile(r"[0-9a-f]{7,40}")
NOT_RECORDED = (
    "a refused import writes nothing to the repo; the importer logs it in the plugin store "
    "(<store>/incoming/imports.jsonl): refusals are shown when the console is started with "
    "--plugin-store"
)


def rolled_back_bundle(entry: AuditEntry) -> str | None:
    """The bundle digest prefix a rollback commit names ('... after offline import X: ...')."""
    if entry.action != "rollback":
        return None
    found = re.search(r"after offline import ([0-9a-f]{12})", entry.details.get("Reason", ""))
    return found.group(1) if found else None


def scan(source: Source) -> Iterator[tuple[AuditEntry, list[AuditEntry]]]:
    """(import entry, the rollback entries that name its bundle), newest first.

    Stops after MAX_SCANNED entries of the trail (the caller says so when it happened).
    """
    rollbacks: dict[str, list[AuditEntry]] = {}
    for count, entry in enumerate(trail(source, AuditQuery())):
        if count >= MAX_SCANNED:
            return
        bundle = rolled_back_bundle(entry)
        if bundle is not None:
            rollbacks.setdefault(bundle, []).append(entry)
        elif entry.action == "import":
            digest = entry.details.get("Bundle-Digest", "")
            yield entry, rollbacks.get(digest[:12], [])


def import_row(entry: AuditEntry, rollbacks: list[AuditEntry]) -> Data:
    """One import: its bundle, signer, what it deployed, and what was rolled back and why."""
    from pipeline.bundle import import_commit as names

    details = entry.details
    versions = [v.strip() for v in (entry.version or "").split(",") if v.strip()]
    sequence = details.get(names.SEQUENCE, "")
    overrides = [o.strip() for o in details.get(names.OVERRIDE, "").split(";") if o.strip()]
    undone = [
        {
            "commit": r.commit,
            "plugin": r.plugin,
            "version": r.version,
            "reason": r.details.get("Reason", ""),
            "audit": f"/audit/{r.commit}",
        }
        for r in rollbacks
    ]
    return {
        "id": entry.commit,
        "url": f"/imports/{entry.commit}",
        "audit": f"/audit/{entry.commit}",
        "time": entry.time.isoformat(),
        "environment": entry.environment,
        "operator": entry.operator,
        "summary": entry.summary,
        "bundle": details.get(names.BUNDLE_DIGEST),
        "bundleFile": None,
        "signer": details.get(names.BUNDLE_SIGNER),
        "sequence": int(sequence) if sequence.isdigit() else None,
        "sourceCommit": details.get(names.SOURCE_COMMIT),
        "overrides": overrides,
        "deployed": versions,
        "rolledBack": undone,
        "result": "rolled back" if undone else "imported",
        "reason": None,
        "exitCode": None,
        "recordedIn": "repo",
    }


def refused_row(attempt: ImportAttempt) -> Data:
    """A refused import from the store's log: what was known of its bundle, and why."""
    return {
        "id": None,
        "url": None,
        "audit": None,
        "time": attempt.time.isoformat(),
        "environment": attempt.environment,
        "operator": attempt.operator,
        "summary": f"refused: {attempt.bundle_file}",
        "bundle": attempt.digest,
        "bundleFile": attempt.bundle_file,
        "signer": attempt.signer,
        "sequence": attempt.sequence,
        "sourceCommit": None,
        "overrides": [],
        "deployed": [],
        "rolledBack": [],
        "result": attempt.result,
        "reason": attempt.reason,
        "exitCode": attempt.exit_code,
        "recordedIn": "store",
    }


def logged_attempts(source: Source) -> Data:
    """The store's import log: its refused attempts as rows, and the log's state."""
    if source.store is None:
        return {"rows": [], "log": None, "unreadable": 0, "error": None, "note": NOT_RECORDED}
    from pipeline.bundle.import_log import import_log_path, read_attempts

    path = import_log_path(source.store)
    state: Data = {"log": str(path), "unreadable": 0, "error": None}
    try:
        attempts, state["unreadable"] = read_attempts(source.store, MAX_LOGGED)
    except OSError as error:
        attempts = []
        state["error"] = f"cannot read {path}: {error.strerror or error}"
    rows = [refused_row(a) for a in attempts if a.result == "refused"]
    note = (
        f"read from the plugin store's import log {path} (the newest {MAX_LOGGED:,} attempts); "
        "a refusal writes nothing to the repo"
    )
    return {"rows": rows, **state, "note": note}


def newest_first(rows: list[Data]) -> list[Data]:
    """Rows by time, newest first (ISO times with offsets compare as datetimes)."""
    return sorted(rows, key=lambda row: datetime.fromisoformat(row["time"]), reverse=True)


def imports_data(source: Source, params: Params) -> Data:
    """Every import the site repo records and every refusal the store logged, newest first."""
    rows = []
    found = scan(source)
    for entry, rollbacks in found:
        rows.append(import_row(entry, rollbacks))
        if len(rows) == MAX_IMPORTS:
            break
    logged = logged_attempts(source)
    return {
        "head": source.head.id,
        "imports": newest_first(rows + logged["rows"])[:MAX_IMPORTS],
        "limit": MAX_IMPORTS,
        "scanned": MAX_SCANNED,
        "refusals": logged["note"],
        "log": {key: logged[key] for key in ("log", "unreadable", "error")},
    }


def import_data(source: Source, params: Params) -> Data:
    """One import (by commit id): its row, the releases' signers and the bundle's."""
    wanted = (params.text("id") or "").lower()
    if not _COMMIT.fullmatch(wanted):
        raise NotFoundError(
            f"{wanted!r} is not a commit id", hint="open an import from the list at /imports"
        )
    for entry, rollbacks in scan(source):
        if entry.commit.startswith(wanted):
            row = import_row(entry, rollbacks)
            when = entry.time
            row["message"] = message_body(source, entry.commit)
            row["releases"] = [
                release_signer(source, entry.commit, ref, entry.environment, when)
                for ref in row["deployed"]
            ]
            row["bundleSigners"] = bundle_signers(source, entry.commit, row["signer"])
            return {"import": row}
    raise NotFoundError(
        f"no offline import is recorded at commit {wanted}",
        hint="open an import from the list at /imports (a refused import has no commit)",
    )


def message_body(source: Source, commit: str) -> str:
    """The import commit's message without its subject and trailers."""
    message = source.git.resolve(commit).message.strip()
    paragraphs = message.split("\n\n")[1:]
    if paragraphs and read_trailers(paragraphs[-1]):
        paragraphs = paragraphs[:-1]
    return "\n\n".join(paragraphs)


def release_signer(
    source: Source, commit: str, ref: str, environment: str | None, when: datetime
) -> Data:
    """Who signed release `ref` (plugin@version), verified under the site's policy then."""
    from pipeline import layout
    from pipeline.policy.release_signature import verify_release_bundle
    from pipeline.signing.bundle import MAX_BUNDLE_BYTES
    from pipeline.snapshot import Snapshot

    plugin, _, version = ref.partition("@")
    row: Data = {"release": ref, "signer": None, "mode": None, "issuer": None, "error": None}
    snapshot = Snapshot(source.git, source.git.resolve(commit))
    try:
        loaded = snapshot.release(plugin, version)
        if loaded is None:
            return {**row, "error": f"{layout.release_path(plugin, version)} is not in the repo"}
        release = loaded.model
        if release.artifact.signature is None:
            return {**row, "error": "the release names no signature bundle"}
        path = layout.evidence_path(
            layout.release_dir(plugin, version),
            release.artifact.signature,
            manifest=loaded.locate("artifact", "signature"),
        )
        found = snapshot.git.read_blob(snapshot.commit, path, max_bytes=MAX_BUNDLE_BYTES)
        if found is None:
            return {**row, "error": f"{path} is not in the repo"}
        verification = verify_release_bundle(
            snapshot.git,
            release,
            found,
            snapshot.policies().signing,
            now=when,
            environment=environment,
            source=path,
        )
    except (GateError, InputError) as error:
        return {**row, "error": error.message}
    return {
        **row,
        "signer": verification.signer,
        "mode": verification.mode,
        "issuer": verification.issuer,
    }


def bundle_signers(source: Source, commit: str, signer: str | None) -> Data:
    """Who signed the bundle (the commit's `PowerX-Bundle-Signer`, with the key's name in
    the site's policy then) and the signers that policy trusted for bundles.

    An import older than the trailer names no signer: the signature was checked against
    exactly the trusted ones.
    """
    from pipeline.snapshot import Snapshot

    try:
        policy = Snapshot(source.git, source.git.resolve(commit)).policies().signing
    except InputError as error:
        return {"signer": signer, "trusted": [], "error": error.message}
    if signer is not None and signer.startswith("key "):
        named = {key.id: key.name for key in policy.keys if key.name}
        key_id = signer.removeprefix("key ")
        if key_id in named:
            signer = f"key {named[key_id]} ({key_id})"
    rules = policy.bundles
    if rules is None:
        none = "the signing policy trusted no bundle signer"
        return {"signer": signer, "trusted": [], "error": none}
    keys = [
        f"key {key.name or '(unnamed)'} ({key.id[:16]})"
        for key in policy.keys
        if rules.accepts_key(key.id)
    ]
    identities = [
        f"keyless {rule.subject or rule.subject_pattern} ({rule.issuer})"
        for rule in (rules.identities or [] if rules.require in ("any", "keyless") else [])
    ]
    return {"signer": signer, "trusted": keys + identities, "error": None}


VIEWS = [
    View("imports", "/imports", imports_data, "imports.html", "Offline imports"),
    View("import", "/imports/{id}", import_data, "import.html", "Offline import", listed=False),
]
