"""What a verdict does to a rollout: expand, complete, hold, resume or roll back, one commit each.

Decisions of one analysis (`apply_verdict`, called by `step_rollout`):

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

Every decision that changes the state is one commit whose message carries the judge's verdict.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline import layout
from pipeline.canary.analysis import analysis_line
from pipeline.canary.judge import Verdict
from pipeline.canary.record import Target, land, trailers
from pipeline.canary.result import RolloutResult, notify, result_of
from pipeline.canary.state import Current, read_state, same_rollout, weight_text, with_canary
from pipeline.gitrepo import ChangeSet, Commit, compose_message
from pipeline.models.digest import digest_text
from pipeline.models.environment import Canary
from pipeline.policy.gates import ReleaseGates
from pipeline.promotion.rollback import RollbackRequest, plan_canary_rollback, rollback_message

CHANGELOG = "CHANGELOG.md"


def apply_verdict(
    target: Target, current: Current, verdict: Verdict, now: datetime
) -> RolloutResult:
    """Roll back on fail, hold on hold, else progress (see the table above)."""
    if verdict.decision == "fail":
        return roll_back(target, current, verdict, now, f"the canary failed: {verdict.reason}")
    if verdict.decision == "hold":
        return _hold(target, current, verdict, now)
    return _progress(target, current, verdict, now)


def _hold(target: Target, current: Current, verdict: Verdict, now: datetime) -> RolloutResult:
    canary = current.state.canary
    assert canary is not None
    spec = current.spec
    if canary.holding_since is None:
        held = canary.model_copy(update={"holding_since": now})
        commit = _decide(target, current, held, verdict, now, "rollout-hold", "holds at")
        result = result_of(
            current,
            "held",
            f"holds at {weight_text(canary)}: {verdict.reason} "
            f"(rolls back if still holding after {spec.fail_after:g}s)",
            commit,
            verdict,
        )
        notify(target, result, "held", verdict.explain(), severity="warning")
        return result
    held_for = (now - canary.holding_since).total_seconds()
    if held_for >= spec.fail_after:
        return roll_back(
            target,
            current,
            verdict,
            now,
            f"held for {held_for:.0f}s, at least failAfter {spec.fail_after:g}s: {verdict.reason}",
        )
    return result_of(
        current,
        "holding",
        f"still holding at {weight_text(canary)} for {held_for:.0f}s of "
        f"{spec.fail_after:g}s: {verdict.reason}",
        None,
        verdict,
    )


def _progress(target: Target, current: Current, verdict: Verdict, now: datetime) -> RolloutResult:
    canary = current.state.canary
    assert canary is not None
    spec = current.spec
    ran = (now - canary.step_started_at).total_seconds()
    if ran < spec.min_step_duration:
        if canary.holding_since is not None:
            resumed = canary.model_copy(update={"holding_since": None})
            commit = _decide(target, current, resumed, verdict, now, "rollout-resume", "resumes at")
            return result_of(
                current, "resumed", f"resumes at {weight_text(canary)}", commit, verdict
            )
        return result_of(
            current,
            "waiting",
            f"healthy at {weight_text(canary)}; the step has run {ran:.0f}s of "
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
    result = result_of(
        current,
        "expanded",
        f"expanded {canary.weight}% -> {grown.weight}% ({verdict.reason})",
        commit,
        verdict,
        weight=grown.weight,
    )
    notify(target, result, "expanded", verdict.explain())
    return result


def _decide(
    target: Target,
    current: Current,
    canary: Canary,
    verdict: Verdict,
    now: datetime,
    action: str,
    verb: str,
) -> str:
    """Commit a new canary state with the verdict in the message."""
    plugin, env = current.state.plugin, current.environment
    expected = current.state.canary

    def make_change(tip: Commit) -> tuple[ChangeSet, str]:
        again = read_state(target.git, tip, plugin, env)
        same_rollout(again, expected)
        message = compose_message(
            f"Canary {plugin} {canary.version} in {env} {verb} {weight_text(canary)}",
            f"{verdict.explain()}\n\n{analysis_line(verdict, current.spec)}",
            trailers(
                target,
                action,
                plugin,
                canary.version,
                env,
                decision=verdict.decision,
                weight=str(canary.weight),
                score=_score(verdict),
            ),
        )
        return {again.path: with_canary(again, canary)}, message

    return land(target, make_change, when=now, subject=f"{action} {plugin} {canary.version}")


def _score(verdict: Verdict) -> str:
    return "n/a" if verdict.score is None else f"{verdict.score:.1f}"


def _complete(target: Target, current: Current, verdict: Verdict, now: datetime) -> RolloutResult:
    """The canary becomes stable, after its dependencies and licence are checked again."""
    canary = current.state.canary
    assert canary is not None
    plugin, env = current.state.plugin, current.environment
    refused = _compliance_failures(current, canary.version, now)
    if refused:
        return roll_back(
            target,
            current,
            verdict,
            now,
            f"dependencies or licence no longer valid before 100%: {'; '.join(refused)}",
        )
    stable = current.state.version

    def make_change(tip: Commit) -> tuple[ChangeSet, str]:
        again = read_state(target.git, tip, plugin, env)
        same_rollout(again, canary)
        log_path = f"{layout.ENVIRONMENTS}/{env}/{CHANGELOG}"
        old_log = again.snapshot.read(log_path)
        entry = _changelog_entry(again, canary, stable, now)
        message = compose_message(
            f"Complete the rollout of {plugin} in {env}: {stable} -> {canary.version}",
            f"{env}: {stable} -> {canary.version} for every tenant\n"
            f"digest: {digest_text(canary.digest)}\n\n{verdict.explain()}\n\n"
            f"{analysis_line(verdict, current.spec)}",
            trailers(
                target,
                "rollout-complete",
                plugin,
                canary.version,
                env,
                decision=verdict.decision,
                weight="100",
                score=_score(verdict),
                **{"from": stable},
            ),
        )
        return {
            again.path: with_canary(again, None, version=canary.version, digest=canary.digest),
            log_path: _changelog(old_log, entry, env),
        }, message

    commit = land(target, make_change, when=now, subject=f"complete {plugin} {canary.version}")
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
    notify(target, result, "completed", verdict.explain())
    return result


def _compliance_failures(current: Current, version: str, now: datetime) -> list[str]:
    """Licence and dependency gates of the canary release, under the tip's policies."""
    loaded = current.snapshot.release(current.state.plugin, version)
    if loaded is None:
        return [f"{current.state.plugin}@{version} has no release manifest any more"]
    gates = ReleaseGates(current.policies, current.snapshot, current.snapshot, loaded, now=now)
    results = [gates.licence(), *gates.dependencies()]
    return [f"{r.gate}: {r.message or r.found}" for r in results if r.status == "fail"]


def _changelog_entry(current: Current, canary: Canary, stable: str, now: datetime) -> str:
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


def roll_back(
    target: Target, current: Current, verdict: Verdict, now: datetime, reason: str
) -> RolloutResult:
    """Remove the canary: every tenant runs stable; a rollback commit with the verdict."""
    canary = current.state.canary
    assert canary is not None
    plugin, env = current.state.plugin, current.environment
    request = RollbackRequest(
        plugin=plugin,
        environment=env,
        reason=reason,
        operator=target.operator,
        ci_run=target.ci_run,
        details=f"Canary {canary.version} at {weight_text(canary)} removed; every tenant "
        f"runs {current.state.version}.\n\n{verdict.explain()}\n\n"
        f"{analysis_line(verdict, current.spec)}",
    )

    def make_change(tip: Commit) -> tuple[ChangeSet, str]:
        again = read_state(target.git, tip, plugin, env)
        same_rollout(again, canary)
        plan = plan_canary_rollback(target.git, tip, again.path, again.state)
        return plan.changes(), rollback_message(plan, request)

    commit = land(target, make_change, when=now, subject=f"roll back {plugin} {canary.version}")
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
    notify(target, result, "rolled-back", verdict.explain(), severity="alert")
    return result
