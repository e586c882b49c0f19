"""The release repo's actions: approve, promote, roll back, as `powerx approve|promote|rollback`.

Each calls the library functions its command calls, so it commits with the same trailers;
the operator is the authenticated user. Like the commands without --push, each commits on
the branch checked out here, whose head the console shows (an environment that lands by
pull request gets its promotion branch here, and no pull request is opened); the preview
says so.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from pipeline import layout
from pipeline.errors import InputError
from pipeline.gitrepo import GitRepo, Trailers, compose_message
from pipeline.names import require_environment, require_in_order, require_plugin, require_release
from pipeline.snapshot import Snapshot
from pipeline.web.auth import RefusedError, current_identity
from pipeline.web.views import Action, Data, NotFoundError, Params, Source

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey

    from pipeline.promotion.promote import PromoteRequest
    from pipeline.promotion.rollback import RollbackRequest

T = TypeVar("T")


def required(params: Params, name: str, what: str) -> str:
    """A parameter that must be given (InputError naming it)."""
    value = params.text(name)
    if value is None:
        raise InputError(f"the parameter {name} ({what}) is missing", hint=f"give {name}=...")
    return value


def found(check: Callable[[], T]) -> T:
    """`check()`, with its "no such name" InputError as a NotFoundError (404)."""
    try:
        return check()
    except NotFoundError:
        raise
    except InputError as error:
        raise NotFoundError(error.message, hint=error.hint) from None


def branch_of(git: GitRepo) -> str:
    """The branch the console commits on: the one checked out, whose head it shows."""
    repo = git.repo  # the checked-out branch, as `powerx plugin import` finds it
    if repo.head_is_detached or repo.head_is_unborn:
        raise InputError(
            f"{git.root} has no branch checked out: the console would not know where to commit",
            hint="check out the branch the console should act on (e.g. git switch main)",
        )
    return str(repo.head.shorthand)


def viewer_login() -> str:
    """Who a preview is for: the logged-in user, else LOGIN (the commit names whoever acts)."""
    who = current_identity.get()
    return who.login if who is not None else "LOGIN"


def local_note(git: GitRepo) -> str:
    return f"commits on branch {branch_of(git)} of {git.root} (no push, as the CLI without --push)"


# --- approve ------------------------------------------------------------------------------


def _approval_target(source: Source, params: Params) -> tuple[Snapshot, str, str, str]:
    snapshot = Snapshot(source.git, source.head)
    plugin = required(params, "plugin", "the plugin")
    version = required(params, "version", "the release's version")
    environment = required(params, "env", "the environment approved for")
    found(lambda: require_release(snapshot, plugin, version))
    found(lambda: require_environment(snapshot, environment))
    require_in_order(environment, snapshot.policies().promotion.order)
    return snapshot, plugin, version, environment


def _would_count(snapshot: Snapshot, plugin: str, version: str, env: str, login: str) -> Data:
    """The verdict now, and whether `login`'s approval would count (the approval rules')."""
    from pipeline.policy.approvals import Approval, ApprovalRequest, evaluate_approvals
    from pipeline.policy.release_approvals import release_approvals
    from pipeline.policy.signed_approvals import manifest_digest

    now = datetime.now(UTC)
    policies = snapshot.policies()
    current = release_approvals(snapshot, policies, plugin, version, env, now=now)
    raw = snapshot.read(layout.release_path(plugin, version)) or b""
    digest = manifest_digest(raw)
    request = ApprovalRequest(env, current.author, digest, current.requested_at)
    mine = evaluate_approvals(policies, request, [Approval(login, now, "signed", digest)], now=now)
    refused = [r.reason for r in mine.refused]
    return {"verdict": current.describe(), "refused": refused[0] if refused else None}


def approve_preview(source: Source, params: Params) -> Data:
    from pipeline.policy.signed_approvals import approval_path

    snapshot, plugin, version, env = _approval_target(source, params)
    who = current_identity.get()
    login = viewer_login()
    path = approval_path(plugin, version, env, login)
    notes = [local_note(source.git)]
    if who is not None:
        judged = _would_count(snapshot, plugin, version, env, login)
        notes.insert(0, f"approvals now: {judged['verdict']}")
        if judged["refused"]:
            notes.insert(0, f"your approval would not count: {judged['refused']}")
    return {
        "summary": f"Approve {plugin}@{version} for {env} as {login}, signed with your key.",
        "changes": [{"path": path, "before": None, "after": "signed approval record"}],
        "message": compose_message(
            f"Approve {plugin} {version} for {env}",
            "",
            Trailers("approve", plugin, version, env, operator=login),
        ),
        "notes": notes,
    }


def approve_apply(source: Source, params: Params, operator: str) -> Data:
    from pipeline.policy.signed_approvals import ApproveRequest, record_approval

    snapshot, plugin, version, env = _approval_target(source, params)
    judged = _would_count(snapshot, plugin, version, env, operator)
    if judged["refused"]:
        raise RefusedError(403, f"{operator}'s approval would not count: {judged['refused']}")
    key = _approval_key(source, snapshot, operator)
    request = ApproveRequest(plugin, version, env, operator, key, datetime.now(UTC))
    commit = record_approval(source.git, request, branch=branch_of(source.git))
    summary = f"approved {plugin}@{version} for {env} as {operator}"
    return {"summary": summary, "commit": commit, "plugin": plugin, "version": version}


def _approval_key(source: Source, snapshot: Snapshot, login: str) -> EllipticCurvePrivateKey:
    """The console's approval key of `login` (as policies/teams.yaml lists its id)."""
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey

    for team in snapshot.policies().teams.teams.values():
        for member in team.members:
            key = source.approval_keys.get(member.key_id or "")
            if member.login == login and isinstance(key, EllipticCurvePrivateKey):
                return key
    raise RefusedError(
        403,
        f"the console holds no approval key of {login}",
        hint="start `powerx serve --key YOUR_KEY`, or run `powerx approve --key`",
    )


# --- promote ------------------------------------------------------------------------------


def _promote_request(source: Source, params: Params, operator: str | None) -> PromoteRequest:
    """What to promote (404 for a plugin, version or environment the repo does not know)."""
    from pipeline.promotion.promote import PromoteRequest

    snapshot = Snapshot(source.git, source.head)
    plugin = required(params, "plugin", "the plugin to promote")
    version, environment = params.text("version"), params.text("env")
    found(lambda: require_plugin(snapshot, plugin))
    if version is not None:
        found(lambda: require_release(snapshot, plugin, version))
    if environment is not None:
        found(lambda: require_environment(snapshot, environment))
    return PromoteRequest(
        now=datetime.now(UTC), plugin=plugin, version=version, to=environment, operator=operator
    )


def promote_preview(source: Source, params: Params) -> Data:
    from pipeline.promotion.promote import plan_promotions, promotion_branch

    snapshot = Snapshot(source.git, source.head)
    request = _promote_request(source, params, viewer_login())
    plan = plan_promotions(source.git, source.head, request)
    if not plan.ready:
        reason = plan.held[0][1] if plan.held else "nothing to promote"
        return {"summary": f"{request.plugin} cannot move now: {reason}", "blocked": reason}
    p = plan.ready[0]
    policies = snapshot.policies()
    notes = [local_note(source.git)]
    if policies.promotion.starts_canary(p.target) and p.previous:
        notes = [f"{p.target} takes new versions by canary: this starts its first step"]
    elif policies.promotion.lands_by_pull_request(p.target):
        notes = [
            f"{p.target} lands by pull request: the commit goes on branch "
            f"{promotion_branch(p)} of this repo and no pull request is opened "
            "(push it and open one, as `powerx promote` without --push)"
        ]
    return {
        "summary": f"Promote {p.plugin}@{p.version}: {p.source or 'release'} -> {p.target}.",
        "changes": [
            {
                "path": layout.plugin_state_path(p.target, p.plugin),
                "before": p.previous,
                "after": p.version,
            }
        ],
        "message": p.message(request),
        "notes": notes,
        "params": {"plugin": p.plugin, "version": p.version, "env": p.target},
    }


def promote_apply(source: Source, params: Params, operator: str) -> Data:
    from pipeline.workflows.promote import PromoteCommand, promote, render_json, render_text

    asked = _promote_request(source, params, operator)
    plugin, version = asked.plugin, asked.version
    command = PromoteCommand(
        repo=source.git.root,
        target=f"{plugin}@{version}" if version else plugin,
        to=required(params, "env", "the environment to promote into"),
        branch=branch_of(source.git),
        remote=None,
        operator=operator,
        emergency=None,
        no_pr=False,
        github_repo=None,
        now=datetime.now(UTC),
        environ=os.environ,
    )
    outcome = promote(command)
    if outcome.held:
        raise RefusedError(409, f"{outcome.held[0][0]} was held back: {outcome.held[0][1]}")
    data = render_json(outcome)
    commits = [x["commit"] for key in ("landed", "proposed", "canaries") for x in data[key]]
    return {
        "summary": render_text(outcome).strip(),
        "commit": commits[0] if commits else None,
        **data,
    }


# --- rollback -----------------------------------------------------------------------------


def _rollback_request(
    source: Source, params: Params, reason: str, operator: str | None
) -> RollbackRequest:
    from pipeline.promotion.rollback import RollbackRequest

    snapshot = Snapshot(source.git, source.head)
    plugin = required(params, "plugin", "the plugin to roll back")
    environment = required(params, "env", "the environment to roll back in")
    found(lambda: require_plugin(snapshot, plugin))
    found(lambda: require_environment(snapshot, environment))
    return RollbackRequest(plugin, environment, reason, params.text("version"), operator)


def rollback_preview(source: Source, params: Params) -> Data:
    from pipeline.promotion.rollback import plan_rollback, rollback_message

    reason = params.text("reason") or "(your reason)"
    request = _rollback_request(source, params, reason, viewer_login())
    plan = plan_rollback(source.git, source.head, request)
    return {
        "summary": (
            f"Roll back {request.plugin} in {request.environment}: "
            f"{plan.from_version} -> {plan.to_version}."
        ),
        "changes": [{"path": plan.path, "before": plan.from_version, "after": plan.to_version}],
        "message": rollback_message(plan, request),
        "notes": [f"reverts the state set by commit {plan.reverts[:12]}", local_note(source.git)],
        "params": {"version": plan.to_version},
    }


def rollback_apply(source: Source, params: Params, operator: str) -> Data:
    from pipeline.promotion.rollback import rollback

    reason = params.text("reason")
    if reason is None:
        raise InputError("a rollback needs a reason", hint="fill in the reason: it is recorded")
    request = _rollback_request(source, params, reason, operator)
    result = rollback(source.git, request, branch=branch_of(source.git))
    plan = result.plan
    return {
        "summary": (
            f"rolled back {request.plugin} in {request.environment}: "
            f"{plan.from_version} -> {plan.to_version}"
        ),
        "commit": result.commit,
        "reverts": plan.reverts,
    }


def environment_scope(params: Params) -> str:
    """The environment an action acts in (its `env` parameter)."""
    return required(params, "env", "the environment")


ACTIONS = [
    Action(
        "approve",
        "/actions/approve",
        "Approve",
        "release-manager",
        environment_scope,
        approve_preview,
        approve_apply,
    ),
    Action(
        "promote",
        "/actions/promote",
        "Promote",
        "release-manager",
        environment_scope,
        promote_preview,
        promote_apply,
    ),
    Action(
        "rollback",
        "/actions/rollback",
        "Roll back",
        "release-manager",
        environment_scope,
        rollback_preview,
        rollback_apply,
        inputs=("reason",),
    ),
]
