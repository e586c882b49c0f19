"""Promote, then start the canaries of environments that take new versions by canary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline import ci
from pipeline.errors import GateError
from pipeline.gitrepo import GitRepo
from pipeline.promotion.promote import PromoteRequest, PromoteResult, Promotion
from pipeline.promotion.promote import promote as promote_releases
from pipeline.refs import parse_release_ref
from pipeline.workflows.common import FlagError, forge_factory

if TYPE_CHECKING:
    from pipeline.canary.controller import RolloutResult


@dataclass(frozen=True)
class PromoteCommand:
    """`powerx promote`: what to move, where, and how the result is shared."""

    repo: Path
    target: str | None
    """PLUGIN[@VERSION], or None for every plugin."""
    to: str | None
    branch: str
    remote: str | None
    operator: str | None
    emergency: str | None
    no_pr: bool
    github_repo: str | None
    now: datetime
    environ: Mapping[str, str]


@dataclass
class PromoteOutcome:
    """The promotion's result, the canaries started, and everything held back (with why)."""

    result: PromoteResult
    started: list[tuple[Promotion, RolloutResult]] = field(default_factory=list)
    held: list[tuple[str, str]] = field(default_factory=list)
    asked_for_one: bool = False

    @property
    def exit_code(self) -> int:
        """1 when something asked for by name was held back, else 0."""
        return 1 if self.held and self.asked_for_one else 0

    @property
    def nothing(self) -> bool:
        """Nothing landed, was proposed, started or held."""
        r = self.result
        return not (r.landed or self.held or r.proposed or r.canaries)


def promote(command: PromoteCommand) -> PromoteOutcome:
    """Land (or propose) every promotion allowed, then start each canary one by one.

    One refused canary does not stop the others: it is reported as held.
    """
    plugin, version = ("", "")
    if command.target is not None:
        try:
            plugin, version = parse_release_ref(command.target, version_optional=True)
        except ValueError:
            raise FlagError(
                f"PLUGIN[@VERSION] must be plugin or plugin@version, not {command.target!r}"
            ) from None
    request = PromoteRequest(
        now=command.now,
        plugin=plugin or None,
        version=version or None,
        to=command.to,
        operator=command.operator,
        ci_run=ci.run_url(command.environ),
        emergency=command.emergency,
    )
    forge = None
    if command.remote is not None and not command.no_pr and command.github_repo:
        forge = forge_factory(
            command.github_repo, "to open promotion pull requests", command.environ
        )
    git = GitRepo(command.repo)
    result = promote_releases(
        git, request, branch=command.branch, remote=command.remote, forge=forge
    )
    outcome = PromoteOutcome(result, held=list(result.held), asked_for_one=bool(command.target))
    if result.canaries:  # the canary stack and the webhooks load only when needed
        from pipeline.canary.controller import StartRequest, Target, start_rollout
        from pipeline.notify import SLACK_WEBHOOKS_ENV, WEBHOOKS_ENV, Notifier, urls_from_env

        environ = command.environ
        notifier = Notifier(
            urls_from_env(environ, WEBHOOKS_ENV), urls_from_env(environ, SLACK_WEBHOOKS_ENV)
        )
        target = Target(
            git, command.branch, command.remote, request.operator, request.ci_run, notifier
        )
        for p in result.canaries:
            start = StartRequest(p.plugin, p.version, p.target, request.now)
            try:
                started = start_rollout(target, start)
            except GateError as error:
                outcome.held.append((p.plugin, error.message))
                continue
            outcome.started.append((p, started))
    return outcome


def render_text(outcome: PromoteOutcome) -> str:
    """What moved, was proposed, started or held, one line each."""
    result = outcome.result
    lines = [
        f"promoted {p.plugin}@{p.version}: "
        f"{p.source or 'release'} -> {p.target} (commit {commit[:12]})"
        for p, commit in result.landed
    ]
    for proposal in result.proposed:
        p = proposal.promotion
        where = proposal.pull_request or f"branch {proposal.branch}"
        lines.append(
            f"proposed {p.plugin}@{p.version}: {p.source or 'release'} -> {p.target} "
            f"({where}, commit {proposal.commit[:12]}; {proposal.note})"
        )
    for p, started in outcome.started:
        lines.append(
            f"started a canary of {p.plugin}@{p.version} in {p.target}: {started.weight}% of "
            f"tenants beside {started.stable} (commit {(started.commit or '')[:12]})"
        )
    lines += [f"held {plugin}: {reason}" for plugin, reason in outcome.held]
    if outcome.nothing:
        lines.append("nothing to promote")
    return "".join(f"{line}\n" for line in lines)


def render_json(outcome: PromoteOutcome) -> dict[str, Any]:
    """The outcome as JSON data (schema: docs/formats.md, "Command results")."""
    result = outcome.result
    return {
        "ok": outcome.exit_code == 0,
        "landed": [
            {
                "plugin": p.plugin,
                "version": p.version,
                "from": p.source,
                "to": p.target,
                "commit": commit,
            }
            for p, commit in result.landed
        ],
        "proposed": [
            {
                "plugin": x.promotion.plugin,
                "version": x.promotion.version,
                "from": x.promotion.source,
                "to": x.promotion.target,
                "branch": x.branch,
                "pullRequest": x.pull_request,
                "commit": x.commit,
                "note": x.note,
            }
            for x in result.proposed
        ],
        "canaries": [
            {
                "plugin": p.plugin,
                "version": p.version,
                "environment": p.target,
                "weight": started.weight,
                "stable": started.stable,
                "commit": started.commit,
            }
            for p, started in outcome.started
        ],
        "held": [{"plugin": plugin, "reason": reason} for plugin, reason in outcome.held],
    }
