"""Rollback: restore the previous desired state of one plugin in one environment.

A rollback is a revert commit of that plugin's state file only, even when other commits
came after the change it undoes. Its trailers name the commit it reverts, the version it
rolls back from, and the reason, so the git history stays the audit trail. Versions that
were rolled back from are never restored by a later rollback.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline import layout
from pipeline.errors import GateError, InputError
from pipeline.gitrepo import ChangeSet, Commit, GitRepo, Trailers, compose_message, read_trailers
from pipeline.models.environment import PluginState
from pipeline.models.load import parse_document
from pipeline.names import require_environment, require_plugin
from pipeline.snapshot import Snapshot
from pipeline.yamlio import MAX_YAML_BYTES, dump_yaml, parse_yaml

ROLLED_BACK_FROM = "Rolled-Back-From"


@dataclass(frozen=True)
class RollbackRequest:
    """What to roll back, where, to which version (default: the previous one), and why."""

    plugin: str
    environment: str
    reason: str
    to_version: str | None = None
    operator: str | None = None
    ci_run: str | None = None
    details: str = ""
    """More text for the commit body (a canary's verdict, for instance)."""


@dataclass(frozen=True)
class RollbackPlan:
    """The revert to write: from which version to which, undoing which commit."""

    path: str
    from_version: str
    to_version: str
    content: bytes
    reverts: str

    def changes(self) -> ChangeSet:
        """The one-file change set of the revert commit."""
        return {self.path: self.content}


def plan_rollback(git: GitRepo, tip: Commit, request: RollbackRequest) -> RollbackPlan:
    """Work out the revert on top of `tip`; InputError when there is nothing to go back to."""
    snapshot = Snapshot(git, tip)
    require_environment(snapshot, request.environment)
    require_plugin(snapshot, request.plugin)
    path = layout.plugin_state_path(request.environment, request.plugin)
    current = _state(git, tip, path)
    if current is None:
        raise InputError(
            f"{request.plugin} is not deployed in {request.environment}: nothing to roll back",
            hint=f"{path} does not exist at {tip.short_id}",
        )
    if current.canary is not None and request.to_version in (None, current.version):
        return plan_canary_rollback(git, tip, path, current)
    rolled_back_from: set[str] = set()
    introduced_by: str | None = None
    for change in git.path_history(tip, path):
        trailers = read_trailers(change.commit.message)
        if trailers.get("Action") == "rollback" and ROLLED_BACK_FROM in trailers:
            rolled_back_from.add(trailers[ROLLED_BACK_FROM])
        if change.before is None:
            break
        before = _parse(git.blob(change.before), path)
        if introduced_by is None and before.version != current.version:
            introduced_by = str(change.commit.id)
        if _is_target(before, current, rolled_back_from, request.to_version):
            return RollbackPlan(
                path=path,
                from_version=current.version,
                to_version=before.version,
                content=git.blob(change.before),
                reverts=introduced_by or str(change.commit.id),
            )
    wanted = f"version {request.to_version}" if request.to_version else "earlier version"
    raise InputError(
        f"{request.plugin} in {request.environment} has no {wanted} to roll back to",
        hint="its history holds no earlier state that was not itself rolled back from",
    )


def plan_canary_rollback(
    git: GitRepo, tip: Commit, path: str, current: PluginState
) -> RollbackPlan:
    """Withdraw a canary: the state file without its `canary` block, stable kept as it is.

    The revert undoes the commit that started that canary (`PowerX-Action: rollout-start`).
    """
    assert current.canary is not None
    raw = git.read(tip, path, max_bytes=MAX_YAML_BYTES)
    assert raw is not None  # `current` was loaded from it
    tree = parse_yaml(raw, path).tree
    tree.pop("canary", None)
    started_by = str(tip.id)
    for change in git.path_history(tip, path):
        trailers = read_trailers(change.commit.message)
        if trailers.get("Action") == "rollout-start" and trailers.get("Version") == (
            current.canary.version
        ):
            started_by = str(change.commit.id)
            break
    return RollbackPlan(
        path=path,
        from_version=current.canary.version,
        to_version=current.version,
        content=dump_yaml(tree).encode(),
        reverts=started_by,
    )


def _is_target(
    candidate: PluginState, current: PluginState, excluded: set[str], wanted: str | None
) -> bool:
    if candidate.version == current.version or candidate.version in excluded:
        return False
    return wanted is None or candidate.version == wanted


def _state(git: GitRepo, commit: Commit, path: str) -> PluginState | None:
    loaded = Snapshot(git, commit).load(path, PluginState)
    return loaded.model if loaded is not None else None


def _parse(raw: bytes, path: str) -> PluginState:
    return parse_document(raw, path, PluginState)


def rollback_message(plan: RollbackPlan, request: RollbackRequest) -> str:
    """The revert commit's message, with the trailers the audit trail reads."""
    trailers = Trailers(
        action="rollback",
        plugin=request.plugin,
        version=plan.to_version,
        environment=request.environment,
        operator=request.operator,
        ci_run=request.ci_run,
        extra={
            "Reverts": plan.reverts,
            ROLLED_BACK_FROM: plan.from_version,
            "Reason": " ".join(request.reason.split()),
        },
    )
    subject = (
        f"Roll back {request.plugin} in {request.environment}: "
        f"{plan.from_version} -> {plan.to_version}"
    )
    body = f"This reverts the state set by commit {plan.reverts}.\n\nReason: {request.reason}"
    if request.details.strip():
        body += f"\n\n{request.details.strip()}"
    return compose_message(subject, body, trailers)


@dataclass(frozen=True)
class RollbackResult:
    """A landed rollback."""

    commit: str
    plan: RollbackPlan


def rollback(
    git: GitRepo,
    request: RollbackRequest,
    *,
    branch: str,
    remote: str | None = None,
    when: float | None = None,
) -> RollbackResult:
    """Commit the rollback on `branch` (and push it to `remote`, rebasing if others pushed).

    The Python API that canaries and offline imports call for automatic rollbacks.
    """
    if not request.reason.strip():
        raise InputError("a rollback needs a reason", hint="pass --reason TEXT")
    plans: list[RollbackPlan] = []

    def change(tip: Commit | None) -> tuple[ChangeSet, str]:
        if tip is None:
            raise GateError(f"branch {branch!r} does not exist on {remote!r}")
        plan = plan_rollback(git, tip, request)
        plans.append(plan)
        return plan.changes(), rollback_message(plan, request)

    if remote is not None:
        landed = git.commit_and_push(remote, branch, change, when=when)
    else:
        tip = git.resolve(f"refs/heads/{branch}")
        changes, message = change(tip)
        landed = git.commit(branch, changes, message, parent=tip, when=when)
    return RollbackResult(str(landed.id), plans[-1])
