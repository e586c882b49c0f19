"""`px-market validate`: the Marketplace validator, the same rules locally and at review."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from pipeline.cli.options import repo_option
from pipeline.cli.vocabulary import Duration

VERDICT_EXIT = {"passed": 0, "failed": 1, "errored": 1}
"""passed 0; failed 1 (an enforced rule failed); errored 1 too, with the verdict 'errored'
printed (a rule could not run: run again; it is not a rejection). Bad input is 2."""


@click.command()
@click.argument("submission", metavar="PLUGIN[@VERSION]")
@repo_option()
@click.option("--rev", default="HEAD", show_default=True, help="The revision of the repo to read.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "checklist"]),
    default="text",
    show_default=True,
    help="text (people), json (tools) or checklist (a Markdown task list for a PR body).",
)
@click.option(
    "--store",
    envvar="POWERX_STORE",
    help="The artifact store the release's package is fetched from [$POWERX_STORE].",
)
@click.option(
    "--artifact",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Judge this .pxp instead of the stored one (an offline or unpublished upload).",
)
@click.option(
    "--listing",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Judge this listing.yaml instead of the repo's (screenshots beside it).",
)
@click.option(
    "--timeout",
    type=Duration(minimum=0.01),
    default="30s",
    show_default=True,
    help="How long one rule may run before it counts as errored (a duration).",
)
def validate(
    submission: str,
    repo_dir: Path,
    rev: str,
    output_format: str,
    store: str | None,
    artifact: Path | None,
    listing: Path | None,
    timeout: float,
) -> int:
    """Run every Marketplace rule on PLUGIN[@VERSION] (default: its newest release).

    Each finding names its rule, severity, file and line, what is wrong, the remedy and the
    rule's section in docs/market-rules.md; the output records the ruleset id (rules and
    policies/market.yaml) so a local run and the review run are provably the same rules.
    Exit 0 passed, 1 failed or errored (see the verdict), 2 bad input.
    """
    from pipeline.gitrepo import GitRepo
    from pipeline.market.validate import ValidateRequest, validate_submission
    from pipeline.market.validate_render import render_checklist, render_json, render_text
    from pipeline.snapshot import Snapshot

    plugin, _, version = submission.partition("@")
    if not plugin or (_ and not version):
        raise click.UsageError(f"PLUGIN[@VERSION] expected, not {submission!r}")
    git = GitRepo(repo_dir)
    source = None
    if store:  # the store registry (and its HTTPS client) only when a store is named
        from pipeline.store import store_for

        source = store_for(store)
    request = ValidateRequest(
        snapshot=Snapshot(git, git.resolve(rev)),
        plugin=plugin,
        version=version or None,
        now=datetime.now(UTC),
        store=source,
        package=artifact,
        listing=listing,
        timeout=timeout,
    )
    report = validate_submission(request)
    if output_format == "json":
        click.echo(render_json(report, [r.key for r in request.rules]), nl=False)
    elif output_format == "checklist":
        click.echo(render_checklist(report), nl=False)
    else:
        click.echo(render_text(report), nl=False)
    return VERDICT_EXIT[report.verdict]
