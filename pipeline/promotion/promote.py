"""`powerx promote`: move releases one environment further along the promotion order.

For each plugin, the first environment of the order that does not run what its
predecessor runs is the target. The move happens only when the release passes its gates
(under the policies of the revision promoted from), has soaked long enough in the
previous environment, and has the approvals the target asks for. Each promotion is one
commit of the target's state file, whose message says what changes.
"""

from __future__ import annotations

import posixpath
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pipeline import layout
from pipeline.errors import GateError, InputError
from pipeline.gitrepo import ChangeSet, Commit, GitRepo, Trailers, compose_message
from pipeline.models.base import API_VERSION
from pipeline.models.digest import digest_text
from pipeline.models.policy import PolicySet
from pipeline.models.release import Release
from pipeline.names import require_in_order, require_plugin, require_release
from pipeline.policy.gates import ReleaseGates
from pipeline.policy.release_approvals import release_approvals
from pipeline.promotion.branches import push_request_branch
from pipeline.promotion.rollback import ROLLED_BACK_FROM
from pipeline.promotion.shortcuts import changed, edit_as_written, rollbacks, same_state, state_blob
from pipeline.snapshot import Loaded, Snapshot
from pipeline.yamlio import dump_yaml, parse_yaml

if TYPE_CHECKING:  # the forge (and httpx) load only when a pull request is opened
    from pipeline.forge import GitHubClient


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
        doc = parse_yaml(current, path)
        edited = edit_as_written(doc, self.version, digest)
        if edited is not None:
            return {path: edited.encode()}
        tree = doc.tree
        tree["version"], tree["digest"] = self.version, digest
        return {path: dump_yaml(tree).encode()}

    def message(self, request: PromoteRequest) -> str:
        """Subject, what changes (old -> new, digest, change list) and trailers."""
        changes = (
            "\n".join(f"- {c.id}: {c.title}" for c in self.release.changes) or "- (none listed)"
        )
        body = (
            f"{self.target}: {self.previous or '(not deployed)'} -> {self.version}\n"
            f"digest: {digest_text(self.release.artifact.sha256)}\n"
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


def plan_promotions(git: GitRepo, tip: Commit, request: PromoteRequest) -> PromotionPlan:
    """Decide every promotion at `tip`, under `tip`'s policies."""
    snapshot = Snapshot(git, tip)
    policies = snapshot.policies()
    order = policies.promotion.order
    _check_names(snapshot, order, request)
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


def next_promotion(git: GitRepo, tip: Commit, plugin: str) -> Promotion | None:
    """The move `plan_promotions` would judge next for `plugin` at `tip` (version, from
    where, into which environment), not judged; None when there is none (every environment
    runs what the one before it runs, or the version has no release manifest).

    Read-only, for views that show where a plugin goes next and, with the plan's reason,
    why it does not go now.
    """
    snapshot = Snapshot(git, tip)
    request = PromoteRequest(now=datetime.now(UTC), plugin=plugin)
    try:
        return _candidate(snapshot, snapshot.policies(), plugin, request)
    except _HeldError:
        return None


@dataclass(frozen=True)
class JudgedPromotion:
    """A plugin's next move and, when it may not happen now, the planner's reason."""

    promotion: Promotion
    held: str | None
    """Why it cannot move now (as `PromotionPlan.held` says it); None: it may."""


def judged_next_promotion(
    snapshot: Snapshot, plugin: str, now: datetime, *, policies: PolicySet | None = None
) -> JudgedPromotion | None:
    """`next_promotion` judged as `plan_promotions` judges it at `now`, in one pass.

    For views that show, per plugin, where it goes next and why it does not go now: the
    move is found once and the snapshot (its parsed files, its policies) is shared by
    every plugin asked about (pass `policies`, the snapshot's, to read them once for all).
    None when the plugin has no next move.
    """
    policies = policies if policies is not None else snapshot.policies()
    request = PromoteRequest(now=now, plugin=plugin)
    try:
        promotion = _candidate(snapshot, policies, plugin, request)
    except _HeldError:
        return None
    try:
        _check(snapshot.git, snapshot, policies, promotion, request)
    except _HeldError as held:
        return JudgedPromotion(promotion, str(held))
    return JudgedPromotion(promotion, None)


def _check_names(snapshot: Snapshot, order: list[str], request: PromoteRequest) -> None:
    """The environment, plugin and version asked for exist (InputError, exit 2, if not)."""
    if request.to is not None:
        require_in_order(request.to, order)
    if request.plugin is not None:
        require_plugin(snapshot, request.plugin)
        if request.version is not None:
            require_release(snapshot, request.plugin, request.version)
    elif request.version is not None:
        raise InputError("a version needs its plugin", hint="name it as plugin@version")


class _HeldError(Exception):
    """A plugin that cannot move now; the message says why."""


def _deployed_plugins(git: GitRepo, tip: Commit, order: list[str]) -> list[str]:
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


def _absent(snapshot: Snapshot, env: str, plugin: str) -> bool:
    """No state file in `env` (a regular file is there without reading it)."""
    return state_blob(snapshot, env, plugin) is None and _version(snapshot, env, plugin) is None


def _candidate(
    snapshot: Snapshot, policies: PolicySet, plugin: str, request: PromoteRequest
) -> Promotion:
    order = policies.promotion.order
    targets = [request.to] if request.to else order
    for target in targets:
        source = policies.previous_environment(target)
        if source is None and (request.to is None or request.version is None):
            continue  # the first environment takes a named version only
        if (
            source is not None
            and request.to is None
            and same_state(snapshot, source, target, plugin)
        ):
            continue  # the very same file, so the same version: nothing to read
        current = _version(snapshot, target, plugin)
        if source is None:
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
    if all(_absent(snapshot, env, plugin) for env in order) and not snapshot.versions(plugin):
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
    _check_no_rollout(snapshot, promotion)
    _check_not_rolled_back(git, snapshot, promotion)
    _check_gates(snapshot, policies, loaded, request.now)
    if promotion.source is not None:
        _check_soak(git, snapshot, policies, promotion, request.now)
    if not policies.promotion.lands_by_pull_request(promotion.target):
        _check_approvals(snapshot, policies, promotion, request.now)
    # else: the pull request's reviews are the approvals, judged by `powerx check`
    closed = policies.windows.closed_because(promotion.target, request.now)
    if closed is not None and not request.emergency:
        raise _HeldError(f"{closed} (an emergency override needs --emergency REASON)")


def _check_no_rollout(snapshot: Snapshot, promotion: Promotion) -> None:
    """A canary in progress owns the state: it moves by `powerx rollout step`, not here."""
    loaded = snapshot.plugin_state(promotion.target, promotion.plugin)
    canary = loaded.model.canary if loaded is not None else None
    if canary is not None:
        raise _HeldError(
            f"a canary rollout of {promotion.plugin} {canary.version} is in progress in "
            f"{promotion.target} ({canary.weight}%): it moves on with `powerx rollout step`"
        )


def _check_not_rolled_back(git: GitRepo, snapshot: Snapshot, promotion: Promotion) -> None:
    """A version rolled back from an environment does not go back there by itself."""
    path = layout.plugin_state_path(promotion.target, promotion.plugin)
    folder = posixpath.dirname(path)
    touched = _folder_changes.setdefault(git, {})
    for commit, trailers in rollbacks(git, snapshot.commit):
        if trailers.get(ROLLED_BACK_FROM) != promotion.version:
            continue
        key = (commit.id, folder)
        if key not in touched:  # a file cannot have changed when its folder did not
            touched[key] = changed(commit, folder)
        if touched[key] and changed(commit, path):
            raise _HeldError(
                f"{promotion.plugin}@{promotion.version} was rolled back from {promotion.target} "
                f"(commit {commit.short_id}): release a fix instead"
            )


_folder_changes: weakref.WeakKeyDictionary[GitRepo, dict[tuple[str, str], bool]] = (
    weakref.WeakKeyDictionary()
)
"""(commit, folder) -> whether the commit changed the folder, per repo (it never changes)."""


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


def _arrived(git: GitRepo, tip: Commit, env: str, plugin: str, version: str) -> datetime:
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
    snapshot: Snapshot, policies: PolicySet, promotion: Promotion, now: datetime
) -> None:
    if policies.approvals.for_environment(promotion.target).required == 0:
        return
    judged = release_approvals(
        snapshot, policies, promotion.plugin, promotion.version, promotion.target, now=now
    )
    if not judged.verdict.satisfied:
        raise _HeldError(judged.describe())


def _replan(git: GitRepo, tip: Commit, planned: Promotion, request: PromoteRequest) -> Promotion:
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
class Proposal:
    """A promotion proposed as a pull request: its branch, commit and pull request."""

    promotion: Promotion
    branch: str
    commit: str
    pull_request: str | None = None
    note: str = ""


@dataclass(frozen=True)
class PromoteResult:
    """What landed, what was proposed as a pull request, and what did not move (and why)."""

    landed: list[tuple[Promotion, str]]
    held: list[tuple[str, str]]
    proposed: list[Proposal] = field(default_factory=list)
    canaries: list[Promotion] = field(default_factory=list)
    """Promotions into environments that take new versions by canary: the caller starts
    each one (`pipeline.canary.controller.start_rollout`); nothing was written for them."""


def promotion_branch(promotion: Promotion) -> str:
    """The branch a pull-request promotion is proposed on."""
    return f"promote/{promotion.target}/{promotion.plugin}-{promotion.version}"


def promote(
    git: GitRepo,
    request: PromoteRequest,
    *,
    branch: str,
    remote: str | None = None,
    when: float | None = None,
    forge: Callable[[], GitHubClient] | None = None,
) -> PromoteResult:
    """Plan at the branch tip and land each promotion as its own commit (pushed if asked).

    Into an environment that lands by pull request, the commit goes on its own branch
    (`promote/<env>/<plugin>-<version>`) and a pull request into `branch` is opened
    through `forge` (none: the branch waits for a pull request opened elsewhere).
    """
    start = git.fetch(remote, branch) if remote else git.resolve(f"refs/heads/{branch}")
    if start is None:
        raise InputError(f"branch {branch!r} does not exist on {remote!r}")
    plan = plan_promotions(git, start, request)
    policies = Snapshot(git, start).policies()
    landed: list[tuple[Promotion, str]] = []
    proposed: list[Proposal] = []
    canaries: list[Promotion] = []
    # The branch tip as this run left it: a commit of ours changes no other plugin's
    # decision, so only a tip someone else moved calls for deciding again.
    ours = start.id
    for promotion in plan.ready:
        if policies.promotion.starts_canary(promotion.target) and promotion.previous:
            canaries.append(promotion)  # a first deployment has no stable to compare with
            continue
        if policies.promotion.lands_by_pull_request(promotion.target):
            proposed.append(_propose(git, start, promotion, request, branch, remote, forge))
            continue

        def change(
            tip: Commit | None, p: Promotion = promotion, last: str = ours
        ) -> tuple[ChangeSet, str]:
            assert tip is not None
            if tip.id != last:  # others pushed first: decide again on what they left
                p = _replan(git, tip, p, request)
            path = layout.plugin_state_path(p.target, p.plugin)
            # On our own tip the file is as it was at the start: our commits changed others.
            current = git.read(tip if tip.id != last else start, path, max_bytes=1024 * 1024)
            return p.changes(current), p.message(request)

        if remote is not None:
            commit = git.commit_and_push(remote, branch, change, when=when)
        else:
            tip = git.resolve(f"refs/heads/{branch}")
            changes, message = change(tip)
            commit = git.commit(branch, changes, message, parent=tip, when=when)
        ours = commit.id
        landed.append((promotion, str(commit.id)))
    return PromoteResult(landed, plan.held, proposed, canaries)


def _propose(
    git: GitRepo,
    start: Commit,
    promotion: Promotion,
    request: PromoteRequest,
    base: str,
    remote: str | None,
    forge: Callable[[], GitHubClient] | None,
) -> Proposal:
    """Commit the promotion on its own branch, push it and open (or find) its pull request."""
    branch = promotion_branch(promotion)
    path = layout.plugin_state_path(promotion.target, promotion.plugin)
    changes = promotion.changes(git.read(start, path, max_bytes=1024 * 1024))
    message = promotion.message(request)
    if remote is None:
        commit = git.commit(f"refs/heads/{branch}", changes, message, parent=start)
        return Proposal(promotion, branch, str(commit.id), note="committed locally")
    proposed = git.fetch(remote, branch)
    if proposed is not None and git.read(proposed, path, max_bytes=1024 * 1024) == changes[path]:
        # Already proposed: rebuilding the branch on a newer base would make every review
        # stale, for no change in what it proposes.
        commit, note = proposed, "already proposed"
    else:
        commit = git.commit(f"refs/heads/{branch}", changes, message, parent=start)
        commit, note = push_request_branch(git, remote, commit, branch)
    if forge is None:
        return Proposal(promotion, branch, str(commit.id), note=note or "pushed; open a PR")
    title, _, body = message.partition("\n")
    pull, created = forge().ensure_pull_request(branch, base, title, body.strip())
    note = "pull request opened" if created else (note or "pull request already open")
    return Proposal(promotion, branch, str(commit.id), pull.html_url, note)
