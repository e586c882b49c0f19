"""`powerx promote`: move releases one environment further along the promotion order.

For each plugin, the first environment of the order that does not run what its
predecessor runs is the target. The move happens only when the release passes its gates
(under the policies of the revision promoted from), has soaked long enough in the
previous environment, and has the approvals the target asks for. Each promotion is one
commit of the target's state file, whose message says what changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pygit2

from pipeline import layout
from pipeline.errors import GateError, InputError
from pipeline.gitrepo import ChangeSet, GitRepo, Trailers, compose_message, read_trailers
from pipeline.models.base import API_VERSION
from pipeline.models.policy import PolicySet
from pipeline.models.release import Release
from pipeline.policy.gates import ReleaseGates
from pipeline.promotion.approvals import ApprovalRequest, evaluate_approvals
from pipeline.promotion.rollback import ROLLED_BACK_FROM
from pipeline.promotion.signed_approvals import manifest_digest, signed_approvals
from pipeline.snapshot import Loaded, Snapshot
from pipeline.yamlio import dump_yaml, parse_yaml


@dataclass(frozen=True)
class PromoteRequest:
    """Which plugins to promote (all when None), optionally into which environment."""

    now: datetime
    plugin: str | None = None
    version: str | None = None
    to: str | None = None
    operator: str | None = None
    ci_run: str | None = None
    emergency: str | None = None
    """Go live despite a freeze or outside the windows; the reason is recorded."""


@dataclass(frozen=True)
class Promotion:
    """One move: a plugin's version from `source` (None: a new release) into `target`."""

    plugin: str
    version: str
    source: str | None
    target: str
    previous: str | None
    release: Release

    def changes(self, current: bytes | None) -> ChangeSet:
        """The target's new state file (keeping its comments when it exists)."""
        path = layout.plugin_state_path(self.target, self.plugin)
        digest = self.release.artifact.sha256
        if current is None:
            data = {
                "apiVersion": API_VERSION,
                "kind": "PluginState",
                "plugin": self.plugin,
                "version": self.version,
                "digest": digest,
            }
            return {path: dump_yaml(data).encode()}
        tree = parse_yaml(current, path).tree
        tree["version"], tree["digest"] = self.version, digest
        return {path: dump_yaml(tree).encode()}

    def message(self, request: PromoteRequest) -> str:
        """Subject, what changes (old -> new, digest, change list) and trailers."""
        changes = (
            "\n".join(f"- {c.id}: {c.title}" for c in self.release.changes) or "- (none listed)"
        )
        body = (
            f"{self.target}: {self.previous or '(not deployed)'} -> {self.version}\n"
            f"digest: sha256:{self.release.artifact.sha256}\n"
            f"from: {self.source or 'release'}\n\nchanges:\n{changes}"
        )
        trailers = Trailers(
            action="promote",
            plugin=self.plugin,
            version=self.version,
            environment=self.target,
            operator=request.operator,
            ci_run=request.ci_run,
            extra={
                "From": self.source or "release",
                **({"Emergency": request.emergency} if request.emergency else {}),
            },
        )
        return compose_message(
            f"Promote {self.plugin} {self.version} to {self.target}", body, trailers
        )


@dataclass
class PromotionPlan:
    """What can move now, and why the rest cannot."""

    ready: list[Promotion] = field(default_factory=list)
    held: list[tuple[str, str]] = field(default_factory=list)
    """(plugin, reason) for every plugin that was asked for but cannot move."""


def plan_promotions(git: GitRepo, tip: pygit2.Commit, request: PromoteRequest) -> PromotionPlan:
    """Decide every promotion at `tip`, under `tip`'s policies."""
    snapshot = Snapshot(git, tip)
    policies = snapshot.policies()
    order = policies.promotion.order
    if request.to is not None and request.to not in order:
        raise InputError(f"{request.to!r} is not in the promotion order ({' -> '.join(order)})")
    plugins = [request.plugin] if request.plugin else _deployed_plugins(git, tip, order)
    plan = PromotionPlan()
    for plugin in plugins:
        try:
            promotion = _candidate(snapshot, policies, plugin, request)
            _check(git, snapshot, policies, promotion, request)
        except _HeldError as held:
            plan.held.append((plugin, str(held)))
            continue
        plan.ready.append(promotion)
    return plan


class _HeldError(Exception):
    """A plugin that cannot move now; the message says why."""


def _deployed_plugins(git: GitRepo, tip: pygit2.Commit, order: list[str]) -> list[str]:
    names = {
        name.removesuffix(".yaml")
        for env in order
        for name, is_dir in git.list_dir(tip, f"{layout.ENVIRONMENTS}/{env}/plugins")
        if not is_dir and name.endswith(".yaml")
    }
    return sorted(names)


def _version(snapshot: Snapshot, env: str, plugin: str) -> str | None:
    loaded = snapshot.plugin_state(env, plugin)
    return loaded.model.version if loaded is not None else None


def _candidate(
    snapshot: Snapshot, policies: PolicySet, plugin: str, request: PromoteRequest
) -> Promotion:
    order = policies.promotion.order
    targets = [request.to] if request.to else order
    for target in targets:
        source = policies.previous_environment(target)
        current = _version(snapshot, target, plugin)
        if source is None:
            if request.to is None or request.version is None:
                continue  # the first environment takes a named version only
            version: str | None = request.version
        else:
            version = _version(snapshot, source, plugin)
            if version is None:
                if request.to:
                    raise _HeldError(
                        f"{plugin} is not deployed in {source}: promote it there first"
                    )
                continue
        if version == current:
            if request.to:
                raise _HeldError(f"{target} already runs {plugin}@{version}")
            continue
        if request.version is not None and version != request.version:
            raise _HeldError(
                f"{source} runs {plugin}@{version}, not {request.version}: "
                "environments cannot be skipped"
            )
        assert version is not None
        loaded = snapshot.release(plugin, version)
        if loaded is None:
            raise _HeldError(f"{plugin}@{version} has no release manifest")
        return Promotion(plugin, version, source, target, current, loaded.model)
    if all(_version(snapshot, env, plugin) is None for env in order) and not snapshot.versions(
        plugin
    ):
        raise _HeldError(f"{plugin} has no release and runs nowhere")
    raise _HeldError(f"every environment already runs what the one before it runs for {plugin}")


def _check(
    git: GitRepo,
    snapshot: Snapshot,
    policies: PolicySet,
    promotion: Promotion,
    request: PromoteRequest,
) -> None:
    loaded = snapshot.release(promotion.plugin, promotion.version)
    assert loaded is not None
    _check_not_rolled_back(git, snapshot, promotion)
    _check_gates(snapshot, policies, loaded, request.now)
    if promotion.source is not None:
        _check_soak(git, snapshot, policies, promotion, request.now)
    _check_approvals(git, snapshot, policies, promotion, request.now)
    closed = policies.windows.closed_because(promotion.target, request.now)
    if closed is not None and not request.emergency:
        raise _HeldError(f"{closed} (an emergency override needs --emergency REASON)")


def _check_not_rolled_back(git: GitRepo, snapshot: Snapshot, promotion: Promotion) -> None:
    """A version rolled back from an environment does not go back there by itself."""
    path = layout.plugin_state_path(promotion.target, promotion.plugin)
    for change in git.path_history(snapshot.commit, path):
        trailers = read_trailers(change.commit.message)
        if (
            trailers.get("Action") == "rollback"
            and trailers.get(ROLLED_BACK_FROM) == promotion.version
        ):
            raise _HeldError(
                f"{promotion.plugin}@{promotion.version} was rolled back from {promotion.target} "
                f"(commit {change.commit.short_id}): release a fix instead"
            )


def _check_gates(
    snapshot: Snapshot, policies: PolicySet, loaded: Loaded[Release], now: datetime
) -> None:
    results = ReleaseGates(policies, snapshot, snapshot, loaded, now=now).evaluate()
    failed = [f"{r.gate} ({r.message or r.found})" for r in results if r.status == "fail"]
    if failed:
        raise _HeldError(f"{loaded.model.ref} fails its gates: {', '.join(failed)}")


def _check_soak(
    git: GitRepo, snapshot: Snapshot, policies: PolicySet, promotion: Promotion, now: datetime
) -> None:
    assert promotion.source is not None
    minutes = policies.promotion.soak_minutes.get(promotion.source, 0)
    if minutes <= 0:
        return
    since = _arrived(git, snapshot.commit, promotion.source, promotion.plugin, promotion.version)
    waited = (now - since).total_seconds() / 60
    if waited < minutes:
        raise _HeldError(
            f"{promotion.plugin}@{promotion.version} has soaked {waited:.0f} of {minutes} "
            f"minute(s) in {promotion.source}"
        )


def _arrived(git: GitRepo, tip: pygit2.Commit, env: str, plugin: str, version: str) -> datetime:
    """When `version` became what `env` runs: the commit that last changed it to that."""
    path = layout.plugin_state_path(env, plugin)
    arrived = tip
    for change in git.path_history(tip, path):
        before = git.blob(change.before) if change.before else None
        if before is None or parse_yaml(before, path).data.get("version") != version:
            arrived = change.commit
            break
    return datetime.fromtimestamp(arrived.commit_time, UTC)


def _check_approvals(
    git: GitRepo, snapshot: Snapshot, policies: PolicySet, promotion: Promotion, now: datetime
) -> None:
    rules = policies.approvals.for_environment(promotion.target)
    if rules.required == 0:
        return
    path = layout.release_path(promotion.plugin, promotion.version)
    raw = snapshot.read(path)
    assert raw is not None
    author, requested_at, _ = request_origin(git, snapshot.commit, path)
    approvals, problems = signed_approvals(
        snapshot, policies.teams, promotion.plugin, promotion.version, promotion.target
    )
    verdict = evaluate_approvals(
        policies,
        ApprovalRequest(promotion.target, author, manifest_digest(raw), requested_at),
        approvals,
        now=now,
    )
    if not verdict.satisfied:
        raise _HeldError(verdict.describe() + "".join(f"; refused record: {p}" for p in problems))


def request_origin(
    git: GitRepo, tip: pygit2.Commit, path: str
) -> tuple[str, datetime, pygit2.Commit]:
    """Who published a release (the operator, else the commit author), when, and the commit."""
    origin = tip
    for change in git.path_history(tip, path):
        origin = change.commit
        if change.before is None:
            break
    trailers = read_trailers(origin.message)
    author = trailers.get("Operator") or origin.author.name
    return author, datetime.fromtimestamp(origin.commit_time, UTC), origin


def _replan(
    git: GitRepo, tip: pygit2.Commit, planned: Promotion, request: PromoteRequest
) -> Promotion:
    """The same promotion, decided again at `tip`; GateError when it no longer holds."""
    again = plan_promotions(
        git,
        tip,
        PromoteRequest(
            now=request.now,
            plugin=planned.plugin,
            version=planned.version,
            to=planned.target,
            operator=request.operator,
            ci_run=request.ci_run,
            emergency=request.emergency,
        ),
    )
    if not again.ready:
        raise GateError(
            f"{planned.plugin}@{planned.version} -> {planned.target} no longer holds after a "
            f"concurrent change: {again.held[0][1]}"
        )
    return again.ready[0]


@dataclass(frozen=True)
class PromoteResult:
    """What landed, and what did not move (with reasons)."""

    landed: list[tuple[Promotion, str]]
    held: list[tuple[str, str]]


def promote(
    git: GitRepo,
    request: PromoteRequest,
    *,
    branch: str,
    remote: str | None = None,
    when: float | None = None,
) -> PromoteResult:
    """Plan at the branch tip and land each promotion as its own commit (pushed if asked)."""
    start = git.fetch(remote, branch) if remote else git.resolve(f"refs/heads/{branch}")
    if start is None:
        raise InputError(f"branch {branch!r} does not exist on {remote!r}")
    plan = plan_promotions(git, start, request)
    landed: list[tuple[Promotion, str]] = []
    for promotion in plan.ready:

        def change(tip: pygit2.Commit | None, p: Promotion = promotion) -> tuple[ChangeSet, str]:
            assert tip is not None
            if tip.id != start.id:  # others pushed first: decide again on what they left
                p = _replan(git, tip, p, request)
            path = layout.plugin_state_path(p.target, p.plugin)
            current = git.read(tip, path, max_bytes=1024 * 1024)
            return p.changes(current), p.message(request)

        if remote is not None:
            commit = git.commit_and_push(remote, branch, change, when=when)
        else:
            tip = git.resolve(f"refs/heads/{branch}")
            changes, message = change(tip)
            commit = git.commit(branch, changes, message, parent=tip, when=when)
        landed.append((promotion, str(commit.id)))
    return PromoteResult(landed, plan.held)
