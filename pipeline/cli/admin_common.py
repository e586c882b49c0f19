"""What every `px-admin` change shares: its options, and running its plan then applying it."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from pipeline import ci
from pipeline.cli.options import (
    branch_option,
    combine,
    format_option,
    github_repo_option,
    operator_option,
    push_option,
    repo_option,
)

F = TypeVar("F", bound=Callable[..., Any])

env_required = click.option(
    "--env", "environment", required=True, metavar="ENV", help="The environment's name."
)
reading = combine(
    repo_option(),
    branch_option("The branch (or revision) whose tip is read."),
    format_option(),
)
changing = combine(
    repo_option(),
    branch_option("The branch to change (its tip is edited; policies are read from it)."),
    push_option(),
    click.option(
        "--propose",
        is_flag=True,
        help="Propose the change as a pull request (its own branch, pushed with --push; "
        "opened on GitHub with --github-repo) instead of committing it on --branch.",
    ),
    # The issue's spelling; elsewhere --pull-request names a pull request's number, so it
    # stays out of the help and the vocabulary, and means exactly --propose.
    click.option("--pull-request", "pull_request_flag", is_flag=True, hidden=True),
    github_repo_option,
    operator_option,
    click.option("--dry-run", is_flag=True, help="Print the plan (the diff); commit nothing."),
    format_option(),
)
"""--repo --branch --push --propose --github-repo --operator --dry-run --format."""


def run_change(
    editor: Any,
    options: dict[str, Any],
    *,
    store: str | None = None,
    store_options: Any = None,
) -> int:
    """Plan `editor`, print the diff, apply it as `options` say; print what landed."""
    from pipeline.admin.plan import Actor, Context, Plan, Target, run_admin
    from pipeline.gitrepo import GitRepo
    from pipeline.policy.declared import DeclaredPermissions
    from pipeline.workflows.common import forge_factory

    forge = None
    if options["propose"] and options["remote"] is not None and options["github_repo"]:
        forge = forge_factory(options["github_repo"], "to open a pull request", os.environ)
    target = Target(
        branch=options["branch"],
        remote=options["remote"],
        pull_request=options["propose"],
        forge=forge,
        dry_run=options["dry_run"],
    )
    declared = None
    if store:
        from pipeline.store import store_for

        declared = DeclaredPermissions(store_for(store, store_options))
    context = Context(Actor(options["operator"], ci.run_url(os.environ)), target, declared)
    text = options["output_format"] == "text"

    def show(plan: Plan) -> None:
        if text:
            click.echo(plan.diff, nl=False)

    applied = run_admin(GitRepo(options["repo_dir"]), editor, context, show)
    edit = applied.plan.edit
    if not text:
        data = {
            "action": edit.action,
            "environments": list(edit.environments),
            "subject": edit.subject,
            "commit": applied.commit,
            "branch": applied.branch,
            "pullRequest": applied.pull_request,
            "dryRun": options["dry_run"],
            "files": sorted(edit.changes),
            "diff": applied.plan.diff,
            "notes": list(edit.notes),
            "note": applied.note,
        }
        click.echo(json.dumps(data, indent=2))
        return 0
    for note in edit.notes:
        click.echo(f"  {note}")
    if applied.commit is None:
        click.echo(f"{edit.subject}: {applied.note}")
    else:
        where = applied.pull_request or applied.branch
        extra = f" ({applied.note})" if applied.note else ""
        click.echo(f"{edit.subject}: commit {applied.commit[:12]} on {where}{extra}")
    return 0


def change_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Pop the options of `changing` from a command's keyword arguments."""
    names = ("repo_dir", "branch", "remote", "propose", "github_repo", "operator", "dry_run")
    found = {name: kwargs.pop(name) for name in names}
    issue_spelling = kwargs.pop("pull_request_flag")
    found["propose"] = found["propose"] or issue_spelling
    found["output_format"] = kwargs.pop("output_format")
    return found


def echo_table(rows: Sequence[tuple[str, ...]]) -> None:
    """Rows as aligned columns (the first row is the header)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = zip(row, widths, strict=True)
        click.echo("  ".join(cell.ljust(width) for cell, width in cells).rstrip())


def read_snapshot(repo_dir: Path, branch: str) -> Any:
    """The repo at `branch` (a branch name or a revision)."""
    from pipeline.admin.state import snapshot_at
    from pipeline.gitrepo import GitRepo

    return snapshot_at(GitRepo(repo_dir), branch)
