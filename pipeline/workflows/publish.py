"""`powerx publish create`: verify, store, commit the release request, push, open the PR."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from pipeline import ci
from pipeline.forge import token_from_env
from pipeline.gitrepo import GitRepo
from pipeline.promotion.publish import PublishRequest, PublishResult
from pipeline.promotion.publish import publish as publish_release
from pipeline.store import writable_store_for
from pipeline.workflows.common import forge_factory


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
    return publish_release(
        GitRepo(command.repo),
        request,
        store=writable_store_for(command.store),
        base=command.base,
        remote=command.remote,
        forge=forge,
    )
