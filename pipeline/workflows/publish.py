"""`powerx publish create`: verify, store, commit the release request, push, open the PR."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline import ci
from pipeline.forge import token_from_env
from pipeline.gitrepo import GitRepo
from pipeline.promotion.publish import PublishRequest, PublishResult
from pipeline.promotion.publish import publish as publish_release
from pipeline.signing.artifact import default_bundle_path
from pipeline.store import ArtifactStore, StoreOptions, writable_store_for
from pipeline.workflows.common import forge_factory

if TYPE_CHECKING:
    from pipeline.store.oci.store import OciStore


@dataclass(frozen=True)
class PublishCommand:
    """The release request (without notes and CI run yet) and where it goes."""

    repo: Path
    request: PublishRequest
    notes_file: Path | None
    store: str
    base: str
    remote: str | None
    """None: commit the release branch locally only (--no-push)."""
    open_pull_request: bool
    github_repo: str | None
    environ: Mapping[str, str]
    store_options: StoreOptions = field(default_factory=StoreOptions)
    """Credentials variable and CA file for an oci:// (or https) store."""


def publish(command: PublishCommand) -> PublishResult:
    """Check the forge flags and token first, then verify, store, commit, push and open the PR."""
    forge = None
    if command.remote is not None and command.open_pull_request:
        forge = forge_factory(
            command.github_repo, "to open a pull request (or pass --no-pr)", command.environ
        )
        token_from_env(command.environ)  # a missing token stops publish before anything is done
    request = replace(
        command.request,
        notes=command.notes_file.read_text(encoding="utf-8") if command.notes_file else "",
        ci_run=ci.run_url(command.environ),
    )
    store = writable_store_for(command.store, command.store_options)
    registry = _registry_store(store, request.bundle or default_bundle_path(request.artifact))
    result = publish_release(
        GitRepo(command.repo),
        request,
        store=registry or store,
        base=command.base,
        remote=command.remote,
        forge=forge,
    )
    if registry is not None and registry.pushed is not None:
        pushed = registry.pushed
        result.notes.append(
            f"pushed to {pushed.reference.display()},"
            f" signature referrer sha256:{pushed.signature_digest}"
        )
    return result


def _registry_store(store: ArtifactStore, bundle: Path) -> OciStore | None:
    """An oci:// store, set to push the signature bundle as a referrer of the package."""
    from pipeline.store.oci.store import OciStore  # httpx loads only for an oci:// store

    return store.signed_with(bundle) if isinstance(store, OciStore) else None
