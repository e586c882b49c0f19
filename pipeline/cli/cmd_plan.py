"""`powerx plan`: the release plan as Markdown; --lock tags it."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import click

from pipeline.cli.options import format_option, github_repo_option, push_option, repo_option
from pipeline.cli.usage import release_ref, usage_errors
from pipeline.cli.vocabulary import emit
from pipeline.fsutil import atomic_write
from pipeline.workflows.plan import PlanCommand, PlanWorkflow


@click.command()
@click.argument("release")
@click.option(
    "--env",
    "environment",
    default="prod",
    show_default=True,
    help="The environment the plan takes the release into.",
)
@repo_option()
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
@format_option(
    "text prints the Markdown plan and what was locked; json one object with the plan in it."
)
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
    output_format: str,
) -> int:
    """The release plan of RELEASE (plugin@version) as Markdown; --lock tags it.

    Change list, gate evidence, approvals, where it runs now, the go-live window, the
    rollback playbook and contacts. Once locked, `powerx check` refuses any change to the
    version's folder.
    """
    plugin, version = release_ref(release)
    command = PlanCommand(
        repo=repo_dir,
        plugin=plugin,
        version=version,
        environment=environment,
        rev=rev,
        lock=lock,
        remote=remote,
        pull_request=pull_request,
        github_repo=github_repo,
        now=datetime.now(UTC),
        environ=os.environ,
    )
    with usage_errors():
        workflow = PlanWorkflow(command)
    planned = workflow.plan()
    text = output_format == "text"
    if output is not None:
        atomic_write(output, planned.markdown.encode())
        if text:
            click.echo(f"plan written to {output}")
    elif text:
        click.echo(planned.markdown, nl=False)
    tag = workflow.lock(planned)
    pushed = None
    if tag is not None:
        if text:
            click.echo(f"locked {release}: tag {plugin}/v{version} ({tag[:12]})")
        pushed = workflow.push()
        if pushed is not None and text:
            click.echo(f"tag {'pushed to' if pushed else 'already on'} {remote}")
    if not text:
        data = {
            "plugin": plugin,
            "version": version,
            "environment": environment,
            "approved": planned.approved,
            "releaseCommit": planned.release_commit,
            "markdown": None if output is not None else planned.markdown,
            "output": str(output) if output is not None else None,
            "lock": None
            if tag is None
            else {"tag": f"{plugin}/v{version}", "id": tag, "remote": remote, "pushed": pushed},
        }
        emit(output_format, data, "")
    return 0
