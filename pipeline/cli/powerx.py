"""`powerx`: the release-repo runner."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import click

from pipeline import __version__, ci, layout
from pipeline.canary.controller import RolloutResult, StartRequest, Target, start_rollout
from pipeline.cli import offline  # also registers `powerx plugin import`
from pipeline.cli.agent import agent as agent_group
from pipeline.cli.errors import exit_with
from pipeline.cli.options import (
    branch_option,
    format_option,
    github_repo_option,
    operator_option,
    push_option,
    repo_option,
)
from pipeline.cli.plugin_group import plugin as plugin_group
from pipeline.cli.rollout import rollout as rollout_group
from pipeline.errors import GateError, InputError
from pipeline.forge import GitHubClient, api_url_from_env, token_from_env
from pipeline.fsutil import atomic_write
from pipeline.gitrepo import GitRepo
from pipeline.models.schemas import all_schemas
from pipeline.notify import SLACK_WEBHOOKS_ENV, WEBHOOKS_ENV, Notifier, urls_from_env
from pipeline.policy.check import CheckRequest, run_check, uncommitted_warning
from pipeline.policy.github_reviews import pull_request_reviews, with_github_members
from pipeline.policy.release_approvals import PullRequestReviews
from pipeline.policy.render import github_annotations, render_json, render_summary, render_text
from pipeline.policy.signed_approvals import ApproveRequest, record_approval
from pipeline.promotion.audit import AuditQuery, audit_trail
from pipeline.promotion.plan import lock_version, release_plan
from pipeline.promotion.promote import PromoteRequest, Promotion
from pipeline.promotion.promote import promote as promote_releases
from pipeline.promotion.publish import PublishRequest
from pipeline.promotion.publish import publish as publish_release
from pipeline.promotion.remind import comment_on_requests, notify_webhook, pending_requests
from pipeline.promotion.render import render_audit_json, render_audit_table
from pipeline.promotion.rollback import RollbackRequest
from pipeline.promotion.rollback import rollback as rollback_plugin
from pipeline.scaffold import CHECK_WORKFLOW, RunnerPin, init_repo
from pipeline.signing.keys import load_private_key, passphrase_for
from pipeline.store import writable_store_for


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="powerx")
def cli() -> None:
    """PowerX Release: the release-repo runner.

    Checks every change to a release repo against the gates of its trusted base, with
    git as the single source of truth.
    """


@cli.command()
@repo_option()
@click.option(
    "--base",
    help="Branch or revision the change is compared with; the check starts from its "
    "merge base with HEAD [default: the default branch].",
)
@click.option("--head", default="HEAD", show_default=True, help="Revision to check.")
@click.option("-v", "--verbose", is_flag=True, help="List every gate, passing ones too.")
@click.option(
    "--all",
    "audit",
    is_flag=True,
    help="Check every file at HEAD against HEAD's own policies (audit a trusted branch).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "github"]),
    help="Output format [default: github inside GitHub Actions, else text].",
)
@click.option(
    "--pull-request",
    type=click.IntRange(min=1),
    metavar="N",
    help="Count the reviews of pull request N as approvals (GitHub REST API, $GITHUB_TOKEN); "
    "teams that mirror a GitHub team are resolved there too.",
)
@github_repo_option
def check(
    repo_dir: Path,
    base: str | None,
    head: str,
    verbose: bool,
    audit: bool,
    output_format: str | None,
    pull_request: int | None,
    github_repo: str | None,
) -> int:
    """Run every gate on what changed between BASE and HEAD.

    Policies come from BASE, never from HEAD. With --all, every file at HEAD is checked
    and a failing release that no environment runs is reported as held back. Exit 0 when
    all gates pass, 1 when a gate fails, 2 on bad input.
    """
    if output_format is None:
        output_format = "github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text"
    if audit and base is not None:
        raise click.UsageError("--all checks HEAD on its own: it takes no --base")
    request = CheckRequest(head=head, base=base, audit=audit)
    if pull_request is not None:
        client = _forge(github_repo, "to read pull request reviews")()
        request = replace(
            request,
            reviews=pull_request_reviews(client, pull_request),
            resolve_teams=partial(with_github_members, client=client),
        )
    git = GitRepo(repo_dir)
    if warning := uncommitted_warning(git, request):
        click.echo(warning, err=True)
    report = run_check(git, request)
    if output_format == "json":
        click.echo(render_json(report), nl=False)
        return report.exit_code
    click.echo(render_text(report, verbose=verbose), nl=False)
    if output_format == "github":
        click.echo(github_annotations(report), nl=False)
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            with Path(summary).open("a", encoding="utf-8") as handle:
                handle.write(render_summary(report))
    return report.exit_code


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--runner-source", metavar="URL", help="Git URL the CI workflow installs from.")
@click.option("--runner-ref", metavar="SHA", help="The 40-hex commit of it to install (a pin).")
def init(directory: Path, runner_source: str | None, runner_ref: str | None) -> int:
    """Scaffold a release repo in DIRECTORY: policies, environments and CI, as one commit."""
    result = init_repo(directory, runner=RunnerPin.parse(runner_source, runner_ref))
    verb = "created" if result.created_repo else "extended"
    click.echo(
        f"{verb} release repo {result.path} "
        f"({len(result.files)} files, commit {result.commit[:12]})"
    )
    for path in result.files:
        click.echo(f"  {path}")
    if result.runner.ref is None:
        click.echo(
            f"warning: {CHECK_WORKFLOW} fails until its RUNNER_REF pins a commit: set it to the "
            f"40-hex commit of {result.runner.source} to install (next time: --runner-ref SHA)",
            err=True,
        )
    return 0


@cli.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write the *.schema.json files into.",
)
def schema(out_dir: Path) -> int:
    """Write the JSON Schema of every file kind, for editors and other tools."""
    for name, document in all_schemas().items():
        atomic_write(out_dir / name, (json.dumps(document, indent=2) + "\n").encode())
        click.echo(str(out_dir / name))
    return 0


BranchOption = branch_option()
PushOption = push_option()
RepoOption = repo_option()


@cli.command()
@click.argument("plugin")
@click.option("--env", "environment", required=True, help="The environment to roll back in.")
@click.option("--to", "to_version", help="The version to restore [default: the previous one].")
@click.option("--reason", required=True, help="Why: recorded in the commit.")
@RepoOption
@BranchOption
@PushOption
@operator_option
def rollback(
    plugin: str,
    environment: str,
    to_version: str | None,
    reason: str,
    repo_dir: Path,
    branch: str,
    remote: str | None,
    operator: str | None,
) -> int:
    """Restore the previous desired state of PLUGIN in an environment, as a revert commit.

    Only that plugin's file changes, even when other commits came after; the commit's
    trailers name the reverted commit and the reason.
    """
    request = RollbackRequest(
        plugin=plugin,
        environment=environment,
        reason=reason,
        to_version=to_version,
        operator=operator,
        ci_run=ci.run_url(os.environ),
    )
    result = rollback_plugin(GitRepo(repo_dir), request, branch=branch, remote=remote)
    plan = result.plan
    click.echo(
        f"rolled back {plugin} in {environment}: {plan.from_version} -> {plan.to_version} "
        f"(commit {result.commit[:12]}, reverts {plan.reverts[:12]})"
    )
    return 0


@cli.group()
def publish() -> None:
    """Release requests: publish a signed package as a release."""


def _forge(github_repo: str | None, why: str) -> Callable[[], GitHubClient]:
    """A GitHub client factory; $GITHUB_TOKEN and $GITHUB_API_URL are read when it is called."""
    if not github_repo:
        raise click.UsageError(f"--github-repo (or $GITHUB_REPOSITORY) is needed {why}")
    return lambda: GitHubClient(
        github_repo, token_from_env(os.environ), api_url=api_url_from_env(os.environ)
    )


def _branch_reviews(client: GitHubClient, base: str, branch: str) -> PullRequestReviews | None:
    """The reviews of the open pull request from `branch` into `base`, if there is one."""
    pull = client.find_pull_request(branch, base)
    return pull_request_reviews(client, pull.number) if pull is not None else None


def _release_ref(release: str) -> tuple[str, str]:
    """`plugin@version` split in two; a usage error otherwise."""
    plugin, _, version = release.partition("@")
    if not plugin or not version:
        raise click.UsageError(f"RELEASE must be plugin@version, not {release!r}")
    return plugin, version


def _pair(value: str, separator: str, what: str) -> tuple[str, str]:
    left, sep, right = value.partition(separator)
    if not sep or not left.strip() or not right.strip():
        raise click.BadParameter(f"expected {what}, not {value!r}")
    return left.strip(), right.strip()


@publish.command("create")
@click.option(
    "--artifact",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The signed .pxp package.",
)
@click.option(
    "--bundle",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Its signature bundle [default: ARTIFACT.sigstore.json].",
)
@click.option(
    "--notes",
    "notes_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Release notes (Markdown).",
)
@click.option(
    "--change",
    "changes",
    multiple=True,
    metavar="ID=TITLE[=LINK]",
    help="A registered change this release delivers (repeatable).",
)
@click.option(
    "--evidence",
    multiple=True,
    metavar="KIND=REPORT",
    help="coverage=, tests= or scans= a report file (repeatable).",
)
@click.option(
    "--contact",
    "contacts",
    multiple=True,
    required=True,
    metavar="NAME=EMAIL",
    help="Who to call about this release (repeatable, at least one).",
)
@click.option("--env", "environment", help="Also request this environment (e.g. test).")
@click.option(
    "--store",
    envvar="POWERX_STORE",
    required=True,
    help="The artifact store: a directory or file:// location [$POWERX_STORE].",
)
@RepoOption
@click.option("--base", default="main", show_default=True, help="The branch the request targets.")
@click.option("--remote", default="origin", show_default=True, help="The remote to push to.")
@click.option("--no-push", is_flag=True, help="Only commit the release branch locally.")
@click.option("--no-pr", is_flag=True, help="Push the branch but open no pull request.")
@github_repo_option
@click.option("--operator", envvar="GITHUB_ACTOR", help="Who publishes [default: $GITHUB_ACTOR].")
def publish_create(
    artifact: Path,
    bundle: Path | None,
    notes_file: Path | None,
    changes: tuple[str, ...],
    evidence: tuple[str, ...],
    contacts: tuple[str, ...],
    environment: str | None,
    store: str,
    repo_dir: Path,
    base: str,
    remote: str,
    no_push: bool,
    no_pr: bool,
    github_repo: str | None,
    operator: str | None,
) -> int:
    """Verify a signed package, store it, and open its release request.

    Commits the release manifest, its signature and evidence on release/<plugin>-<version>,
    pushes the branch and opens a pull request through GitHub's REST API ($GITHUB_TOKEN);
    --no-pr leaves the branch for other forges.
    """
    parsed_changes = []
    for change in changes:
        cid, rest = _pair(change, "=", "ID=TITLE[=LINK]")
        title, _, link = rest.partition("=")
        parsed_changes.append((cid, title, link or None))
    request = PublishRequest(
        artifact=artifact,
        bundle=bundle,
        contacts=tuple(_pair(c, "=", "NAME=EMAIL") for c in contacts),
        now=datetime.now(UTC),
        notes=notes_file.read_text(encoding="utf-8") if notes_file else "",
        changes=tuple(parsed_changes),
        evidence=tuple(
            (kind, Path(path)) for kind, path in (_pair(e, "=", "KIND=REPORT") for e in evidence)
        ),
        environment=environment,
        operator=operator,
        ci_run=ci.run_url(os.environ),
    )
    forge = (
        None
        if no_push or no_pr
        else _forge(github_repo, "to open a pull request (or pass --no-pr)")
    )
    if forge is not None:
        token_from_env(os.environ)  # a missing token stops publish before anything is done
    result = publish_release(
        GitRepo(repo_dir),
        request,
        store=writable_store_for(store),
        base=base,
        remote=None if no_push else remote,
        forge=forge,
    )
    click.echo(f"published {result.ref}: branch {result.branch}, commit {result.commit[:12]}")
    click.echo(f"artifact: {result.artifact_uri}")
    if result.pull_request:
        click.echo(f"pull request: {result.pull_request}")
    for note in result.notes:
        click.echo(f"  ({note})")
    return 0


@cli.command()
@click.argument("target", required=False)
@click.option("--to", "to_env", help="Promote into this environment [default: the next one].")
@RepoOption
@BranchOption
@PushOption
@operator_option
@click.option(
    "--emergency",
    metavar="REASON",
    help="Go live despite a freeze or outside the windows; the reason is recorded.",
)
@click.option(
    "--no-pr",
    is_flag=True,
    help="For environments that land by pull request: push the branch, open no pull request.",
)
@github_repo_option
def promote(
    target: str | None,
    to_env: str | None,
    repo_dir: Path,
    branch: str,
    remote: str | None,
    operator: str | None,
    emergency: str | None,
    no_pr: bool,
    github_repo: str | None,
) -> int:
    """Move PLUGIN[@VERSION] (or every plugin) one environment further along the order.

    A release moves only when it passes its gates, has soaked long enough in the previous
    environment and has the approvals the target asks for. Each promotion is one commit;
    into an environment that lands by pull request (`via` in policies/promotion.yaml) the
    commit goes on promote/<env>/<plugin>-<version> and a pull request is opened, whose
    reviews are the approvals; into one that takes versions by canary, a canary rollout
    starts at its first step (see `powerx rollout`). Exit 0 when everything asked for
    moved, was proposed or started, 1 when something asked for was held back.
    """
    plugin, _, version = (target or "").partition("@")
    request = PromoteRequest(
        now=datetime.now(UTC),
        plugin=plugin or None,
        version=version or None,
        to=to_env,
        operator=operator,
        ci_run=ci.run_url(os.environ),
        emergency=emergency,
    )
    forge = None
    if remote is not None and not no_pr and github_repo:
        forge = _forge(github_repo, "to open promotion pull requests")
    git = GitRepo(repo_dir)
    result = promote_releases(git, request, branch=branch, remote=remote, forge=forge)
    for promotion, commit in result.landed:
        click.echo(
            f"promoted {promotion.plugin}@{promotion.version}: "
            f"{promotion.source or 'release'} -> {promotion.target} (commit {commit[:12]})"
        )
    for proposal in result.proposed:
        p = proposal.promotion
        where = proposal.pull_request or f"branch {proposal.branch}"
        click.echo(
            f"proposed {p.plugin}@{p.version}: {p.source or 'release'} -> {p.target} "
            f"({where}, commit {proposal.commit[:12]}; {proposal.note})"
        )
    held = list(result.held)
    for p in result.canaries:
        started = _start_canary(git, p, request, branch, remote)
        if isinstance(started, str):
            held.append((p.plugin, started))
            continue
        click.echo(
            f"started a canary of {p.plugin}@{p.version} in {p.target}: {started.weight}% of "
            f"tenants beside {started.stable} (commit {(started.commit or '')[:12]})"
        )
    for plugin_name, reason in held:
        click.echo(f"held {plugin_name}: {reason}")
    if not result.landed and not held and not result.proposed and not result.canaries:
        click.echo("nothing to promote")
    return 1 if held and target else 0


def _start_canary(
    git: GitRepo, promotion: Promotion, request: PromoteRequest, branch: str, remote: str | None
) -> RolloutResult | str:
    """Start the canary of a promotion into an environment that takes versions by canary.

    Returns why not when a gate refuses it: one refused canary does not stop the others.
    """
    notifier = Notifier(
        urls_from_env(os.environ, WEBHOOKS_ENV), urls_from_env(os.environ, SLACK_WEBHOOKS_ENV)
    )
    target = Target(git, branch, remote, request.operator, request.ci_run, notifier)
    start = StartRequest(promotion.plugin, promotion.version, promotion.target, request.now)
    try:
        return start_rollout(target, start)
    except GateError as error:
        return error.message


@cli.command()
@click.argument("release")
@click.option(
    "--env",
    "environment",
    default="prod",
    show_default=True,
    help="The environment the plan takes the release into.",
)
@RepoOption
@click.option("--rev", default="main", show_default=True, help="The revision to plan from.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the Markdown plan here [default: print it].",
)
@click.option(
    "--lock",
    is_flag=True,
    help="The plan is approved: lock the version with the tag <plugin>/v<version>.",
)
@push_option("With --lock: push the tag to this remote (default origin), where checks see it.")
@click.option(
    "--pull-request",
    type=click.IntRange(min=1),
    metavar="N",
    help="Count the reviews of pull request N as approvals (GitHub, $GITHUB_TOKEN).",
)
@github_repo_option
def plan(
    release: str,
    environment: str,
    repo_dir: Path,
    rev: str,
    output: Path | None,
    lock: bool,
    remote: str | None,
    pull_request: int | None,
    github_repo: str | None,
) -> int:
    """The release plan of RELEASE (plugin@version) as Markdown; --lock tags it.

    Change list, gate evidence, approvals, where it runs now, the go-live window, the
    rollback playbook and contacts. Once locked, `powerx check` refuses any change to the
    version's folder.
    """
    plugin, version = _release_ref(release)
    git = GitRepo(repo_dir)
    reviews, teams = None, None
    if pull_request is not None:
        client = _forge(github_repo, "to read pull request reviews")()
        reviews = pull_request_reviews(client, pull_request)
        teams = partial(with_github_members, client=client)
    planned = release_plan(
        git,
        git.resolve(rev),
        plugin,
        version,
        environment=environment,
        now=datetime.now(UTC),
        reviews=reviews,
        teams=teams,
    )
    if output is not None:
        atomic_write(output, planned.markdown.encode())
        click.echo(f"plan written to {output}")
    else:
        click.echo(planned.markdown, nl=False)
    if lock:
        tag = lock_version(git, planned, plugin, version, git.signature())
        click.echo(f"locked {release}: tag {plugin}/v{version} ({tag[:12]})")
        if remote is not None:
            pushed = git.push_tag(remote, layout.lock_tag(plugin, version))
            click.echo(f"tag {'pushed to' if pushed else 'already on'} {remote}")
    elif remote is not None:
        raise click.UsageError("--push pushes the lock tag: it needs --lock")
    return 0


@cli.command()
@RepoOption
@click.option("--base", default="main", show_default=True, help="The branch requests target.")
@click.option(
    "--remote",
    help="Read request branches (release/*, promote/*) of this remote [default: local ones].",
)
@click.option(
    "--webhook", envvar="POWERX_WEBHOOK", help="POST overdue requests here [$POWERX_WEBHOOK]."
)
@click.option(
    "--comment",
    is_flag=True,
    help="Also comment on each overdue request's pull request (GitHub, $GITHUB_TOKEN), "
    "at most once a day.",
)
@github_repo_option
def remind(
    repo_dir: Path,
    base: str,
    remote: str | None,
    webhook: str | None,
    comment: bool,
    github_repo: str | None,
) -> int:
    """List requests waiting for approvals; exit 1 when any is past its SLA.

    Requests are release/* and promote/* branches not merged into BASE. With
    --github-repo (or $GITHUB_REPOSITORY), the reviews of their pull requests count too.

    Meant for a scheduled workflow: a non-zero exit alerts.
    """
    git = GitRepo(repo_dir)
    if remote:
        git.fetch_all(remote)
    client = _forge(github_repo, "to read reviews")() if github_repo else None
    reminders = pending_requests(
        git,
        f"refs/remotes/{remote}/{base}" if remote else base,
        remote=remote,
        now=datetime.now(UTC),
        reviews_of=partial(_branch_reviews, client, base) if client else None,
        teams=partial(with_github_members, client=client) if client else None,
    )
    for reminder in reminders:
        mark = "OVERDUE" if reminder.overdue else "waiting"
        click.echo(
            f"{mark:8} {reminder.release} ({reminder.branch}) {reminder.waiting_hours} h: "
            f"{reminder.status}"
        )
    if not reminders:
        click.echo("no release request is waiting for approvals")
    overdue = any(r.overdue for r in reminders)
    if overdue and webhook:
        try:
            notify_webhook(webhook, reminders)
        except InputError as error:  # the alert still goes out through the exit code
            click.echo(f"warning: {error.message}", err=True)
    if overdue and comment:
        if client is None:
            raise click.UsageError("--comment needs --github-repo (or $GITHUB_REPOSITORY)")
        for url in comment_on_requests(client, reminders, base=base, now=datetime.now(UTC)):
            click.echo(f"reminded: {url}")
    return 1 if overdue else 0


@cli.command()
@click.argument("release")
@click.option("--env", "environment", required=True, help="The environment the approval is for.")
@click.option(
    "--key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Your approval key (its public half is in policies/teams.yaml).",
)
@click.option(
    "--as",
    "approver",
    envvar="GITHUB_ACTOR",
    required=True,
    help="Your login, as in policies/teams.yaml [default: $GITHUB_ACTOR].",
)
@RepoOption
@click.option("--branch", default="main", show_default=True, help="The release request's branch.")
@PushOption
def approve(
    release: str,
    environment: str,
    key: Path,
    approver: str,
    repo_dir: Path,
    branch: str,
    remote: str | None,
) -> int:
    """Approve RELEASE (plugin@version) for an environment with a signed record.

    For forges without a review API and for isolated sites. The passphrase of the key
    comes from $PX_PASSPHRASE or is asked for.
    """
    plugin, version = _release_ref(release)
    passphrase = passphrase_for(os.environ)
    private_key = load_private_key(key.read_bytes(), passphrase, str(key))
    request = ApproveRequest(plugin, version, environment, approver, private_key, datetime.now(UTC))
    commit = record_approval(GitRepo(repo_dir), request, branch=branch, remote=remote)
    click.echo(f"approved {release} for {environment} as {approver} (commit {commit[:12]})")
    return 0


@cli.command()
@RepoOption
@click.option("--rev", default="HEAD", show_default=True, help="Where the trail starts.")
@click.option("--plugin", help="Only this plugin.")
@click.option("--env", "environment", help="Only this environment.")
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    help="Only entries since this date (UTC).",
)
@format_option("table", "json")
def audit(
    repo_dir: Path,
    rev: str,
    plugin: str | None,
    environment: str | None,
    since: datetime | None,
    output_format: str,
) -> int:
    """The audit trail from git history: who, when, what, which plugin, version, environment."""
    git = GitRepo(repo_dir)
    query = AuditQuery(plugin, environment, since.replace(tzinfo=UTC) if since else None)
    entries = list(audit_trail(git, git.resolve(rev), query))
    click.echo(
        render_audit_json(entries) if output_format == "json" else render_audit_table(entries),
        nl=False,
    )
    return 0


cli.add_command(rollout_group)
cli.add_command(agent_group)
cli.add_command(plugin_group)
cli.add_command(offline.export)

from pipeline.cli.trust import team, trust  # noqa: E402 - issue 10 point 7; ported at merge

cli.add_command(trust)
cli.add_command(team)


def main() -> None:
    """Entry point of the `powerx` console script."""
    exit_with(cli)
