"""The rollout controller: start a canary, judge each step, expand, hold or roll back.

The state of a rollout lives only in git: the plugin's state file in the environment folder
holds the stable version and the `canary` (version, weight, step, timestamps). Every
decision that changes that state is one commit whose message carries the judge's verdict,
so a controller killed at any point continues from git, and the history is the audit trail.

This module holds the entry points (start, step, watch) and is the public API of the
package; the parts live beside it:

- `state`: reading and writing the canary block of a plugin's state file;
- `decide`: what a verdict does (the decision table of one analysis);
- `record`: where decisions land, one commit each, push retries and escalation;
- `result`: what a command did, and the webhook message about it;
- `status`: where a rollout stands, from git history.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pipeline import layout
from pipeline.canary.decide import apply_verdict
from pipeline.canary.judge import judge
from pipeline.canary.providers import MetricsProvider
from pipeline.canary.record import PUSH_RETRIES, PushEscalatedError, Target, land, trailers
from pipeline.canary.result import FINAL, Outcome, RolloutResult, notify, result_of
from pipeline.canary.state import Current, branch_tip, read_state, weight_text, with_canary
from pipeline.canary.status import Decision, RolloutStatus, rollout_status
from pipeline.errors import GateError, InputError, Location
from pipeline.gitrepo import ChangeSet, Commit, GitRepo, compose_message
from pipeline.models.environment import Canary
from pipeline.models.rollout import RolloutSpec
from pipeline.names import require_name, require_release
from pipeline.policy.release_approvals import release_approvals
from pipeline.promotion.promote import PromoteRequest, plan_promotions

__all__ = [
    "FINAL",
    "PUSH_RETRIES",
    "Decision",
    "Outcome",
    "ProviderFactory",
    "PushEscalatedError",
    "RolloutResult",
    "RolloutStatus",
    "StartRequest",
    "StepRequest",
    "Target",
    "rollout_status",
    "start_rollout",
    "step_rollout",
    "watch_rollout",
]

ProviderFactory = Callable[[RolloutSpec], MetricsProvider]


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
    tip = branch_tip(target)
    current = read_state(git, tip, request.plugin, request.environment)
    existing = current.state.canary
    if existing is not None and existing.version == request.version:
        return result_of(current, "started", "the rollout is already under way (nothing to do)")
    _check_startable(git, tip, current, request)
    spec = current.spec
    plan_text = _plan_text(spec, current.state.version, request.version)

    def make_change(tip: Commit) -> tuple[ChangeSet, str]:
        now_current = read_state(git, tip, request.plugin, request.environment)
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
        message = compose_message(
            f"Start the canary of {request.plugin} {request.version} in "
            f"{request.environment} at {weight_text(canary)}",
            plan_text,
            trailers(
                target,
                "rollout-start",
                request.plugin,
                request.version,
                request.environment,
                stable=now_current.state.version,
                weight=str(canary.weight),
            ),
        )
        return {now_current.path: with_canary(now_current, canary)}, message

    subject = f"start {request.plugin} {request.version} in {request.environment}"
    commit = land(target, make_change, when=request.now, subject=subject)
    state = current.state
    share = f"group {request.group}" if request.group else f"{spec.steps[0]}%"
    result = RolloutResult(
        request.plugin,
        request.environment,
        "started",
        state.version,
        request.version,
        spec.steps[0],
        f"canary {request.version} started at {share} beside stable {state.version}",
        commit,
        steps=tuple(spec.steps),
    )
    notify(target, result, "started", plan_text)
    return result


def _check_startable(git: GitRepo, tip: Commit, current: Current, request: StartRequest) -> None:
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
    tip = branch_tip(target)
    current = read_state(git, tip, request.plugin, request.environment)
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
        return result_of(
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
    return apply_verdict(target, current, verdict, now)


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
    tip = branch_tip(target)
    return read_state(target.git, tip, plugin, environment).spec.interval
