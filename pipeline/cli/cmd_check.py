"""`powerx check`: every gate on what changed between a base and a head."""

from __future__ import annotations

import os
from pathlib import Path

import click

from pipeline.cli.options import github_repo_option, registry_options, repo_option, store_options
from pipeline.cli.usage import usage_errors
from pipeline.policy import CheckRequest
from pipeline.policy.render import github_annotations, render_json, render_summary, render_text
from pipeline.workflows.check import CheckCommand
from pipeline.workflows.check import check as run_check


@click.command()
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
@click.option(
    "--store",
    envvar="POWERX_STORE",
    help="The artifact store: grants in environment.yaml are compared with what the "
    "packages' plugin.yaml declare [$POWERX_STORE].",
)
@registry_options()
def check(
    repo_dir: Path,
    base: str | None,
    head: str,
    verbose: bool,
    audit: bool,
    output_format: str | None,
    pull_request: int | None,
    github_repo: str | None,
    store: str | None,
    registry_credentials_env: str | None,
    ca_file: Path | None,
) -> int:
    """Run every gate on what changed between BASE and HEAD.

    Policies come from BASE, never from HEAD. With --all, every file at HEAD is checked
    and a failing release that no environment runs is reported as held back. Exit 0 when
    all gates pass, 1 when a gate fails, 2 on bad input.
    """
    if output_format is None:
        output_format = "github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text"
    with usage_errors():
        source = None
        if store:  # the store (and its HTTP client) is loaded only when one is given
            from pipeline.store import store_for

            source = store_for(store, store_options(registry_credentials_env, ca_file))
        request = CheckRequest(head=head, base=base, audit=audit, store=source)
        command = CheckCommand(repo_dir, request, pull_request, github_repo, os.environ)
        report = run_check(command, warn=lambda warning: click.echo(warning, err=True))
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
