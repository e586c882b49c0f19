"""Plan, then apply: every `px-admin` change is a diff first, then one commit.

An edit (`Editor`) reads the repo at the branch tip and returns the files it would change
(`AdminEdit`). The engine then
1. checks the operator's rights: role `admin` (policies/console.yaml, through the teams of
   policies/teams.yaml) in every environment the edit touches, read from the tip it edits
   on, the trusted base (never from the edit itself);
2. validates the result as `powerx check` would (`pipeline.policy.checker`, with the
   admin rules of `pipeline.policy.admin_rules`) on a candidate commit no branch points at;
3. shows the plan (a unified diff) and, unless it is a dry run, lands ONE commit with the
   runner's trailers: on the branch, pushed like the runner pushes (rebased and made again
   when others pushed first), or on its own branch with a pull request.
Refused input is an InputError (exit 2), refused rights a GateError (exit 1): nothing is
committed either way.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pipeline import layout
from pipeline.errors import CombinedInputError, GateError, InputError, Location
from pipeline.gitrepo import ChangeSet, Commit, GitRepo, Trailers, compose_message
from pipeline.models.access import allows
from pipeline.policy.checker import Checker
from pipeline.policy.declared import DeclaredPermissions
from pipeline.snapshot import Snapshot

if TYPE_CHECKING:
    from pipeline.forge import GitHubClient

ADMIN_ROLE = "admin"
_SCRATCH_REF = "refs/powerx/validate/admin"
_IGNORED_GATES = frozenset({"separation"})
"""An environment's creation edits the promotion order and environment files together by
design; every other gate of `powerx check` holds for admin changes too."""


@dataclass(frozen=True)
class Actor:
    """Who asks (`--operator`, $GITHUB_ACTOR) and the CI run, for rights and trailers."""

    operator: str | None
    ci_run: str | None = None


@dataclass(frozen=True)
class AdminEdit:
    """What an edit would change, and how its commit describes it."""

    action: str
    environments: tuple[str, ...]
    subject: str
    changes: Mapping[str, bytes | None]
    notes: tuple[str, ...] = ()
    plugin: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    def message(self, actor: Actor) -> str:
        """The commit message: subject, what was done besides, and the trailers."""
        trailers = Trailers(
            action=self.action,
            plugin=self.plugin,
            environment=",".join(self.environments) or None,
            operator=actor.operator,
            ci_run=actor.ci_run,
            extra=self.extra,
        )
        return compose_message(self.subject, "\n".join(self.notes), trailers)


Editor = Callable[[Snapshot], AdminEdit]
"""Reads the repo at a tip; raises InputError to refuse."""


@dataclass(frozen=True)
class Target:
    """Where a change lands."""

    branch: str = "main"
    remote: str | None = None
    pull_request: bool = False
    forge: Callable[[], GitHubClient] | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class Plan:
    """An edit made on a tip and validated: the diff it would commit."""

    edit: AdminEdit
    base: str
    diff: str


@dataclass(frozen=True)
class Applied:
    """What landed: the plan, its commit (None for a dry run) and where."""

    plan: Plan
    commit: str | None
    branch: str
    pull_request: str | None = None
    note: str = ""


@dataclass(frozen=True)
class Context:
    """What an admin run needs besides the edit: who asks, where it lands, what reads
    the packages' declared permissions, and the clock."""

    actor: Actor
    target: Target = field(default_factory=Target)
    declared: DeclaredPermissions | None = None
    now: datetime | None = None


def run_admin(
    git: GitRepo,
    editor: Editor,
    context: Context,
    show: Callable[[Plan], None] | None = None,
) -> Applied:
    """Plan `editor` on the tip, `show` the plan, then apply it (see the module docstring)."""
    target = context.target
    tip = _tip(git, target)
    plan = make_plan(git, tip, editor, context)
    if show is not None:
        show(plan)
    if target.dry_run:
        return Applied(plan, None, target.branch, note="dry run: nothing committed")
    if target.pull_request:
        return _propose(git, tip, plan, context)
    if target.remote is None:
        commit = git.commit(target.branch, plan.edit.changes, _message(plan, context), parent=tip)
        return Applied(plan, str(commit.id), target.branch)
    landed: list[Plan] = [plan]

    def make_change(new_tip: Commit | None) -> tuple[ChangeSet, str]:
        if new_tip is None:
            raise InputError(f"{target.remote}/{target.branch} does not exist")
        if new_tip.id != tip.id:  # others pushed first: edit again on what they left
            landed[:] = [make_plan(git, new_tip, editor, context)]
        return dict(landed[0].edit.changes), _message(landed[0], context)

    commit = git.commit_and_push(target.remote, target.branch, make_change)
    return Applied(landed[0], str(commit.id), target.branch)


def make_plan(git: GitRepo, tip: Commit, editor: Editor, context: Context) -> Plan:
    """The edit on `tip`, with rights checked and the result validated; the diff."""
    snapshot = Snapshot(git, tip)
    edit = editor(snapshot)
    require_admin(snapshot, context.actor, edit.environments)
    _validate(git, tip, edit, context)
    return Plan(edit, str(tip.id), unified_diff(snapshot, edit.changes))


def require_admin(snapshot: Snapshot, actor: Actor, environments: tuple[str, ...]) -> None:
    """GateError unless `actor` holds role admin in each of `environments` (policies of
    `snapshot`: the trusted base)."""
    if not actor.operator:
        raise InputError(
            "who is asking? px-admin changes need an operator",
            hint="pass --operator LOGIN (or set $GITHUB_ACTOR): a member of a team with "
            "role admin in policies/console.yaml",
        )
    policies = snapshot.policies()
    teams = policies.teams.teams_of(actor.operator)
    refused = [
        env for env in environments if not allows(policies.access.role_in(teams, env), ADMIN_ROLE)
    ]
    if refused:
        held = {env: policies.access.role_in(teams, env) for env in refused}
        roles = ", ".join(f"{role} in {env}" for env, role in held.items())
        raise GateError(
            f"{actor.operator} may not change {', '.join(refused)}: the role there is "
            f"{roles}, and this needs {ADMIN_ROLE}",
            location=Location(policies.sources.get("ConsoleAccess", "policies/console.yaml")),
            hint="an admin of that environment must make this change (roles: "
            "policies/console.yaml, teams: policies/teams.yaml)",
        )


def unified_diff(snapshot: Snapshot, changes: Mapping[str, bytes | None]) -> str:
    """The diff `changes` make to the repo at `snapshot`, file by file."""
    parts: list[str] = []
    for path in sorted(changes):
        before = snapshot.read(path)
        after = changes[path]
        old = before.decode() if before is not None else ""
        new = after.decode() if after is not None else ""
        parts.extend(
            difflib.unified_diff(
                old.splitlines(keepends=True),
                new.splitlines(keepends=True),
                fromfile=f"a/{path}" if before is not None else "/dev/null",
                tofile=f"b/{path}" if after is not None else "/dev/null",
            )
        )
    return "".join(line if line.endswith("\n") else line + "\n" for line in parts)


def _message(plan: Plan, context: Context) -> str:
    return plan.edit.message(context.actor)


def _tip(git: GitRepo, target: Target) -> Commit:
    if target.remote is not None:
        tip = git.fetch(target.remote, target.branch)
        if tip is None:
            raise InputError(
                f"{target.remote}/{target.branch} does not exist",
                hint="push the release repo there first",
            )
        return tip
    ref = f"refs/heads/{target.branch}"
    if ref not in git.repo.references:
        raise InputError(
            f"{git.root} has no branch {target.branch!r}",
            hint="pass --branch NAME (the branch that holds environments/ and policies/)",
        )
    return git.resolve(ref)


def _validate(git: GitRepo, tip: Commit, edit: AdminEdit, context: Context) -> None:
    """Run `powerx check`'s gates on the candidate; InputError listing what fails."""
    if not edit.changes:
        raise InputError("nothing to change", hint="the repo already says so")
    scratch = f"{_SCRATCH_REF}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    candidate = git.commit(scratch, dict(edit.changes), "candidate admin change", parent=tip)
    try:
        base, head = Snapshot(git, tip), Snapshot(git, candidate)
        now = context.now or datetime.now(UTC)
        # Judged by the policies it leaves (an environment's creation changes the order its
        # files must agree with); who may make it was decided on the base (`require_admin`).
        checker = Checker(head.policies(), base, head, now=now, declared=context.declared)
        for path in edit.changes:
            checker.visit(layout.classify(path))
        checker.evaluate()
    finally:
        git.repo.references.delete(scratch)
    problems = [
        InputError(
            result.message or f"{result.gate}: expected {result.expected}, found {result.found}",
            location=Location(result.file, result.line, result.column) if result.file else None,
            hint=result.hint,
        )
        for result in checker.results
        if result.status in ("fail", "error") and result.gate not in _IGNORED_GATES
    ]
    if problems:
        if len(problems) == 1:
            raise problems[0]
        raise CombinedInputError(problems)


def request_branch(plan: Plan) -> str:
    """The branch a pull-request change is proposed on: admin/<action>/<env>-<digest>."""
    digest = hashlib.sha256()
    for path in sorted(plan.edit.changes):
        digest.update(path.encode() + b"\0" + (plan.edit.changes[path] or b"-") + b"\0")
    where = "-".join(plan.edit.environments) or "repo"
    return f"admin/{plan.edit.action}/{where}-{digest.hexdigest()[:10]}"


def _propose(git: GitRepo, tip: Commit, plan: Plan, context: Context) -> Applied:
    """Commit the change on its own branch, push it and open (or find) its pull request."""
    from pipeline.promotion.branches import push_request_branch

    target, branch = context.target, request_branch(plan)
    message = _message(plan, context)
    commit = git.commit(f"refs/heads/{branch}", plan.edit.changes, message, parent=tip)
    if target.remote is None:
        return Applied(plan, str(commit.id), branch, note="committed locally: push it, open a PR")
    landed, note = push_request_branch(git, target.remote, commit, branch)
    if target.forge is None:
        return Applied(plan, str(landed.id), branch, note=note or "pushed; open a pull request")
    title, _, body = message.partition("\n")
    pull, created = target.forge().ensure_pull_request(branch, target.branch, title, body.strip())
    note = "pull request opened" if created else "pull request already open"
    return Applied(plan, str(landed.id), branch, pull.html_url, note)
