"""`powerx approve`: a signed approval record for forges without a review API."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import click

from pipeline.cli.options import format_option, push_option, repo_option
from pipeline.cli.usage import release_ref
from pipeline.cli.vocabulary import emit
from pipeline.gitrepo import GitRepo
from pipeline.policy.signed_approvals import ApproveRequest, record_approval
from pipeline.signing.keys import load_private_key, passphrase_for


@click.command()
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
@repo_option()
@click.option("--branch", default="main", show_default=True, help="The release request's branch.")
@push_option()
@format_option()
def approve(
    release: str,
    environment: str,
    key: Path,
    approver: str,
    repo_dir: Path,
    branch: str,
    remote: str | None,
    output_format: str,
) -> int:
    """Approve RELEASE (plugin@version) for an environment with a signed record.

    For forges without a review API and for isolated sites. The passphrase of the key
    comes from $PX_PASSPHRASE or is asked for.
    """
    plugin, version = release_ref(release)
    passphrase = passphrase_for(os.environ)
    private_key = load_private_key(key.read_bytes(), passphrase, str(key))
    request = ApproveRequest(plugin, version, environment, approver, private_key, datetime.now(UTC))
    commit = record_approval(GitRepo(repo_dir), request, branch=branch, remote=remote)
    data = {
        "plugin": plugin,
        "version": version,
        "environment": environment,
        "approver": approver,
        "commit": commit,
    }
    text = f"approved {release} for {environment} as {approver} (commit {commit[:12]})\n"
    emit(output_format, data, text)
    return 0
