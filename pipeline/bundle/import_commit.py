"""What an offline import writes into the site repo: the one import commit, the committed
environment written out for the agent, and rollback commits for plugins the agent had to
roll back after a failed health check."""

from __future__ import annotations

from pathlib import Path

from pipeline import layout
from pipeline.bundle.contents import ENTITLEMENTS, MAX_FILE_BYTES
from pipeline.bundle.freshness import Freshness, import_state_path, next_state
from pipeline.bundle.import_request import ImportRequest, ImportResult
from pipeline.bundle.import_verify import CheckedBundle
from pipeline.errors import GateError, InputError
from pipeline.gitrepo import Commit, GitRepo, Trailers, compose_message
from pipeline.models.bundle import BundleManifest, ImportState
from pipeline.promotion.rollback import RollbackRequest, rollback
from pipeline.yamlio import MAX_YAML_BYTES, dump_yaml

IMPORT_ACTION = "import"
"""`PowerX-Action` of an import commit; its extra trailers (without `PowerX-`) follow."""
BUNDLE_DIGEST = "Bundle-Digest"
"""sha256 of the imported bundle.json."""
BUNDLE_SIGNER = "Bundle-Signer"
"""Who signed bundle.json: 'key <id>' or 'keyless <identity> (<issuer>)' (since issue 13;
older import commits lack it)."""
SEQUENCE = "Sequence"
SOURCE_COMMIT = "Source-Commit"
TIMESTAMP = "Timestamp"
OVERRIDE = "Override"
"""Refusals the operator overrode, joined with '; '."""


def commit_import(
    request: ImportRequest,
    git: GitRepo,
    branch: str,
    tip: Commit,
    checked: CheckedBundle,
    state: ImportState | None,
    freshness: Freshness,
) -> str:
    """Step 7: ONE commit of the environment, releases, entitlements and import record."""
    manifest = checked.scan.manifest
    env = manifest.environment
    changes: dict[str, bytes | None] = {}
    folder = f"{layout.ENVIRONMENTS}/{env}"
    for old in git.files(tip, folder):
        changes[old] = None
    for name, path in checked.scan.files.items():
        if name.startswith("environment/"):
            changes[f"{folder}/{name[len('environment/') :]}"] = path.read_bytes()
        elif name.startswith(("releases/", f"{ENTITLEMENTS}/")):
            data = path.read_bytes()
            existing = git.read(tip, name, max_bytes=MAX_FILE_BYTES)
            if name.startswith("releases/") and existing is not None and existing != data:
                raise GateError(
                    f"{name} differs from the site's copy: a released version is locked",
                    hint="the source repo changed a published release; release a new version",
                )
            changes[name] = data
    record = next_state(
        state,
        manifest,
        checked.digest,
        now=request.now,
        operator=request.operator,
        overrides=freshness.overrides,
    )
    changes[import_state_path(env)] = dump_yaml(
        record.model_dump(mode="json", by_alias=True, exclude_none=True)
    ).encode()
    versions = ", ".join(
        f"{s.plugin}@{s.version}" for s in sorted(checked.states, key=lambda s: s.plugin)
    )
    extra = {
        BUNDLE_DIGEST: checked.digest,
        BUNDLE_SIGNER: checked.signer,
        SEQUENCE: str(manifest.sequence),
        SOURCE_COMMIT: manifest.source.commit,
        TIMESTAMP: request.now.isoformat(),
    }
    if freshness.overrides:
        extra[OVERRIDE] = "; ".join(freshness.overrides)
    trailers = Trailers(
        action=IMPORT_ACTION,
        version=versions,
        environment=env,
        operator=request.operator,
        extra=extra,
    )
    body = (
        f"Offline bundle {checked.digest[:12]} from {manifest.source.repo} at "
        f"{manifest.source.commit[:12]}, sequence {manifest.sequence}."
    )
    message = compose_message(f"Import {env} offline: {versions}", body, trailers)
    return str(git.commit(branch, changes, message, parent=tip, when=request.now.timestamp()).id)


def materialise(git: GitRepo, commit: Commit, manifest: BundleManifest, scratch: Path) -> Path:
    """The committed environment folder, written out for the agent."""
    folder = f"{layout.ENVIRONMENTS}/{manifest.environment}"
    target = scratch / "deploy" / manifest.environment
    for path in git.files(commit, folder):
        data = git.read(commit, path, max_bytes=MAX_YAML_BYTES)
        if data is not None:
            out = target / path[len(folder) + 1 :]
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
    return target


def roll_back_unhealthy(
    request: ImportRequest,
    git: GitRepo,
    branch: str,
    manifest: BundleManifest,
    result: ImportResult,
) -> list[str]:
    """Roll the site's desired state back for every plugin the agent had to roll back."""
    done: list[str] = []
    for outcome in result.deployed:
        if outcome.action != "rolled-back":
            continue
        reason = (
            f"health check failed after offline import {result.digest[:12]}: "
            f"{outcome.message}".strip()
        )
        try:
            landed = rollback(
                git,
                RollbackRequest(
                    outcome.plugin, manifest.environment, reason, operator=request.operator
                ),
                branch=branch,
                when=request.now.timestamp(),
            )
        except InputError as error:
            done.append(f"{outcome.plugin}: host rolled back; site state kept ({error.message})")
            continue
        done.append(
            f"{outcome.plugin}: {landed.plan.from_version} -> {landed.plan.to_version} "
            f"(commit {landed.commit[:12]})"
        )
    return done
