"""`powerx plugin import --offline`: verify a bundle against the site's trust, then apply it.

Order (nothing changes in the site repo or the store until every check has passed):

1. the manifest's signature against the site's `policies/signing.yaml` (`bundles:` signers);
2. every checksum, streamed into a scratch folder (`<store>/incoming/`);
3. each release's own signature, against the same policy (with the environment's rules),
   and its package read through (archive safety, checksums, the plugin it names);
   the signed index is held to the site's limits (`bundles.limits`) before a byte of
   content is written, and every entry's streamed bytes to its declared size;
4. anti-rollback and freshness (`imports/<env>.yaml`), with recorded overrides;
5. host compatibility, licences (entitlements) and dependencies, all problems at once;
6. the artifacts into the store's content-addressed `objects/` (idempotent, atomic);
7. ONE commit into the site repo (environment, releases, entitlements, import record);
8. deployment through the host agent, health checks, and an automatic rollback commit of
   the site's desired state when the agent had to roll the host back.

Artifacts are stored before the commit so that a commit never names an artifact the store
lacks. Killed anywhere and run again, an import finishes: a landed commit is recognised by
the bundle digest in `imports/<env>.yaml`, store puts are no-ops for existing objects.

This module runs the steps in that order and stores the artifacts; the parts live beside it:
`import_request` (what is asked and reported), `import_verify` (checks 1-3), `freshness`
(check 4), `site_fit` (check 5), `import_commit` (the commits and what the agent deploys).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.bundle.deploy import Deploy, deploy_with_agent
from pipeline.bundle.freshness import check_freshness, load_import_state
from pipeline.bundle.import_commit import commit_import, materialise, roll_back_unhealthy
from pipeline.bundle.import_request import ImportRequest, ImportResult, Pause, no_pause
from pipeline.bundle.import_verify import BundleFacts, CheckedBundle, Scanner, verify_contents
from pipeline.bundle.progress import Progress, no_progress
from pipeline.bundle.site_fit import check_site_fit, check_tenant
from pipeline.errors import InputError
from pipeline.fsutil import file_lock, fsync_directory, make_dirs
from pipeline.gitrepo import Commit, GitRepo
from pipeline.models.semver import Version
from pipeline.models.signing import SigningPolicy
from pipeline.signing.trust import seed_signing_policy
from pipeline.snapshot import Snapshot
from pipeline.store.cas import OBJECT_MODE, ContentAddressedDirectory

__all__ = [
    "BundleFacts",
    "ImportRequest",
    "ImportResult",
    "Pause",
    "Scanner",
    "import_bundle",
    "store_verified",
]


INCOMING = "incoming"
OBJECTS = "objects"
SIGNING_POLICY = "policies/signing.yaml"


def import_bundle(
    request: ImportRequest,
    *,
    progress: Progress = no_progress,
    pause: Pause = no_pause,
    deploy: Deploy = deploy_with_agent,
    facts: BundleFacts | None = None,
    scanner: Scanner | None = None,
) -> ImportResult:
    """Import the bundle; GateError naming every reason it is refused.

    `scanner` reads the bundle from elsewhere than the file `request.bundle` (a registry);
    every check after reading is the same.

    `facts` is filled in with the bundle's digest, environment, sequence and signer as
    each becomes known (a refusal's log line names what was known by then).
    """
    if request.now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if request.host_version is not None:
        _host_version(request.host_version)
    git = GitRepo(request.repo)
    branch = request.branch or _current_branch(git)
    objects = ContentAddressedDirectory(request.store / OBJECTS)
    with _scratch(request.store) as scratch:  # one import at a time: read the tip inside
        tip = git.resolve(f"refs/heads/{branch}")
        policy = _site_policy(git, tip)
        checked = verify_contents(
            request, git, tip, policy, objects, scratch, progress, facts, scanner
        )
        pause("verified")
        manifest = checked.scan.manifest
        state = load_import_state(git, tip, manifest.environment)
        freshness = check_freshness(
            manifest,
            checked.digest,
            state,
            now=request.now,
            allow_rollback=request.allow_rollback,
            allow_expired=request.allow_expired,
        )
        check_site_fit(request, checked, objects)
        check_tenant(request, checked)
        result = ImportResult(
            checked.digest, manifest, None, freshness.already_imported, freshness.overrides
        )
        result.stored = _store_artifacts(checked, objects, pause)
        pause("stored")
        if freshness.already_imported:
            result.commit = str(tip.id)
        else:
            result.commit = commit_import(request, git, branch, tip, checked, state, freshness)
        pause("committed")
        if request.deploy:
            _deploy(request, git, branch, scratch, deploy, result)
        else:
            result.deploy_note = "not deployed: run 'powerx agent sync' on the host"
    return result


def _store_artifacts(
    checked: CheckedBundle, objects: ContentAddressedDirectory, pause: Pause
) -> list[str]:
    stored = []
    for entry in checked.scan.manifest.files:
        if entry.path.startswith("artifacts/"):
            path = checked.scan.files[entry.path]
            stored.append(store_verified(objects, path, entry.sha256))
            pause("storing")
    return stored


def _deploy(
    request: ImportRequest,
    git: GitRepo,
    branch: str,
    scratch: Path,
    deploy: Deploy,
    result: ImportResult,
) -> None:
    """Let the agent deploy the committed environment; roll the site back where it had to."""
    manifest = result.manifest
    env_dir = materialise(git, git.resolve(f"refs/heads/{branch}"), manifest, scratch)
    result.deployed, result.deploy_note = deploy(
        env_dir, request.store, request.tenant, request.health_timeout
    )
    result.rollbacks = roll_back_unhealthy(request, git, branch, manifest, result)


def store_verified(objects: ContentAddressedDirectory, path: Path, sha256: str) -> str:
    """Move a staged artifact whose sha256 was checked while it streamed into the store.

    The staged file sits on the store's file system, so a rename stores it atomically
    without copying or hashing 1 GB again; an object already there goes through `put`,
    which keeps an intact one and repairs a damaged one.
    """
    if objects.exists(sha256):
        return objects.put(path).sha256
    target = objects.object_path(sha256)
    make_dirs(target.parent)
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
    path.chmod(OBJECT_MODE)
    path.replace(target)
    fsync_directory(target.parent)
    return sha256


def _host_version(text: str) -> Version:
    try:
        return Version.parse(text)
    except ValueError:
        raise InputError(
            f"--host-version {text!r} is not a semantic version", hint="e.g. --host-version 2.6.0"
        ) from None


def _current_branch(git: GitRepo) -> str:
    if git.repo.head_is_detached or git.repo.head_is_unborn:
        raise InputError(
            f"{git.root} has no branch checked out", hint="pass --branch NAME (e.g. main)"
        )
    return git.repo.head.shorthand


def _site_policy(git: GitRepo, tip: Commit) -> SigningPolicy:
    loaded = Snapshot(git, tip).load(SIGNING_POLICY, SigningPolicy)
    return loaded.model if loaded is not None else seed_signing_policy()


@contextmanager
def _scratch(store: Path) -> Iterator[Path]:
    """A private folder under `<store>/incoming/`, one import at a time (flock)."""
    incoming = store / INCOMING
    make_dirs(incoming)
    with file_lock(incoming / ".lock"):
        for leftover in incoming.glob("import-*"):  # an interrupted run's scratch
            shutil.rmtree(leftover, ignore_errors=True)
        work = Path(tempfile.mkdtemp(prefix="import-", dir=incoming))
        try:
            yield work
        finally:
            shutil.rmtree(work, ignore_errors=True)
