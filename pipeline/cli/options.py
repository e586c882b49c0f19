"""Options that several commands share, defined once (help texts may differ per command)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
PUSH_HELP = "Push to this remote (default origin), rebasing if others pushed first."


def repo_option(help: str = "The release repo.") -> Callable[[F], F]:
    """--repo DIR (default: the current directory)."""
    return click.option(
        "--repo",
        "repo_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=".",
        show_default=True,
        help=help,
    )


def branch_option(help: str = "The branch to commit on.") -> Callable[[F], F]:
    """--branch NAME (default main)."""
    return click.option("--branch", default="main", show_default=True, help=help)


def push_option(help: str = PUSH_HELP) -> Callable[[F], F]:
    """--push [REMOTE]: a bare --push means origin."""
    return click.option(
        "--push", "remote", is_flag=False, flag_value="origin", default=None, help=help
    )


def format_option(*choices: str, help: str | None = None) -> Callable[[F], F]:
    """--format, defaulting to the first choice."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(list(choices)),
        default=choices[0],
        show_default=True,
        help=help,
    )


operator_option = click.option(
    "--operator", envvar="GITHUB_ACTOR", help="Who asks [default: $GITHUB_ACTOR]."
)
github_repo_option = click.option(
    "--github-repo", envvar="GITHUB_REPOSITORY", help="owner/name [$GITHUB_REPOSITORY]."
)


def combine(*options: Callable[[F], F]) -> Callable[[F], F]:
    """One decorator applying `options` in the order they are listed (as if stacked)."""

    def apply(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return apply
