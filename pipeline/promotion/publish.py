"""`powerx publish create`: turn a signed package into a release request.

In order, and nothing changes until each step before it has passed: the package is read
safely; its signature is verified against the signing policy of the base branch; the
artifact goes into the artifact store; the release manifest, the signature bundle and the
evidence are committed on `release/<plugin>-<version>` (with the `test` state when asked);
the branch is pushed; and a pull request is opened (or found, when publishing again).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline import layout
from pipeline.errors import InputError
from pipeline.gitrepo import Commit, GitRepo, Trailers, compose_message
from pipeline.models.base import API_VERSION
from pipeline.models.digest import digest_text
from pipeline.names import require_environment
from pipeline.packaging import inspect_package
from pipeline.promotion.branches import push_request_branch
from pipeline.signing.artifact import default_bundle_path
from pipeline.signing.statement import check_release_names
from pipeline.signing.trust import TrustInputs
from pipeline.signing.verify import verify_bundle
from pipeline.snapshot import Snapshot
from pipeline.store import ArtifactStore
from pipeline.yamlio import dump_yaml

if TYPE_CHECKING:  # the forge (and httpx) load only when a pull request is opened
    from pipeline.forge import GitHubClient

EVIDENCE_KINDS = ("coverage", "tests", "scans")


@dataclass(frozen=True)
class PublishRequest:
    """A package and what goes with it into the release manifest."""

    artifact: Path
    contacts: tuple[tuple[str, str], ...]
    """(name, email) pairs."""
    now: datetime
    bundle: Path | None = None
    notes: str = ""
    changes: tuple[tuple[str, str, str | None], ...] = ()
    """(id, title, link) triples."""
    evidence: tuple[tuple[str, Path], ...] = ()
    """(kind, report) pairs; kind is coverage, tests or scans."""
    environment: str | None = None
    playbook: str | None = None
    operator: str | None = None
    ci_run: str | None = None
    channels: tuple[str, ...] = ("online",)


@dataclass
class PublishResult:
    """Where the release request landed."""

    ref: str
    branch: str
    commit: str
    artifact_uri: str
    pull_request: str | None = None
    notes: list[str] = field(default_factory=list)


def publish(
    git: GitRepo,
    request: PublishRequest,
    *,
    store: ArtifactStore,
    base: str = "main",
    remote: str | None = None,
    forge: Callable[[], GitHubClient] | None = None,
) -> PublishResult:
    """Verify, store, commit, push and open the pull request; see the module docstring."""
    package = inspect_package(request.artifact)
    manifest = package.manifest
    bundle_path = request.bundle or default_bundle_path(request.artifact)
    if not bundle_path.is_file():
        raise InputError(
            f"no signature bundle at {bundle_path}", hint="sign it with px-plugin sign"
        )
    bundle = bundle_path.read_bytes()
    base_commit = git.fetch(remote, base) if remote else git.resolve(f"refs/heads/{base}")
    if base_commit is None:
        raise InputError(f"branch {base!r} does not exist on {remote!r}")
    snapshot = Snapshot(git, base_commit)
    if request.environment is not None:  # before anything is stored or committed
        require_environment(snapshot, request.environment)
    policies = snapshot.policies()
    if snapshot.release(manifest.name, manifest.version) is not None:
        raise InputError(
            f"{manifest.ref} is already released on {base}",
            hint="released versions are locked: publish a new version",
        )
    verification = verify_bundle(
        bundle, digest=package.sha256, trust=TrustInputs(policy=policies.signing), now=request.now
    )
    check_release_names(verification.release, manifest.name, manifest.version)
    folder = layout.release_dir(manifest.name, manifest.version)
    signature_name = f"{manifest.package_name}.sigstore.json"
    evidence: dict[str, list[str]] = {kind: [] for kind in EVIDENCE_KINDS}
    changes: dict[str, bytes | None] = {f"{folder}/{signature_name}": bundle}
    for kind, report in request.evidence:  # every input is read before anything is stored
        if kind not in EVIDENCE_KINDS:
            raise InputError(
                f"unknown evidence kind {kind!r}", hint=f"use one of {', '.join(EVIDENCE_KINDS)}"
            )
        name = f"evidence/{report.name}"
        evidence[kind].append(name)
        changes[f"{folder}/{name}"] = _read(report)
    stored = store.put(request.artifact)
    release = {
        "apiVersion": API_VERSION,
        "kind": "Release",
        "plugin": manifest.name,
        "version": manifest.version,
        "artifact": {
            "uri": stored.uri,
            "sha256": stored.sha256,
            "size": stored.size,
            "signature": signature_name,
        },
        "notes": request.notes,
        "changes": [
            {"id": cid, "title": title, **({"link": link} if link else {})}
            for cid, title, link in request.changes
        ],
        "evidence": {kind: refs for kind, refs in evidence.items() if refs},
        "compatibility": dict(manifest.compatibility),
        "dependencies": dict(manifest.dependencies),
        "license": manifest.license,
        "channels": list(request.channels),
        "rollback": {
            "playbook": request.playbook
            or f"Run `powerx rollback {manifest.name} --env <env> --reason <why>`."
        },
        "contacts": [{"name": name, "email": email} for name, email in request.contacts],
    }
    changes[layout.release_path(manifest.name, manifest.version)] = dump_yaml(release).encode()
    if request.environment is not None:
        changes[layout.plugin_state_path(request.environment, manifest.name)] = dump_yaml(
            {
                "apiVersion": API_VERSION,
                "kind": "PluginState",
                "plugin": manifest.name,
                "version": manifest.version,
                "digest": stored.sha256,
            }
        ).encode()
    branch = f"release/{manifest.name}-{manifest.version}"
    message = _message(manifest.ref, request, stored.sha256)
    commit = git.commit(f"refs/heads/{branch}", changes, message, parent=base_commit)
    result = PublishResult(manifest.ref, branch, str(commit.id), stored.uri)
    if remote is not None:
        _push_release_branch(git, remote, commit, branch, result)
        if forge is not None:
            client = forge()
            pull, created = client.ensure_pull_request(
                branch, base, f"Release {manifest.ref}", _pr_body(manifest.ref, request)
            )
            result.pull_request = pull.html_url
            result.notes.append("opened" if created else "already open")
    return result


def _push_release_branch(
    git: GitRepo, remote: str, commit: Commit, branch: str, result: PublishResult
) -> None:
    """Push the release branch; publishing the same content again changes nothing."""
    landed, note = push_request_branch(git, remote, commit, branch)
    result.commit = str(landed.id)
    if note:
        result.notes.append(note)


def _read(report: Path) -> bytes:
    try:
        return report.read_bytes()
    except OSError as error:
        raise InputError(f"cannot read evidence {report}: {error.strerror}") from None


def _message(ref: str, request: PublishRequest, digest: str) -> str:
    plugin, version = ref.split("@")
    trailers = Trailers(
        action="publish",
        plugin=plugin,
        version=version,
        environment=request.environment,
        operator=request.operator,
        ci_run=request.ci_run,
    )
    body = f"artifact: {digest_text(digest)}\n" + "".join(
        f"change: {cid} {title}\n" for cid, title, _ in request.changes
    )
    return compose_message(f"Publish {plugin} {version}", body, trailers)


def _pr_body(ref: str, request: PublishRequest) -> str:
    lines = [
        f"Release request for **{ref}**.",
        "",
        request.notes or "_No release notes._",
        "",
        "Changes:",
        *(f"- {cid}: {title}" for cid, title, _ in request.changes),
        "",
        "`powerx check` runs the gates on this pull request.",
    ]
    return "\n".join(lines)
