"""`powerx publish create`: a release request for a signed package."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import click

from pipeline.cli.options import (
    format_option,
    github_repo_option,
    registry_options,
    repo_option,
    store_options,
)
from pipeline.cli.usage import pair, usage_errors
from pipeline.cli.vocabulary import emit
from pipeline.promotion.publish import PublishRequest
from pipeline.workflows.publish import PublishCommand
from pipeline.workflows.publish import publish as publish_release


@click.group()
def publish() -> None:
    """Release requests: publish a signed package as a release."""


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
    help="The artifact store: a directory, file:// or oci://HOST/REPOSITORY [$POWERX_STORE].",
)
@registry_options()
@repo_option()
@click.option("--base", default="main", show_default=True, help="The branch the request targets.")
@click.option("--remote", default="origin", show_default=True, help="The remote to push to.")
@click.option("--no-push", is_flag=True, help="Only commit the release branch locally.")
@click.option("--no-pr", is_flag=True, help="Push the branch but open no pull request.")
@github_repo_option
@click.option("--operator", envvar="GITHUB_ACTOR", help="Who publishes [default: $GITHUB_ACTOR].")
@format_option()
def publish_create(
    artifact: Path,
    bundle: Path | None,
    notes_file: Path | None,
    changes: tuple[str, ...],
    evidence: tuple[str, ...],
    contacts: tuple[str, ...],
    environment: str | None,
    store: str,
    registry_credentials_env: str | None,
    ca_file: Path | None,
    repo_dir: Path,
    base: str,
    remote: str,
    no_push: bool,
    no_pr: bool,
    github_repo: str | None,
    operator: str | None,
    output_format: str,
) -> int:
    """Verify a signed package, store it, and open its release request.

    Commits the release manifest, its signature and evidence on release/<plugin>-<version>,
    pushes the branch and opens a pull request through GitHub's REST API ($GITHUB_TOKEN);
    --no-pr leaves the branch for other forges. An oci:// store gets the package (tagged
    <plugin>-<version>) and its signature bundle as a referrer of it.
    """
    parsed_changes = []
    for change in changes:
        cid, rest = pair(change, "=", "ID=TITLE[=LINK]")
        title, _, link = rest.partition("=")
        parsed_changes.append((cid, title, link or None))
    request = PublishRequest(
        artifact=artifact,
        bundle=bundle,
        contacts=tuple(pair(c, "=", "NAME=EMAIL") for c in contacts),
        now=datetime.now(UTC),
        changes=tuple(parsed_changes),
        evidence=tuple(
            (kind, Path(path)) for kind, path in (pair(e, "=", "KIND=REPORT") for e in evidence)
        ),
        environment=environment,
        operator=operator,
    )
    command = PublishCommand(
        repo=repo_dir,
        request=request,
        notes_file=notes_file,
        store=store,
        store_options=store_options(registry_credentials_env, ca_file),
        base=base,
        remote=None if no_push else remote,
        open_pull_request=not no_pr,
        github_repo=github_repo,
        environ=os.environ,
    )
    with usage_errors():
        result = publish_release(command)
    lines = [
        f"published {result.ref}: branch {result.branch}, commit {result.commit[:12]}",
        f"artifact: {result.artifact_uri}",
    ]
    if result.pull_request:
        lines.append(f"pull request: {result.pull_request}")
    lines += [f"  ({note})" for note in result.notes]
    data = {
        "release": result.ref,
        "branch": result.branch,
        "commit": result.commit,
        "artifact": result.artifact_uri,
        "pullRequest": result.pull_request,
        "notes": list(result.notes),
    }
    emit(output_format, data, "".join(f"{line}\n" for line in lines))
    return 0
