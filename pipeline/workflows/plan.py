"""`powerx plan`: the release plan, optionally locked with a tag and the tag pushed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path

from pipeline import layout
from pipeline.gitrepo import GitRepo
from pipeline.promotion.plan import ReleasePlan, lock_version, release_plan
from pipeline.workflows.common import FlagError, forge_factory


@dataclass(frozen=True)
class PlanCommand:
    """Which release to plan into which environment, from where; lock and push or not."""

    repo: Path
    plugin: str
    version: str
    environment: str
    rev: str
    lock: bool
    remote: str | None
    """With `lock`: push the lock tag here."""
    pull_request: int | None
    github_repo: str | None
    now: datetime
    environ: Mapping[str, str]


class PlanWorkflow:
    """Validate every flag on construction; then `plan()`, and `lock()` the plan if asked."""

    def __init__(self, command: PlanCommand) -> None:
        if command.remote is not None and not command.lock:
            raise FlagError("--push pushes the lock tag: it needs --lock")
        self.command = command
        self.forge = (
            forge_factory(command.github_repo, "to read pull request reviews", command.environ)
            if command.pull_request is not None
            else None
        )
        self.git = GitRepo(command.repo)

    def plan(self) -> ReleasePlan:
        """The release plan at the revision asked for."""
        from pipeline.policy.github_reviews import pull_request_reviews, with_github_members

        c = self.command
        reviews, teams = None, None
        if self.forge is not None and c.pull_request is not None:
            client = self.forge()
            reviews = pull_request_reviews(client, c.pull_request)
            teams = partial(with_github_members, client=client)
        return release_plan(
            self.git,
            self.git.resolve(c.rev),
            c.plugin,
            c.version,
            environment=c.environment,
            now=c.now,
            reviews=reviews,
            teams=teams,
        )

    def lock(self, planned: ReleasePlan) -> str | None:
        """Tag the plan's release commit when --lock asked for it; the tag's id."""
        c = self.command
        if not c.lock:
            return None
        return lock_version(self.git, planned, c.plugin, c.version, self.git.signature())

    def push(self) -> bool | None:
        """Push the lock tag when --push asked for it; False when the remote had it already."""
        c = self.command
        if c.remote is None:
            return None
        return self.git.push_tag(c.remote, layout.lock_tag(c.plugin, c.version))
