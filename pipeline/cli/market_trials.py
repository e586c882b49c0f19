"""`px-market trial start`, `px-market purchase`, `px-market notify`, `px-market report`."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pipeline.cli.options import branch_option, format_option, operator_option, push_option
from pipeline.cli.options import repo_option as _repo_option
from pipeline.cli.vocabulary import emit

if TYPE_CHECKING:
    from pipeline.market.trials import Issued

__all__ = ["notify_command", "purchase_command", "register", "report_command", "trial"]


def register(group: click.Group) -> None:
    """Add this module's commands to `px-market`."""
    for command in (trial, purchase_command, notify_command, report_command):
        group.add_command(command)


def _now() -> datetime:
    return datetime.now(UTC)


@click.group("trial")
def trial() -> None:
    """Trials of paid plugins for tenants."""


@trial.command("start")
@click.argument("plugin")
@click.option("--tenant", required=True, help="The tenant the trial is for.")
@click.option("--env", "environment", help="The tenant's environment [default: any].")
@click.option(
    "--days",
    type=click.IntRange(min=1),
    help="A shorter trial [default: the listing's pricing.trialDays].",
)
@_repo_option()
@branch_option()
@push_option()
@operator_option
@format_option()
def trial_start(
    plugin: str,
    tenant: str,
    environment: str | None,
    days: int | None,
    repo_dir: Path,
    branch: str,
    remote: str | None,
    operator: str | None,
    output_format: str,
) -> int:
    """Start a trial of PLUGIN for a tenant: one commit of its entitlement.

    The trial lasts the listing's pricing.trialDays; one trial per tenant and plugin. When it
    ends, the next agent sync deactivates the plugin for the tenant (data kept) until a plan
    is purchased. Exit 1 when refused (free plugin, no trial offered, second trial).
    """
    from pipeline.gitrepo import GitRepo
    from pipeline.market.trials import TrialRequest, start_trial

    request = TrialRequest(plugin, tenant, _now(), environment, days, operator)
    issued = start_trial(GitRepo(repo_dir), request, branch=branch, remote=remote)
    until = issued.entitlement.not_after.isoformat()
    text = (
        f"trial of {plugin} for tenant {tenant} until {until} "
        f"({issued.path}, commit {issued.commit[:12]})\n"
    )
    emit(output_format, _issued_json(issued), text)
    return 0


@click.command("purchase")
@click.argument("plugin")
@click.option("--tenant", required=True, help="The tenant who buys.")
@click.option("--plan", required=True, help="A plan of the listing's pricing.plans.")
@click.option("--env", "environment", help="The tenant's environment [default: any].")
@click.option(
    "--until",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The licence ends at the start of this day (UTC) [default: the plan's period].",
)
@_repo_option()
@branch_option()
@push_option()
@operator_option
@format_option()
def purchase_command(
    plugin: str,
    tenant: str,
    plan: str,
    environment: str | None,
    until: datetime | None,
    repo_dir: Path,
    branch: str,
    remote: str | None,
    operator: str | None,
    output_format: str,
) -> int:
    """Record a purchase of PLUGIN's plan for a tenant: one commit of its entitlement.

    Without --until the licence runs one period of the plan (month, year; once: no end),
    counted from the end of a running purchase of the same plan. The next agent sync
    activates the plugin for the tenant again.
    """
    from pipeline.gitrepo import GitRepo
    from pipeline.market.trials import PurchaseRequest, purchase

    ends: date | None = until.date() if until else None
    request = PurchaseRequest(plugin, tenant, plan, _now(), environment, ends, operator)
    issued = purchase(GitRepo(repo_dir), request, branch=branch, remote=remote)
    text = (
        f"{plan} plan of {plugin} for tenant {tenant} until "
        f"{issued.entitlement.not_after.isoformat()} ({issued.path}, commit {issued.commit[:12]})\n"
    )
    emit(output_format, _issued_json(issued), text)
    return 0


def _issued_json(issued: Issued) -> dict[str, object]:
    return {
        "path": issued.path,
        "commit": issued.commit,
        "entitlement": issued.entitlement.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


@click.command("notify")
@click.option(
    "--changes",
    "changes_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The catalog changes, as JSON (a list of CatalogChange objects).",
)
@_repo_option("The repo whose market/subscriptions.yaml says who is told.")
@click.option("--rev", default="HEAD", show_default=True, help="The revision to read it at.")
@format_option()
def notify_command(changes_file: Path, repo_dir: Path, rev: str, output_format: str) -> int:
    """Send CloudEvents about catalog changes to the subscribed tenants' webhooks.

    Exit 1 when a delivery failed (after its retries); URLs are shown without their path.
    """
    from pipeline.gitrepo import GitRepo
    from pipeline.market.events import deliver, read_changes
    from pipeline.market.records import load_subscriptions
    from pipeline.snapshot import Snapshot

    git = GitRepo(repo_dir)
    subscriptions = load_subscriptions(Snapshot(git, git.resolve(rev)))
    changes = read_changes(changes_file)
    results = deliver(changes, subscriptions, now=_now)
    lines = [result.line() for result in results] or ["no subscriber wants these changes"]
    emit(
        output_format,
        {"deliveries": [result.as_json() for result in results]},
        "".join(f"{line}\n" for line in lines),
    )
    return 0 if all(result.ok for result in results) else 1


@click.command("report")
@click.option(
    "--events",
    "events_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Usage events (JSON lines: download, activation, uninstall) for the per-version "
    "figures [default: the repo's market/usage.jsonl, if any].",
)
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Only reviews submitted and events from this day on (UTC).",
)
@_repo_option()
@click.option("--rev", default="HEAD", show_default=True, help="The revision to read.")
@format_option()
def report_command(
    events_file: Path | None,
    since: datetime | None,
    repo_dir: Path,
    rev: str,
    output_format: str,
) -> int:
    """Review pass rate, lead time, review time against the SLA, rejection reasons, and
    downloads, activations and churn per version."""
    from pipeline.gitrepo import GitRepo
    from pipeline.market.report import ReportRequest, build_report, report_text
    from pipeline.models.market_events import read_events
    from pipeline.snapshot import Snapshot

    git = GitRepo(repo_dir)
    start = since.replace(tzinfo=UTC) if since else None
    events = read_events(events_file) if events_file else None
    report = build_report(ReportRequest(Snapshot(git, git.resolve(rev)), events, start, _now()))
    emit(output_format, report.as_json(), report_text(report))
    return 0
