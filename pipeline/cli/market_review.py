"""`px-market submit`, `review ...`, `status` and `remind`: the review workflow in git."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from pipeline import ci
from pipeline.cli.options import combine, format_option, github_repo_option, repo_option
from pipeline.cli.usage import release_ref
from pipeline.cli.vocabulary import emit
from pipeline.errors import InputError

F = TypeVar("F", bound=Callable[..., Any])
ExistingFile = click.Path(exists=True, dir_okay=False, path_type=Path)


def _target_options() -> Callable[[F], F]:
    return combine(
        repo_option(),
        click.option("--base", default="main", show_default=True, help="The trusted branch."),
        click.option("--remote", default="origin", show_default=True, help="Push to this remote."),
        click.option("--no-push", is_flag=True, help="Only commit locally."),
    )


def _as_option(help: str) -> Callable[[F], F]:
    return click.option("--as", "login", envvar="GITHUB_ACTOR", required=True, help=help)


def _target(repo_dir: Path, base: str, remote: str, no_push: bool) -> Any:
    from pipeline.gitrepo import GitRepo
    from pipeline.market.submit import Target

    return Target(GitRepo(repo_dir), base, None if no_push else remote, ci.run_url(os.environ))


def _store_option(required: bool = True) -> Callable[[F], F]:
    return click.option(
        "--store",
        envvar="POWERX_STORE",
        required=required,
        help="The artifact store: a directory or file:// location [$POWERX_STORE].",
    )


@click.command()
@click.argument("target", required=False)
@click.option("--offline", is_flag=True, help="TARGET is an uploaded .pxp file to submit.")
@click.option("--bundle", type=ExistingFile, help="Its signature [default: FILE.sigstore.json].")
@click.option("--listing", type=ExistingFile, help="Its listing.yaml (offline).")
@click.option(
    "--evidence",
    multiple=True,
    metavar="KIND=REPORT",
    help="Offline: coverage=, tests= or scans= (the security report) a report file.",
)
@_store_option()
@_as_option("Who submits [default: $GITHUB_ACTOR].")
@_target_options()
@format_option()
def submit(
    target: str | None,
    offline: bool,
    bundle: Path | None,
    listing: Path | None,
    evidence: tuple[str, ...],
    store: str,
    login: str,
    repo_dir: Path,
    base: str,
    remote: str,
    no_push: bool,
    output_format: str,
) -> int:
    """Submit PLUGIN@VERSION (released), or --offline FILE.pxp, for Marketplace review.

    The validator runs and its report is recorded with the submission: exit 0 when every
    enforced rule passes, 1 when one fails (the submission is recorded; fix and submit
    again) or could not run (errored: no rejection, retried), 1 when an offline upload is
    refused, 2 on bad input. Every offline upload,
    accepted or refused, is logged in STORE/incoming/market-uploads.jsonl (a store that is
    not a folder: $XDG_STATE_HOME/powerx/market-uploads.jsonl).
    """
    from pipeline.cli.usage import pair
    from pipeline.market.status import render_status, status_data, status_of
    from pipeline.market.submit import run_validator, submit_offline, submit_online
    from pipeline.market.upload import OfflineUpload
    from pipeline.store import store_for, writable_store_for

    now = datetime.now(UTC)
    where = _target(repo_dir, base, remote, no_push)
    warnings: list[str] = []
    if target is None:
        raise click.UsageError("give PLUGIN@VERSION, or --offline FILE.pxp")
    if offline:
        package = Path(target)
        if not package.is_file():
            raise InputError(f"{package} is not a file", hint="give the uploaded .pxp")
        reports = tuple(
            (kind, Path(path)) for kind, path in (pair(e, "=", "KIND=REPORT") for e in evidence)
        )
        upload = OfflineUpload(
            package, login, now, bundle=bundle, listing=listing, evidence=reports
        )
        done, report, warnings = submit_offline(
            where,
            upload,
            store=writable_store_for(store),
            validate=run_validator,
            log=upload_log_path(store),
        )
    else:
        if bundle or listing or evidence:
            raise click.UsageError("--bundle, --listing and --evidence go with --offline")
        plugin, version = release_ref(target, "TARGET")
        done, report = submit_online(
            where,
            plugin,
            version,
            by=login,
            now=now,
            store=store_for(store),
            validate=run_validator,
        )
    sla = where.snapshot().policies().market.sla
    status = status_of(done.review, sla, now, report)
    for warning in warnings:
        click.echo(warning, err=True)
    emit(
        output_format,
        {**status_data(status), "commit": done.commit},
        f"submitted (commit {done.commit[:12]})\n{render_status(status)}",
    )
    # errored (a check could not run) is no rejection, but no pass either: retried later
    return 0 if report.verdict == "passed" else 1


def upload_log_path(store: str) -> Path:
    """Where offline uploads are logged: beside a folder store, else in the user's state."""
    from pipeline.cli.options import local_store_default
    from pipeline.market.upload_log import LOG_NAME

    if "://" in store and not store.startswith("file://"):
        return local_store_default().parent / LOG_NAME
    return Path(store.removeprefix("file://")) / "incoming" / LOG_NAME


@click.group()
def review() -> None:
    """Review steps: start, request-changes, approve, reject, retry, sync (from a PR)."""


def _step_command(action: str, summary: str, *, needs_reason: bool) -> click.Command:
    """One review step's command; retry takes the store (it validates), not a reason."""
    retry = action == "retry"
    reason_options = combine(
        click.option(
            "--reason",
            required=needs_reason,
            help="Why (the vendor reads it)" + (": required." if needs_reason else "."),
        ),
        click.option(
            "--category",
            metavar="CATEGORY",
            help="The reason's category: metadata, screenshots, security, licence, signature, "
            "compatibility, permissions, naming, quality, policy or other.",
        ),
    )

    catalog_option: Callable[[Any], Any] = (
        click.option(
            "--no-catalog",
            is_flag=True,
            help="Record the approval only; `px-market catalog sync` lists it later.",
        )
        if action == "approve"
        else combine()
    )

    @click.command(action, help=summary)
    @click.argument("target")
    @(_store_option() if retry else reason_options)
    @catalog_option
    @_as_option("Who does this step [default: $GITHUB_ACTOR].")
    @_target_options()
    @github_repo_option
    @format_option()
    def step(
        target: str,
        login: str,
        github_repo: str | None,
        repo_dir: Path,
        base: str,
        remote: str,
        no_push: bool,
        output_format: str,
        reason: str | None = None,
        category: str | None = None,
        store: str | None = None,
        no_catalog: bool = False,
    ) -> int:
        plugin, version = release_ref(target, "TARGET")
        return _run_step(
            action,
            plugin,
            version,
            login,
            reason,
            category,
            _target(repo_dir, base, remote, no_push),
            store,
            output_format,
            github_repo,
            list_it=action == "approve" and not no_catalog,
        )

    return step


def _run_step(
    action: str,
    plugin: str,
    version: str,
    login: str,
    reason: str | None,
    category: str | None,
    where: Any,
    store: str | None,
    output_format: str,
    github_repo: str | None = None,
    *,
    list_it: bool = False,
) -> int:
    """One review step; with a GitHub repository, GitHub-mirrored reviewer teams count too.

    An approval with `list_it` then syncs the catalog and notifies subscribers (the catalog
    is its own commit; exit 1 when a notification could not be delivered)."""
    from pipeline.market.review import TransitionRequest, transition
    from pipeline.market.status import render_status, status_data, status_of

    now = datetime.now(UTC)
    report = None
    if action == "retry":
        from pipeline.market.review import allowed_review
        from pipeline.market.submit import ValidateInput, run_validator
        from pipeline.store import store_for

        assert store is not None
        snapshot = where.snapshot()
        allowed_review(snapshot, "retry", plugin, version)  # before the validator runs
        given = ValidateInput(snapshot, plugin, version, store_for(store), now)
        report = run_validator(given)
    request = TransitionRequest(
        action,  # type: ignore[arg-type]
        plugin,
        version,
        login,
        now,
        reason=reason,
        category=category,  # type: ignore[arg-type]
        validation=report,
        ci_run=where.ci_run,
    )
    done = transition(
        where.git, request, branch=where.branch, remote=where.remote, teams=_teams(github_repo)
    )
    sla = where.snapshot().policies().market.sla
    status = status_of(done.review, sla, now, report)
    data = {**status_data(status), "commit": done.commit}
    text = f"{action}: {plugin}@{version} is {done.state} (commit {done.commit[:12]})\n"
    text += render_status(status)
    delivered = True
    if list_it and done.state == "approved":
        from pipeline.workflows.market_list import (
            ListRequest,
            list_approved,
            listed_data,
            listed_text,
        )

        listed = list_approved(
            ListRequest(
                where.git,
                branch=where.branch,
                remote=where.remote,
                operator=login,
                ci_run=where.ci_run,
            )
        )
        data["catalog"], delivered = listed_data(listed), listed.delivered
        text += listed_text(listed)
    emit(output_format, data, text)
    return 0 if delivered else 1


for _action, _summary, _reason in (
    ("start", "Start reviewing PLUGIN@VERSION (a submitted one).", False),
    ("request-changes", "Ask the vendor for changes: --reason and --category needed.", True),
    ("approve", "Approve PLUGIN@VERSION: every enforced rule passes, the signature holds.", False),
    ("reject", "Reject PLUGIN@VERSION for good: --reason and --category needed.", True),
    ("retry", "Validate an errored submission again (a check could not run).", False),
):
    review.add_command(_step_command(_action, _summary, needs_reason=_reason))


def _teams(github_repo: str | None) -> Any:
    """Members of GitHub-mirrored teams, read from GitHub when a repository is named."""
    if not github_repo:
        return None
    from functools import partial

    from pipeline.policy.github_reviews import with_github_members
    from pipeline.workflows.common import forge_factory

    client = forge_factory(github_repo, "to read team members", os.environ)()
    return partial(with_github_members, client=client)


@review.command("sync")
@click.argument("target")
@click.option(
    "--pull-request", "number", type=int, required=True, help="The pull request's number."
)
@github_repo_option
@_target_options()
@format_option()
def sync(
    target: str,
    number: int,
    github_repo: str | None,
    repo_dir: Path,
    base: str,
    remote: str,
    no_push: bool,
    output_format: str,
) -> int:
    """Turn a pull request's APPROVED / CHANGES_REQUESTED reviews into review steps."""
    from pipeline.market.pull_reviews import sync_from_pull_request
    from pipeline.workflows.common import FlagError, forge_factory

    plugin, version = release_ref(target, "TARGET")
    try:
        client = forge_factory(github_repo, "to read the pull request's reviews", os.environ)()
    except FlagError as problem:
        raise click.UsageError(problem.message) from None
    where = _target(repo_dir, base, remote, no_push)
    done = sync_from_pull_request(
        where, plugin, version, client=client, number=number, now=datetime.now(UTC)
    )
    data = {
        "decision": done.decision,
        "reviewer": done.reviewer,
        "note": done.note,
        "steps": [{"state": s.state, "commit": s.commit} for s in done.steps],
    }
    lines = [f"#{number}: {done.note}"] + [
        f"{plugin}@{version} -> {s.state} (commit {s.commit[:12]})" for s in done.steps
    ]
    emit(output_format, data, "".join(f"{line}\n" for line in lines))
    return 0


@click.command()
@click.argument("target", required=False)
@repo_option()
@click.option("--base", default="main", show_default=True, help="The branch reviews are on.")
@format_option()
def status(target: str | None, repo_dir: Path, base: str, output_format: str) -> int:
    """Where PLUGIN[@VERSION]'s reviews stand (all when none): reasons and what to fix."""
    from pipeline.gitrepo import GitRepo
    from pipeline.market.records import load_review, reviewed_plugins, reviews
    from pipeline.market.status import render_status, status_data, status_of
    from pipeline.snapshot import Snapshot

    git = GitRepo(repo_dir)
    snapshot = Snapshot(git, git.resolve(base))
    sla = snapshot.policies().market.sla
    now = datetime.now(UTC)
    if target is not None and "@" in target:
        plugin, version = release_ref(target, "TARGET")
        loaded = load_review(snapshot, plugin, version)
        if loaded is None:
            raise InputError(f"{target} was never submitted", hint="px-market submit it")
        found = [loaded.model]
    else:
        plugins = [target] if target else reviewed_plugins(snapshot)
        found = [r for p in plugins for r in reviews(snapshot, p).values()]
    statuses = [status_of(r, sla, now) for r in found]
    text = "".join(render_status(s) for s in statuses) or "no submission yet\n"
    emit(output_format, {"reviews": [status_data(s) for s in statuses]}, text)
    return 0


@click.command()
@repo_option()
@click.option("--base", default="main", show_default=True, help="The branch reviews are on.")
@click.option(
    "--webhook",
    "webhooks",
    multiple=True,
    metavar="URL",
    help="POST overdue reviews as a CloudEvents event (repeatable; also $POWERX_WEBHOOKS).",
)
@click.option(
    "--slack-webhook",
    "slack_webhooks",
    multiple=True,
    metavar="URL",
    help="POST them as a Slack-compatible message (repeatable; also $POWERX_SLACK_WEBHOOKS).",
)
@format_option()
def remind(
    repo_dir: Path,
    base: str,
    webhooks: tuple[str, ...],
    slack_webhooks: tuple[str, ...],
    output_format: str,
) -> int:
    """List reviews waiting on reviewers; exit 1 when any is past its SLA (business days)."""
    from pipeline.cli.vocabulary import webhooks_from_env
    from pipeline.gitrepo import GitRepo
    from pipeline.market.sla import overdue_event, status_json, waiting_reviews
    from pipeline.notify import SLACK_WEBHOOKS_ENV, Notifier, urls_from_env
    from pipeline.snapshot import Snapshot

    notifier = Notifier(
        [*webhooks, *webhooks_from_env(os.environ)],
        [*slack_webhooks, *urls_from_env(os.environ, SLACK_WEBHOOKS_ENV)],
    )
    git = GitRepo(repo_dir)
    waiting = waiting_reviews(Snapshot(git, git.resolve(base)), datetime.now(UTC))
    overdue = any(s.overdue for s in waiting)
    if overdue:
        for delivery in notifier.send(overdue_event(waiting)):
            if not delivery.ok:
                click.echo(f"warning: webhook {delivery.target}: {delivery.detail}", err=True)
    lines = [
        f"{'OVERDUE' if s.overdue else 'waiting':8} {s.plugin}@{s.version} ({s.channel}, "
        f"{s.state}) {s.business_days} of {s.allowed} business day(s), due "
        f"{s.due:%Y-%m-%d %H:%M} UTC"
        for s in waiting
    ] or ["no review is waiting"]
    emit(
        output_format,
        {"overdue": overdue, "reviews": [status_json(s) for s in waiting]},
        "".join(f"{line}\n" for line in lines),
    )
    return 1 if overdue else 0


COMMANDS = (submit, review, status, remind)


def register(group: click.Group) -> None:
    """Add the review workflow's commands to `px-market`."""
    for command in COMMANDS:
        group.add_command(command)
