"""Landing one rollout decision: where it goes, one commit with trailers, push retries, escalation.

A pushed decision that cannot land after `PUSH_RETRIES` retries is escalated: an alert goes
to every webhook and `PushEscalatedError` ends the run with exit 1.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from pipeline.errors import GateError, InputError, PowerXError
from pipeline.gitrepo import ChangeSet, Commit, GitRepo, Trailers
from pipeline.notify import Event, Notifier

PUSH_RETRIES = 3
"""A decision whose push fails is retried this many times, then escalated."""

MakeChange = Callable[[Commit], tuple[ChangeSet, str]]
"""A decision's files and message, worked out afresh at a tip (raises if it no longer applies)."""


class PushEscalatedError(GateError):
    """A decision could not be pushed after every retry: people were alerted (exit 1)."""


@dataclass(frozen=True)
class Target:
    """Where decisions land: the repo, its branch, and the remote to push to (None: local)."""

    git: GitRepo
    branch: str = "main"
    remote: str | None = None
    operator: str | None = None
    ci_run: str | None = None
    notifier: Notifier = field(default_factory=Notifier)
    sleep: Callable[[float], None] = time.sleep
    retry_delay: float = 1.0


class _DecisionChangedError(Exception):
    """The decision no longer applies at the new tip (raised from inside make_change)."""

    def __init__(self, error: PowerXError) -> None:
        super().__init__(error.message)
        self.error = error


def land(target: Target, make_change: MakeChange, *, when: datetime, subject: str) -> str:
    """Commit one decision (and push it, retrying); escalate when the push keeps failing."""

    def change(tip: Commit | None) -> tuple[ChangeSet, str]:
        if tip is None:
            raise _DecisionChangedError(
                InputError(f"branch {target.branch!r} does not exist on {target.remote!r}")
            )
        try:
            return make_change(tip)
        except PowerXError as error:
            raise _DecisionChangedError(error) from None

    git = target.git
    if target.remote is None:
        tip = git.resolve(f"refs/heads/{target.branch}")
        try:
            changes, message = change(tip)
        except _DecisionChangedError as changed:
            raise changed.error from None
        landed = git.commit(target.branch, changes, message, parent=tip, when=when.timestamp())
        return str(landed.id)
    failures: list[str] = []
    for attempt in range(1 + PUSH_RETRIES):
        try:
            landed = git.commit_and_push(
                target.remote, target.branch, change, when=when.timestamp()
            )
        except _DecisionChangedError as changed:
            raise changed.error from None
        except PowerXError as error:
            failures.append(error.message)
            if attempt < PUSH_RETRIES:
                target.sleep(target.retry_delay * 2**attempt)
            continue
        return str(landed.id)
    target.notifier.send(
        Event(
            "escalated",
            subject,
            f"ESCALATION: could not push the decision '{subject}' to "
            f"{target.remote}/{target.branch} after {PUSH_RETRIES} retries: {failures[-1]}",
            {"failures": failures},
            severity="alert",
        )
    )
    raise PushEscalatedError(
        f"could not push the decision '{subject}' after {PUSH_RETRIES} retries: {failures[-1]}",
        hint="people were alerted; fix the remote, then run 'powerx rollout step' again",
    )


def trailers(
    target: Target, action: str, plugin: str, version: str, env: str, **extra: str
) -> Trailers:
    """The trailers of a decision commit: action, plugin, version, environment, who, extras."""
    return Trailers(
        action=action,
        plugin=plugin,
        version=version,
        environment=env,
        operator=target.operator,
        ci_run=target.ci_run,
        extra={key.replace("_", "-").title(): value for key, value in extra.items() if value},
    )
