"""The rollout controller: start a canary, judge each step, expand, hold or roll back.

The state of a rollout lives only in git: the plugin's state file in the environment folder
holds the stable version and the `canary` (version, weight, step, timestamps). Every
decision that changes that state is one commit whose message carries the judge's verdict,
so a controller killed at any point continues from git, and the history is the audit trail.

Decisions of one analysis (`step_rollout`):

| verdict | situation                         | outcome       | commit                        |
|---------|-----------------------------------|---------------|-------------------------------|
| pass    | the step ran its minimum duration | `expanded`    | yes                           |
| pass    | ... and the next step is 100%     | `completed`   | yes: canary becomes stable    |
| pass    | before the minimum duration       | `waiting`     | no                            |
| pass    | the step was holding              | `resumed`     | yes: holdingSince cleared     |
| hold    | first hold                        | `held`        | yes: holdingSince set, alert  |
| hold    | holding for less than failAfter   | `holding`     | no                            |
| hold    | holding for failAfter or longer   | `rolled-back` | yes: a rollback commit        |
| fail    |                                   | `rolled-back` | yes: a rollback commit        |

A pushed decision that cannot land after three retries is escalated: an alert goes to every
webhook and `PushEscalatedError` ends the run with exit 1.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pygit2

from pipeline import layout
from pipeline.canary.judge import Verdict, judge
from pipeline.canary.providers import MetricsProvider
from pipeline.errors import GateError, InputError, Location, PowerXError
from pipeline.gitrepo import ChangeSet, GitRepo, Trailers, compose_message, read_trailers
from pipeline.models.digest import digest_text
from pipeline.models.environment import Canary, PluginState
from pipeline.models.policy import PolicySet
from pipeline.models.rollout import RolloutSpec
from pipeline.names import (
    deployed_plugins,
    require_in_order,
    require_name,
    require_release,
    unknown_name,
)
from pipeline.notify import Event, Notifier
from pipeline.policy.gates import ReleaseGates
from pipeline.policy.release_approvals import release_approvals
from pipeline.promotion.promote import PromoteRequest, plan_promotions
from pipeline.promotion.rollback import (
    RollbackRequest,
    plan_canary_rollback,
    rollback_message,
)
from pipeline.snapshot import Loaded, Snapshot
from pipeline.yamlio import dump_yaml, parse_yaml

PUSH_RETRIES = 3
"""A decision whose push fails is retried this many times, then escalated."""
CHANGELOG = "CHANGELOG.md"

Outcome = Literal[
    "started",
    "waiting",
    "expanded",
    "completed",
    "held",
    "holding",
    "resumed",
    "rolled-back",
]
FINAL: frozenset[str] = frozenset({"completed", "rolled-back"})
ProviderFactory = Callable[[RolloutSpec], MetricsProvider]


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


@dataclass(frozen=True)
class RolloutResult:
    """What one command did to a rollout."""

    plugin: str
    environment: str
    outcome: Outcome
    stable: str
    canary: str | None
    weight: int
    message: str
    commit: str | None = None
    verdict: Verdict | None = None
    steps: tuple[int, ...] = ()

    @property
    def final(self) -> bool:
        """True once the rollout is over (completed or rolled back)."""
        return self.outcome in FINAL

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "plugin": self.plugin,
            "environment": self.environment,
            "outcome": self.outcome,
            "stable": self.stable,
            "canary": self.canary,
            "weight": self.weight,
            "steps": list(self.steps),
            "message": self.message,
            "commit": self.commit,
            "verdict": self.verdict.as_dict() if self.verdict else None,
        }


# -- reading the state -------------------------------------------------------------------


@dataclass(frozen=True)
class _Current:
    """A plugin's state in an environment at one commit, with the policies there."""

    snapshot: Snapshot
    policies: PolicySet
    path: str
    loaded: Loaded[PluginState]
    spec: RolloutSpec

    @property
    def state(self) -> PluginState:
        return self.loaded.model


def _tip(target: Target) -> pygit2.Commit:
    if target.remote is not None:
        tip = target.git.fetch(target.remote, target.branch)
        if tip is None:
            raise InputError(f"branch {target.branch!r} does not exist on {target.remote!r}")
        return tip
    return target.git.resolve(f"refs/heads/{target.branch}")


def _current(git: GitRepo, tip: pygit2.Commit, plugin: str, environment: str) -> _Current:
    snapshot = Snapshot(git, tip)
    policies = snapshot.policies()
    require_in_order(environment, policies.promotion.order)
    path = layout.plugin_state_path(environment, plugin)
    loaded = snapshot.plugin_state(environment, plugin)
    if loaded is None:
        raise unknown_name(
            "plugin",
            plugin,
            deployed_plugins(snapshot, environment),
            message=f"{plugin} is not deployed in {environment}: a canary needs a stable version",
            hint=f"promote a first version with 'powerx promote {plugin} --to {environment}'",
        )
    return _Current(snapshot, policies, path, loaded, policies.rollout.for_plugin(plugin))


def _with_canary(current: _Current, canary: Canary | None, **fields: str) -> bytes:
    """The state file with `canary` (None: removed) and other fields, comments kept."""
    raw = current.snapshot.read(current.path)
    assert raw is not None  # it was loaded from this snapshot
    tree = parse_yaml(raw, current.path).tree
    for name, value in fields.items():
        tree[name] = value
    if canary is None:
        tree.pop("canary", None)
    else:
        tree["canary"] = canary.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dump_yaml(tree).encode()


# -- landing one decision ----------------------------------------------------------------


class _DecisionChangedError(Exception):
    """The decision no longer applies at the new tip (raised from inside make_change)."""

    def __init__(self, error: PowerXError) -> None:
        super().__init__(error.message)
        self.error = error


def _land(
    target: Target,
    make_change: Callable[[pygit2.Commit], tuple[ChangeSet, str]],
    *,
    when: datetime,
    subject: str,
) -> str:
    """Commit one decision (and push it, retrying); escalate when the push keeps failing."""

    def change(tip: pygit2.Commit | None) -> tuple[ChangeSet, str]:
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


def _trailers(
    target: Target, action: str, plugin: str, version: str, env: str, **extra: str
) -> Trailers:
    return Trailers(
        action=action,
        plugin=plugin,
        version=version,
        environment=env,
        operator=target.operator,
        ci_run=target.ci_run,
        extra={key.replace("_", "-").title(): value for key, value in extra.items() if value},
    )


# -- start ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StartRequest:
    """Put `plugin@version` into `environment` as a canary at the first step."""

    plugin: str
    version: str
    environment: str
    now: datetime
    group: str | None = None
    """An explicit tenant group of environment.yaml instead of the hash buckets."""


def start_rollout(target: Target, request: StartRequest) -> RolloutResult:
    """Check the version may enter the environment, then commit the canary at step 0."""
    git = target.git
    tip = _tip(target)
    current = _current(git, tip, request.plugin, request.environment)
    existing = current.state.canary
    if existing is not None and existing.version == request.version:
        return _result(current, "started", "the rollout is already under way (nothing to do)")
    _check_startable(git, tip, current, request)
    spec = current.spec
    plan_text = _plan_text(spec, current.state.version, request.version)

    def make_change(tip: pygit2.Commit) -> tuple[ChangeSet, str]:
        now_current = _current(git, tip, request.plugin, request.environment)
        if now_current.state.canary is not None:
            raise GateError(
                f"a rollout of {request.plugin} {now_current.state.canary.version} is "
                f"already in progress in {request.environment}"
            )
        _check_startable(git, tip, now_current, request)
        release = now_current.snapshot.release(request.plugin, request.version)
        assert release is not None  # _check_startable saw it
        canary = Canary.model_validate(
            {
                "version": request.version,
                "digest": release.model.artifact.sha256,
                "weight": spec.steps[0],
                "step": 0,
                "group": request.group,
                "startedAt": request.now,
                "stepStartedAt": request.now,
            }
        )
        trailers = _trailers(
            target,
            "rollout-start",
            request.plugin,
            request.version,
            request.environment,
            stable=now_current.state.version,
            weight=str(canary.weight),
        )
        message = compose_message(
            f"Start the canary of {request.plugin} {request.version} in "
            f"{request.environment} at {_weight_text(canary)}",
            plan_text,
            trailers,
        )
        return {now_current.path: _with_canary(now_current, canary)}, message

    subject = f"start {request.plugin} {request.version} in {request.environment}"
    commit = _land(target, make_change, when=request.now, subject=subject)
    state = current.state
    weight_text = f"group {request.group}" if request.group else f"{spec.steps[0]}%"
    result = RolloutResult(
        request.plugin,
        request.environment,
        "started",
        state.version,
        request.version,
        spec.steps[0],
        f"canary {request.version} started at {weight_text} beside stable {state.version}",
        commit,
        steps=tuple(spec.steps),
    )
    _notify(target, result, "started", plan_text)
    return result


def _check_startable(
    git: GitRepo, tip: pygit2.Commit, current: _Current, request: StartRequest
) -> None:
    """The version must be allowed into the environment exactly as `powerx promote` would."""
    state = current.state
    if state.canary is not None:
        raise GateError(
            f"a rollout of {request.plugin} {state.canary.version} is already in progress in "
            f"{request.environment}",
            hint="wait for it to complete or roll back, or roll it back with "
            f"'powerx rollback {request.plugin} --env {request.environment}'",
        )
    if state.version == request.version:
        raise InputError(f"{request.environment} already runs {request.plugin}@{request.version}")
    require_release(current.snapshot, request.plugin, request.version)
    if request.group is not None:
        env = current.snapshot.environment(request.environment)
        require_name(
            "tenant group",
            request.group,
            env.model.groups if env is not None else (),
            message=f"{request.environment} has no tenant group {request.group!r}",
            hint=f"name one of the groups of {layout.environment_path(request.environment)}",
        )
    if not current.spec.metrics:
        raise InputError(
            f"the rollout policy has no metrics for {request.plugin}: no analysis could pass",
            location=Location(
                current.policies.sources.get("RolloutPolicy", "policies/rollout.yaml")
            ),
            hint="list the metrics that judge a canary under 'metrics:' (see docs/formats.md)",
        )
    plan = plan_promotions(
        git,
        tip,
        PromoteRequest(
            now=request.now, plugin=request.plugin, version=request.version, to=request.environment
        ),
    )
    if not plan.ready:
        reason = plan.held[0][1] if plan.held else "not allowed"
        raise GateError(
            f"{request.plugin}@{request.version} may not enter {request.environment}: {reason}"
        )
    policies = current.policies
    if policies.promotion.lands_by_pull_request(request.environment):
        judged = release_approvals(
            current.snapshot,
            policies,
            request.plugin,
            request.version,
            request.environment,
            now=request.now,
        )
        if not judged.verdict.satisfied:
            raise GateError(
                f"{request.plugin}@{request.version} lacks its approvals for "
                f"{request.environment}: {judged.describe()}"
            )


def _plan_text(spec: RolloutSpec, stable: str, canary: str) -> str:
    steps = " -> ".join(f"{step}%" for step in spec.steps)
    metrics = "\n".join(
        f"- {m.name}: {m.direction} is bad, max deviation {m.max_deviation:.0%}, "
        f"weight {m.weight:g}{', critical' if m.critical else ''}, no data: {m.no_data}"
        for m in spec.metrics
    )
    return (
        f"stable {stable}, canary {canary}\n"
        f"plan: {steps}\n"
        f"analysis every {spec.interval:g}s over the last {spec.analysis_window:g}s; "
        f"each step runs at least {spec.min_step_duration:g}s; "
        f"a hold fails after {spec.fail_after:g}s\n"
        f"thresholds: pass >= {spec.thresholds.pass_:g}, marginal >= {spec.thresholds.marginal:g}\n"
        f"metrics:\n{metrics or '- (none: every analysis fails)'}"
    )


def _weight_text(canary: Canary) -> str:
    return f"group {canary.group}" if canary.group else f"{canary.weight}%"


# -- step ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepRequest:
    """Run one analysis of the rollout of `plugin` in `environment` at `now`."""

    plugin: str
    environment: str
    now: datetime


def step_rollout(target: Target, request: StepRequest, providers: ProviderFactory) -> RolloutResult:
    """One analysis: judge the canary, then expand, complete, hold or roll back."""
    git = target.git
    tip = _tip(target)
    current = _current(git, tip, request.plugin, request.environment)
    canary = current.state.canary
    if canary is None:
        raise InputError(
            f"no rollout of {request.plugin} is in progress in {request.environment}",
            hint=f"start one with 'powerx rollout start {request.plugin}@VERSION "
            f"--env {request.environment}'",
        )
    spec = current.spec
    now = request.now
    start = max(canary.started_at, now - timedelta(seconds=spec.analysis_window))
    needed = spec.sample_interval * spec.min_samples
    if (now - start).total_seconds() < needed:
        return _result(
            current,
            "waiting",
            f"collecting samples: the canary has run {(now - start).total_seconds():.0f}s, "
            f"an analysis needs {needed:g}s ({spec.min_samples} samples)",
        )
    verdict = judge(
        spec,
        providers(spec),
        plugin=request.plugin,
        canary_version=canary.version,
        stable_version=current.state.version,
        start=start,
        end=now,
    )
    if verdict.decision == "fail":
        return _roll_back(target, current, verdict, now, f"the canary failed: {verdict.reason}")
    if verdict.decision == "hold":
        return _hold(target, current, verdict, now)
    return _progress(target, current, verdict, now)


def _hold(target: Target, current: _Current, verdict: Verdict, now: datetime) -> RolloutResult:
    canary = current.state.canary
    assert canary is not None
    spec = current.spec
    if canary.holding_since is None:
        held = canary.model_copy(update={"holding_since": now})
        commit = _decide(target, current, held, verdict, now, "rollout-hold", "holds at")
        result = _result(
            current,
            "held",
            f"holds at {_weight_text(canary)}: {verdict.reason} "
            f"(rolls back if still holding after {spec.fail_after:g}s)",
            commit,
            verdict,
        )
        _notify(target, result, "held", verdict.explain(), severity="warning")
        return result
    held_for = (now - canary.holding_since).total_seconds()
    if held_for >= spec.fail_after:
        return _roll_back(
            target,
            current,
            verdict,
            now,
            f"held for {held_for:.0f}s, at least failAfter {spec.fail_after:g}s: {verdict.reason}",
        )
    return _result(
        current,
        "holding",
        f"still holding at {_weight_text(canary)} for {held_for:.0f}s of "
        f"{spec.fail_after:g}s: {verdict.reason}",
        None,
        verdict,
    )


def _progress(target: Target, current: _Current, verdict: Verdict, now: datetime) -> RolloutResult:
    canary = current.state.canary
    assert canary is not None
    spec = current.spec
    ran = (now - canary.step_started_at).total_seconds()
    if ran < spec.min_step_duration:
        if canary.holding_since is not None:
            resumed = canary.model_copy(update={"holding_since": None})
            commit = _decide(target, current, resumed, verdict, now, "rollout-resume", "resumes at")
            return _result(
                current, "resumed", f"resumes at {_weight_text(canary)}", commit, verdict
            )
        return _result(
            current,
            "waiting",
            f"healthy at {_weight_text(canary)}; the step has run {ran:.0f}s of "
            f"{spec.min_step_duration:g}s",
            None,
            verdict,
        )
    index = min(canary.step, len(spec.steps) - 1) + 1
    if canary.group is not None or index >= len(spec.steps) or spec.steps[index] >= 100:
        return _complete(target, current, verdict, now)
    grown = canary.model_copy(
        update={
            "weight": spec.steps[index],
            "step": index,
            "step_started_at": now,
            "holding_since": None,
        }
    )
    commit = _decide(target, current, grown, verdict, now, "rollout-step", "expands to")
    result = _result(
        current,
        "expanded",
        f"expanded {canary.weight}% -> {grown.weight}% ({verdict.reason})",
        commit,
        verdict,
        weight=grown.weight,
    )
    _notify(target, result, "expanded", verdict.explain())
    return result


def _decide(
    target: Target,
    current: _Current,
    canary: Canary,
    verdict: Verdict,
    now: datetime,
    action: str,
    verb: str,
) -> str:
    """Commit a new canary state with the verdict in the message."""
    plugin, env = current.state.plugin, current.path.split("/")[1]
    expected = current.state.canary

    def make_change(tip: pygit2.Commit) -> tuple[ChangeSet, str]:
        again = _current(target.git, tip, plugin, env)
        _same_rollout(again, expected)
        trailers = _trailers(
            target,
            action,
            plugin,
            canary.version,
            env,
            decision=verdict.decision,
            weight=str(canary.weight),
            score=_score(verdict),
        )
        message = compose_message(
            f"Canary {plugin} {canary.version} in {env} {verb} {_weight_text(canary)}",
            verdict.explain(),
            trailers,
        )
        return {again.path: _with_canary(again, canary)}, message

    return _land(target, make_change, when=now, subject=f"{action} {plugin} {canary.version}")


def _same_rollout(current: _Current, expected: Canary | None) -> None:
    """Refuse to apply a decision when someone else changed the rollout meanwhile."""
    canary = current.state.canary
    if canary is None or expected is None or canary != expected:
        raise GateError(
            f"the rollout of {current.state.plugin} changed while it was being judged "
            "(another controller, or a person, decided first)",
            hint="run 'powerx rollout status' to see the state, then step again",
        )


def _score(verdict: Verdict) -> str:
    return "n/a" if verdict.score is None else f"{verdict.score:.1f}"


def _complete(target: Target, current: _Current, verdict: Verdict, now: datetime) -> RolloutResult:
    """The canary becomes stable, after its dependencies and licence are checked again."""
    canary = current.state.canary
    assert canary is not None
    plugin, env = current.state.plugin, current.path.split("/")[1]
    refused = _compliance_failures(current, canary.version, now)
    if refused:
        return _roll_back(
            target,
            current,
            verdict,
            now,
            f"dependencies or licence no longer valid before 100%: {'; '.join(refused)}",
        )
    stable = current.state.version

    def make_change(tip: pygit2.Commit) -> tuple[ChangeSet, str]:
        again = _current(target.git, tip, plugin, env)
        _same_rollout(again, canary)
        log_path = f"{layout.ENVIRONMENTS}/{env}/{CHANGELOG}"
        old_log = again.snapshot.read(log_path)
        entry = _changelog_entry(again, canary, stable, now)
        trailers = _trailers(
            target,
            "rollout-complete",
            plugin,
            canary.version,
            env,
            decision=verdict.decision,
            weight="100",
            score=_score(verdict),
            **{"from": stable},
        )
        message = compose_message(
            f"Complete the rollout of {plugin} in {env}: {stable} -> {canary.version}",
            f"{env}: {stable} -> {canary.version} for every tenant\n"
            f"digest: {digest_text(canary.digest)}\n\n{verdict.explain()}",
            trailers,
        )
        return {
            again.path: _with_canary(again, None, version=canary.version, digest=canary.digest),
            log_path: _changelog(old_log, entry, env),
        }, message

    commit = _land(target, make_change, when=now, subject=f"complete {plugin} {canary.version}")
    result = RolloutResult(
        plugin,
        env,
        "completed",
        canary.version,
        None,
        100,
        f"completed: {plugin} {canary.version} is stable in {env} (was {stable})",
        commit,
        verdict,
        tuple(current.spec.steps),
    )
    _notify(target, result, "completed", verdict.explain())
    return result


def _compliance_failures(current: _Current, version: str, now: datetime) -> list[str]:
    """Licence and dependency gates of the canary release, under the tip's policies."""
    loaded = current.snapshot.release(current.state.plugin, version)
    if loaded is None:
        return [f"{current.state.plugin}@{version} has no release manifest any more"]
    gates = ReleaseGates(current.policies, current.snapshot, current.snapshot, loaded, now=now)
    results = [gates.licence(), *gates.dependencies()]
    return [f"{r.gate}: {r.message or r.found}" for r in results if r.status == "fail"]


def _changelog_entry(current: _Current, canary: Canary, stable: str, now: datetime) -> str:
    release = current.snapshot.release(current.state.plugin, canary.version)
    changes = (
        "\n".join(f"  - {c.id}: {c.title}" for c in release.model.changes)
        if release is not None and release.model.changes
        else "  - (no changes listed)"
    )
    return (
        f"- {now.astimezone(UTC):%Y-%m-%d %H:%M} UTC: **{current.state.plugin} "
        f"{canary.version}** replaces {stable} (canary from "
        f"{canary.started_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC)\n{changes}\n"
    )


def _changelog(old: bytes | None, entry: str, env: str) -> bytes:
    """The change log with `entry` first under its title (written by the controller)."""
    title = f"# Change log of {env}\n\nWhat every tenant of {env} runs, newest first.\n\n"
    text = old.decode("utf-8", "replace") if old else title
    if text.startswith(title):
        return (title + entry + text[len(title) :]).encode()
    return (title + entry + "\n" + text).encode()


def _roll_back(
    target: Target, current: _Current, verdict: Verdict, now: datetime, reason: str
) -> RolloutResult:
    """Remove the canary: every tenant runs stable; a rollback commit with the verdict."""
    canary = current.state.canary
    assert canary is not None
    plugin, env = current.state.plugin, current.path.split("/")[1]
    request = RollbackRequest(
        plugin=plugin,
        environment=env,
        reason=reason,
        operator=target.operator,
        ci_run=target.ci_run,
        details=f"Canary {canary.version} at {_weight_text(canary)} removed; every tenant "
        f"runs {current.state.version}.\n\n{verdict.explain()}",
    )

    def make_change(tip: pygit2.Commit) -> tuple[ChangeSet, str]:
        again = _current(target.git, tip, plugin, env)
        _same_rollout(again, canary)
        plan = plan_canary_rollback(target.git, tip, again.path, again.state)
        return plan.changes(), rollback_message(plan, request)

    commit = _land(target, make_change, when=now, subject=f"roll back {plugin} {canary.version}")
    result = RolloutResult(
        plugin,
        env,
        "rolled-back",
        current.state.version,
        None,
        0,
        f"rolled back: canary {canary.version} removed, every tenant runs "
        f"{current.state.version} ({reason})",
        commit,
        verdict,
        tuple(current.spec.steps),
    )
    _notify(target, result, "rolled-back", verdict.explain(), severity="alert")
    return result


# -- status --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """One recorded decision of a rollout, from git history."""

    commit: str
    time: datetime
    action: str
    summary: str


@dataclass(frozen=True)
class RolloutStatus:
    """Where a rollout stands, read from git."""

    plugin: str
    environment: str
    stable: str
    canary: Canary | None
    steps: tuple[int, ...]
    decisions: tuple[Decision, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "plugin": self.plugin,
            "environment": self.environment,
            "stable": self.stable,
            "canary": self.canary.model_dump(mode="json", by_alias=True) if self.canary else None,
            "steps": list(self.steps),
            "decisions": [
                {
                    "commit": d.commit,
                    "time": d.time.isoformat(),
                    "action": d.action,
                    "summary": d.summary,
                }
                for d in self.decisions
            ],
        }


ROLLOUT_ACTIONS = frozenset(
    {
        "rollout-start",
        "rollout-step",
        "rollout-hold",
        "rollout-resume",
        "rollout-complete",
        "rollback",
    }
)


def rollout_status(
    target: Target, plugin: str, environment: str, *, limit: int = 10
) -> RolloutStatus:
    """The state of `plugin`'s rollout in `environment` and its latest decisions."""
    tip = _tip(target)
    current = _current(target.git, tip, plugin, environment)
    decisions = []
    for change in target.git.path_history(tip, current.path):
        trailers = read_trailers(change.commit.message)
        if trailers.get("Action") in ROLLOUT_ACTIONS:
            decisions.append(
                Decision(
                    str(change.commit.id),
                    datetime.fromtimestamp(change.commit.commit_time, UTC),
                    trailers["Action"],
                    change.commit.message.splitlines()[0],
                )
            )
        if len(decisions) >= limit:
            break
    return RolloutStatus(
        plugin,
        environment,
        current.state.version,
        current.state.canary,
        tuple(current.spec.steps),
        tuple(decisions),
    )


# -- watch ---------------------------------------------------------------------------------


def watch_rollout(
    target: Target,
    plugin: str,
    environment: str,
    providers: ProviderFactory,
    *,
    clock: Callable[[], datetime],
    interval: float | None = None,
    on_round: Callable[[RolloutResult], None] = lambda _result: None,
    max_rounds: int | None = None,
) -> RolloutResult:
    """Step every `interval` seconds (default: the policy's) until completed or rolled back.

    Everything it knows comes from git at each round, so a watch that is killed and started
    again continues where the last committed decision left the rollout.
    """
    rounds = 0
    while True:
        started = time.monotonic()
        result = step_rollout(target, StepRequest(plugin, environment, clock()), providers)
        on_round(result)
        rounds += 1
        if result.final or (max_rounds is not None and rounds >= max_rounds):
            return result
        wait = interval if interval is not None else _policy_interval(target, plugin, environment)
        target.sleep(max(0.0, wait - (time.monotonic() - started)))


def _policy_interval(target: Target, plugin: str, environment: str) -> float:
    tip = _tip(target)
    return _current(target.git, tip, plugin, environment).spec.interval


# -- helpers -------------------------------------------------------------------------------


def _result(
    current: _Current,
    outcome: Outcome,
    message: str,
    commit: str | None = None,
    verdict: Verdict | None = None,
    *,
    weight: int | None = None,
) -> RolloutResult:
    canary = current.state.canary
    return RolloutResult(
        current.state.plugin,
        current.path.split("/")[1],
        outcome,
        current.state.version,
        canary.version if canary else None,
        weight if weight is not None else (canary.weight if canary else 0),
        message,
        commit,
        verdict,
        tuple(current.spec.steps),
    )


def _notify(
    target: Target,
    result: RolloutResult,
    kind: str,
    details: str,
    *,
    severity: Literal["info", "warning", "alert"] = "info",
) -> None:
    if not target.notifier.configured:
        return
    subject = f"{result.plugin}/{result.environment}"
    text = (
        f"PowerX rollout {result.plugin} in {result.environment}: {result.message}"
        + (f" (commit {result.commit[:12]})" if result.commit else "")
        + f"\n{details}"
    )
    target.notifier.send(Event(kind, subject, text, result.as_dict(), severity=severity))
