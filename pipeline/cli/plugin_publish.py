"""`px-plugin publish [DIR]`: build, sign, validate, and open the release and listing requests."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from pipeline.cli.options import format_option, github_repo_option, repo_option
from pipeline.cli.usage import pair, usage_errors
from pipeline.cli.vocabulary import emit


@click.command()
@click.argument(
    "plugin_dir",
    metavar="[DIR]",
    default=".",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@click.option(
    "--store",
    envvar="POWERX_STORE",
    required=True,
    help="The artifact store: a directory or file:// location [$POWERX_STORE].",
)
@repo_option("The release repo (a clone).")
@click.option("--base", default="main", show_default=True, help="The branch requests target.")
@click.option("--remote", default="origin", show_default=True, help="The remote to push to.")
@click.option("--no-push", is_flag=True, help="Only commit the request branches locally.")
@click.option("--no-pr", is_flag=True, help="Push the branches but open no pull request.")
@github_repo_option
@click.option(
    "--contact",
    "contacts",
    multiple=True,
    metavar="NAME=EMAIL",
    help="Who to call about this release [default: the listing's vendor].",
)
@click.option(
    "--evidence",
    multiple=True,
    metavar="KIND=REPORT",
    help="coverage=, tests= or scans= a report file (repeatable).",
)
@click.option("--sign", is_flag=True, help="Sign the package (else its bundle must be beside it).")
@click.option(
    "--key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --sign: sign with this private key ($PX_PASSPHRASE); else keyless.",
)
@click.option("--identity-token", envvar="PX_IDENTITY_TOKEN", help="With --sign, keyless.")
@click.option("--source-commit", help="With --sign: the git commit the package was built from.")
@click.option("--operator", envvar="GITHUB_ACTOR", help="Who publishes [default: $GITHUB_ACTOR].")
@format_option()
def publish(
    plugin_dir: Path,
    store: str,
    repo_dir: Path,
    base: str,
    remote: str,
    no_push: bool,
    no_pr: bool,
    github_repo: str | None,
    contacts: tuple[str, ...],
    evidence: tuple[str, ...],
    sign: bool,
    key: Path | None,
    identity_token: str | None,
    source_commit: str | None,
    operator: str | None,
    output_format: str,
) -> int:
    """Build, sign, validate DIR; open its release request and listing pull request.

    The Marketplace validator runs on the package and DIR/listing.yaml with the rules of
    the base branch: an enforced rule that fails stops before anything is opened (exit 1),
    each finding shown with its place and remedy.
    """
    from pipeline.market.submit import run_validator
    from pipeline.workflows.market_publish import MarketPublishCommand, Signing
    from pipeline.workflows.market_publish import publish as publish_plugin

    signing = None
    if sign:
        if not source_commit:
            raise click.UsageError("--sign needs --source-commit")
        passphrase = None
        if key is not None:
            from pipeline.signing.keys import passphrase_for

            passphrase = passphrase_for(os.environ, confirm=False)
        signing = Signing(source_commit, key, passphrase, identity_token)
    elif key or source_commit:
        raise click.UsageError("--key and --source-commit go with --sign")
    command = MarketPublishCommand(
        plugin_dir=plugin_dir,
        repo=repo_dir,
        store=store,
        now=datetime.now(UTC),
        environ=os.environ,
        base=base,
        remote=None if no_push else remote,
        open_pull_request=not no_pr,
        github_repo=github_repo,
        operator=operator,
        contacts=tuple(pair(c, "=", "NAME=EMAIL") for c in contacts),
        evidence=tuple(
            (kind, Path(path)) for kind, path in (pair(e, "=", "KIND=REPORT") for e in evidence)
        ),
        signing=signing,
    )
    with usage_errors():
        outcome = publish_plugin(command, run_validator)
    emit(output_format, render_json(outcome), render_text(outcome))
    return outcome.exit_code


def render_text(outcome: Any) -> str:
    """The package, the validation with every finding and remedy, the requests, the review."""
    from pipeline.market.status import SubmissionStatus, render_status, report_lines

    lines = [f"package: {outcome.package}"]
    lines += report_lines(outcome.report, errored="not your fault", indent="")
    if outcome.release is not None:
        where = outcome.release.pull_request or f"branch {outcome.release.branch}"
        lines.append(f"release request: {where}")
    if outcome.listing_branch is not None:
        lines.append(f"listing request: {outcome.listing_pull_request or outcome.listing_branch}")
    lines += outcome.notes
    text = "".join(f"{line}\n" for line in lines)
    if isinstance(outcome.earlier, SubmissionStatus):
        text += "earlier review of this version:\n" + render_status(outcome.earlier)
    return text


def render_json(outcome: Any) -> dict[str, Any]:
    """The outcome as JSON data."""
    from pipeline.market.status import status_data

    report = outcome.report
    release = outcome.release
    return {
        "ok": outcome.exit_code == 0,
        "package": str(outcome.package),
        "validation": {
            "ruleset": report.ruleset,
            "verdict": report.verdict,
            "failed": report.failed,
            "advisory": report.advisory,
            "errored": report.errored,
        },
        "releaseRequest": None
        if release is None
        else {
            "branch": release.branch,
            "commit": release.commit,
            "pullRequest": release.pull_request,
        },
        "listingRequest": None
        if outcome.listing_branch is None
        else {"branch": outcome.listing_branch, "pullRequest": outcome.listing_pull_request},
        "notes": list(outcome.notes),
        "earlierReview": status_data(outcome.earlier) if outcome.earlier else None,
    }
