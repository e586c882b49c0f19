"""`powerx rollout`: canary rollouts driven by metrics.

Exit codes: 0 the rollout started, progressed, is waiting or holding, or completed;
1 it was rolled back, a gate refused it, or a decision could not be pushed (escalated);
2 bad input; 3 a bug.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import click

from pipeline import ci
from pipeline.canary.controller import (
    ProviderFactory,
    RolloutResult,
    RolloutStatus,
    StartRequest,
    StepRequest,
    Target,
    rollout_status,
    start_rollout,
    step_rollout,
    watch_rollout,
)
from pipeline.canary.judge import MetricResult
from pipeline.canary.providers import MetricsProvider, provider_from_config
from pipeline.cli.options import (
    branch_option,
    combine,
    format_option,
    operator_option,
    push_option,
    repo_option,
)
from pipeline.cli.usage import release_ref
from pipeline.cli.vocabulary import Duration
from pipeline.gitrepo import GitRepo
from pipeline.models.rollout import ProviderConfig, RolloutSpec
from pipeline.notify import SLACK_WEBHOOKS_ENV, WEBHOOKS_ENV, Notifier, urls_from_env
from pipeline.urls import credential_problem, redact_url


def _now() -> datetime:
    return datetime.now(UTC)


def _common(command: Callable[..., int]) -> Callable[..., int]:
    """--env, --repo, --branch, --push, --operator and the webhooks of every subcommand."""
    options = [
        click.option("--env", "environment", required=True, help="The environment."),
        repo_option(),
        branch_option("The branch."),
        push_option("Read from and push to this remote (default origin), rebasing and retrying."),
        operator_option,
        click.option(
            "--webhook",
            "webhooks",
            multiple=True,
            metavar="URL",
            help=f"POST a CloudEvents event on each decision (repeatable; also ${WEBHOOKS_ENV}).",
        ),
        click.option(
            "--slack-webhook",
            "slack_webhooks",
            multiple=True,
            metavar="URL",
            help=f"POST a Slack-compatible text message (repeatable; also ${SLACK_WEBHOOKS_ENV}).",
        ),
    ]
    return combine(*options)(command)


def _metrics_options(command: Callable[..., int]) -> Callable[..., int]:
    command = click.option(
        "--metrics-file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Read samples from this JSON or CSV file instead of the policy's provider.",
    )(command)
    return click.option(
        "--prometheus",
        metavar="URL",
        help="Query this Prometheus instead of the policy's provider (its token env var "
        "still applies).",
    )(command)


def _target(
    repo_dir: Path,
    branch: str,
    remote: str | None,
    operator: str | None,
    webhooks: tuple[str, ...],
    slack_webhooks: tuple[str, ...],
) -> Target:
    notifier = Notifier(
        [*webhooks, *urls_from_env(os.environ, WEBHOOKS_ENV)],
        [*slack_webhooks, *urls_from_env(os.environ, SLACK_WEBHOOKS_ENV)],
    )
    return Target(
        GitRepo(repo_dir),
        branch=branch,
        remote=remote,
        operator=operator,
        ci_run=ci.run_url(os.environ),
        notifier=notifier,
    )


def _providers(root: Path, prometheus: str | None, metrics_file: Path | None) -> ProviderFactory:
    """The metrics provider: --metrics-file, else --prometheus, else the policy's."""
    if prometheus and metrics_file:
        raise click.UsageError("pass --prometheus or --metrics-file, not both")
    if prometheus is not None:
        parts = urlsplit(prometheus)
        credentials = credential_problem(prometheus)
        if parts.scheme not in ("http", "https") or not parts.hostname or credentials:
            raise click.UsageError(
                f"--prometheus must be http(s)://host[:port][/path] without credentials, "
                f"not {redact_url(prometheus)!r}: name the token's env var in "
                "policies/rollout.yaml"
            )
    made: dict[str, MetricsProvider] = {}

    def make(spec: RolloutSpec) -> MetricsProvider:
        config = spec.provider
        if metrics_file is not None:
            config = ProviderConfig.model_validate({"type": "file", "path": str(metrics_file)})
        elif prometheus is not None:
            base = (
                config.model_dump(by_alias=True) if config and config.type == "prometheus" else {}
            )
            config = ProviderConfig.model_validate(
                {**base, "type": "prometheus", "url": prometheus}
            )
        key = config.model_dump_json() if config else ""
        if key not in made:
            made[key] = provider_from_config(config, os.environ, base=root)
        return made[key]

    return make


def _report_deliveries(target: Target) -> None:
    for delivery in target.notifier.sent:
        if not delivery.ok:
            click.echo(
                f"warning: {delivery.kind} webhook {delivery.target} {delivery.detail}", err=True
            )


def _exit_code(result: RolloutResult) -> int:
    return 1 if result.outcome == "rolled-back" else 0


@click.group("rollout")
def rollout() -> None:
    """Canary rollouts: start, step, watch, status.

    Exit codes: 0 started / progressed / waiting / holding / completed; 1 rolled back, refused
    by a gate, or a decision that could not be pushed (escalated); 2 bad input; 3 a bug.
    """


@rollout.command()
@click.argument("release", metavar="PLUGIN@VERSION")
@click.option("--group", help="Run the canary in this tenant group of environment.yaml.")
@_common
@format_option()
def start(
    release: str,
    group: str | None,
    environment: str,
    repo_dir: Path,
    branch: str,
    remote: str | None,
    operator: str | None,
    webhooks: tuple[str, ...],
    slack_webhooks: tuple[str, ...],
    output_format: str,
) -> int:
    """Put PLUGIN@VERSION into an environment as a canary at the first step.

    The version must be allowed into the environment as `powerx promote` would allow it
    (gates, order, soak, approvals, windows). One commit, with the plan in its message.
    """
    plugin, version = release_ref(release, "PLUGIN@VERSION")
    target = _target(repo_dir, branch, remote, operator, webhooks, slack_webhooks)
    result = start_rollout(target, StartRequest(plugin, version, environment, _now(), group))
    if output_format == "json":
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        click.echo(f"{plugin} in {environment}: {result.message}" + _commit_text(result))
    _report_deliveries(target)
    return 0


@rollout.command()
@click.argument("plugin")
@_metrics_options
@_common
@format_option()
def step(
    plugin: str,
    prometheus: str | None,
    metrics_file: Path | None,
    environment: str,
    repo_dir: Path,
    branch: str,
    remote: str | None,
    operator: str | None,
    webhooks: tuple[str, ...],
    slack_webhooks: tuple[str, ...],
    output_format: str,
) -> int:
    """Run one analysis of PLUGIN's canary: expand, complete, hold or roll back."""
    target = _target(repo_dir, branch, remote, operator, webhooks, slack_webhooks)
    providers = _providers(target.git.root, prometheus, metrics_file)
    result = step_rollout(target, StepRequest(plugin, environment, _now()), providers)
    if output_format == "json":
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        click.echo("\n".join(render_round(result)))
        if result.verdict is not None:
            click.echo(result.verdict.explain())
    _report_deliveries(target)
    return _exit_code(result)


@rollout.command()
@click.argument("plugin")
@click.option(
    "--interval",
    type=Duration(),
    help="Time between analyses, a duration (e.g. 30s, 5m) [default: the rollout policy's "
    "interval].",
)
@_metrics_options
@_common
def watch(
    plugin: str,
    interval: float | None,
    prometheus: str | None,
    metrics_file: Path | None,
    environment: str,
    repo_dir: Path,
    branch: str,
    remote: str | None,
    operator: str | None,
    webhooks: tuple[str, ...],
    slack_webhooks: tuple[str, ...],
) -> int:
    """Step PLUGIN's canary every interval until it completes or rolls back.

    Each round shows one line per metric (redrawn in place on a terminal). Killed and started
    again, it continues from the state in git.
    """
    target = _target(repo_dir, branch, remote, operator, webhooks, slack_webhooks)
    providers = _providers(target.git.root, prometheus, metrics_file)
    view = LiveView(tty=sys.stdout.isatty())
    result = watch_rollout(
        target, plugin, environment, providers, clock=_now, interval=interval, on_round=view.show
    )
    if result.verdict is not None:
        click.echo(result.verdict.explain())
    _report_deliveries(target)
    return _exit_code(result)


@rollout.command()
@click.argument("plugin")
@click.option("--env", "environment", required=True, help="The environment.")
@repo_option()
@branch_option("The branch.")
@format_option()
def status(plugin: str, environment: str, repo_dir: Path, branch: str, output_format: str) -> int:
    """Where PLUGIN's rollout in an environment stands, and its latest decisions."""
    report = rollout_status(Target(GitRepo(repo_dir), branch=branch), plugin, environment)
    if output_format == "json":
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        click.echo(render_status(report))
    return 0


# -- rendering -----------------------------------------------------------------------------


def _commit_text(result: RolloutResult) -> str:
    return f" (commit {result.commit[:12]})" if result.commit else ""


def render_round(result: RolloutResult) -> list[str]:
    """One analysis: a headline, then one line per metric."""
    stamp = result.verdict.end if result.verdict and result.verdict.end else _now()
    canary = f" canary {result.canary}" if result.canary else ""
    lines = [
        f"[{stamp:%H:%M:%S}] {result.plugin} in {result.environment}: {result.outcome}, "
        f"stable {result.stable}{canary} at {result.weight}%: {result.message}"
        + _commit_text(result)
    ]
    if result.verdict is not None:
        lines += [f"  {_metric_line(metric)}" for metric in result.verdict.metrics]
    return lines


def _metric_line(metric: MetricResult) -> str:
    def side(n: int, mean: float | None) -> str:
        return f"{n:>3} x {'n/a' if mean is None else f'{mean:.4g}':>8}"

    deviation = "n/a" if metric.deviation is None else f"{metric.deviation:+.1%}"
    p_value = "n/a" if metric.p_value is None else f"{metric.p_value:.3f}"
    return (
        f"{metric.name:<16} {metric.status:<7} canary {side(metric.canary_n, metric.canary_mean)}"
        f"  stable {side(metric.stable_n, metric.stable_mean)}  dev {deviation:>7}  p {p_value}"
    )


class LiveView:
    """Prints each round; on a terminal the previous round is redrawn in place."""

    def __init__(self, *, tty: bool) -> None:
        self.tty = tty
        self.drawn = 0

    def show(self, result: RolloutResult) -> None:
        """Show one round's lines."""
        lines = render_round(result)
        if self.tty and self.drawn and not result.commit:
            click.echo(f"\x1b[{self.drawn}F\x1b[J", nl=False, color=True)
        click.echo("\n".join(lines), color=self.tty)
        # a round that committed a decision stays on screen; the next one starts below it
        self.drawn = 0 if result.commit else len(lines)


def render_status(report: RolloutStatus) -> str:
    """The status as text."""
    lines = [f"{report.plugin} in {report.environment}: stable {report.stable}"]
    canary = report.canary
    steps = " -> ".join(f"{s}%" for s in report.steps)
    if canary is None:
        lines.append(f"no rollout in progress (plan for the next one: {steps})")
    else:
        where = f"group {canary.group}" if canary.group else f"{canary.weight}%"
        lines.append(
            f"canary {canary.version} at {where} (step {canary.step + 1} of {steps}), "
            f"started {canary.started_at:%Y-%m-%d %H:%M:%S}, "
            f"step since {canary.step_started_at:%H:%M:%S}"
        )
        if canary.holding_since is not None:
            lines.append(f"holding since {canary.holding_since:%Y-%m-%d %H:%M:%S}")
    if report.decisions:
        lines.append("decisions (newest first):")
        lines += [
            f"  {d.time:%Y-%m-%d %H:%M:%S}  {d.commit[:12]}  {d.action:<16} {d.summary}"
            for d in report.decisions
        ]
    return "\n".join(lines)
