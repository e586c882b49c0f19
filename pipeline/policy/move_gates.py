"""The gates on moving a plugin version into an environment (`powerx check` of a change,
not of an audit): the promotion order and the approvals the base's policies ask for."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipeline.models.policy import PolicySet
from pipeline.policy.release_approvals import PullRequestReviews, release_approvals
from pipeline.policy.results import GateResult, located
from pipeline.snapshot import Loaded, Snapshot


def approvals_gate(
    policies: PolicySet,
    base: Snapshot,
    head: Snapshot,
    env: str,
    plugin: str,
    version: str,
    loaded: Loaded[Any],
    *,
    now: datetime,
    reviews: PullRequestReviews | None,
) -> list[GateResult]:
    """A new version in `env` needs the approvals the base's policies ask for."""
    required = policies.approvals.for_environment(env).required
    if required == 0:
        return []  # nothing to count: what the base ran there does not matter
    before = base.plugin_state(env, plugin)
    if before is not None and before.model.version == version:
        return []
    judged = release_approvals(head, policies, plugin, version, env, now=now, reviews=reviews)
    ok = judged.verdict.satisfied
    return [
        GateResult(
            subject=f"{env}/{plugin}",
            gate="approvals",
            status="pass" if ok else "fail",
            expected=f"{required} approval(s) for {env}",
            found=f"{len(judged.verdict.counted)}",
            message="" if ok else judged.describe(),
            hint=None if ok else _approvals_hint(env, plugin, version),
            **located(loaded.locate("version")),
        )
    ]


def order_gate(
    policies: PolicySet, base: Snapshot, env: str, plugin: str, version: str, where: object
) -> GateResult:
    """A version moves into `env` only from the environment before it (base revision)."""
    previous = policies.previous_environment(env)
    subject = f"{env}/{plugin}"
    if previous is None:
        return GateResult(
            subject=subject,
            gate="order",
            status="pass",
            expected="first environment",
            found=env,
            **located(where),  # type: ignore[arg-type]
        )
    before = base.plugin_state(previous, plugin)
    found = before.model.version if before else "absent"
    ok = found == version
    return GateResult(
        subject=subject,
        gate="order",
        status="pass" if ok else "fail",
        expected=f"{plugin}@{version} already in {previous}",
        found=f"{previous} has {found}",
        message=(
            ""
            if ok
            else f"promote {plugin}@{version} to {previous} first: environments cannot be skipped"
        ),
        **located(where),  # type: ignore[arg-type]
    )


def _approvals_hint(env: str, plugin: str, version: str) -> str:
    return (
        f"approvers run `powerx approve {plugin}@{version} --env {env} --key KEY`, "
        "or approve the pull request (checked with --pull-request N)"
    )
