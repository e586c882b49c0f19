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


def format_option(
    help: str = "Print the result as text (people) or JSON (tools).",
) -> Callable[[F], F]:
    """--format text|json, default text."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help=help,
    )


def output_option(help: str, *, required: bool = False, dir_okay: bool = False) -> Callable[[F], F]:
    """-o/--output: the file (or folder) a command writes."""
    return click.option(
        "-o",
        "--output",
        "output",
        type=click.Path(dir_okay=dir_okay, file_okay=not dir_okay, path_type=Path),
        required=required,
        help=help,
    )


PLUGIN_STORE_ENV = "POWERX_PLUGIN_STORE"


def plugin_store_option(
    help: str = f"The host's plugin store [${PLUGIN_STORE_ENV}].", *, required: bool = True
) -> Callable[[F], F]:
    """--plugin-store DIR: the host's plugin store (never the artifact store, --store)."""
    return click.option(
        "--plugin-store",
        "store_dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar=PLUGIN_STORE_ENV,
        required=required,
        help=help,
    )


def local_store_default() -> Path:
    """A developer's own plugin store: $XDG_STATE_HOME/powerx/store (~/.local/state/...)."""
    import os

    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "powerx" / "store"


def local_store_option() -> Callable[[F], F]:
    """--plugin-store DIR for the local host's commands, with a per-user default."""
    return click.option(
        "--plugin-store",
        "store_dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar=PLUGIN_STORE_ENV,
        default=local_store_default,
        show_default="$XDG_STATE_HOME/powerx/store",
        help=f"The local host's plugin store [${PLUGIN_STORE_ENV}].",
    )


def listen_options(
    port_help: str = "The port to listen on (0: any free port).",
    *,
    default_port: int = 7300,
    listen_help: str = "The address to listen on (loopback unless told otherwise).",
) -> Callable[[F], F]:
    """--port N (default 7300: the local host's) and --listen ADDRESS (default loopback)."""
    return combine(
        click.option(
            "--port",
            type=click.IntRange(0, 65535),
            default=default_port,
            show_default=True,
            help=port_help,
        ),
        click.option(
            "--listen",
            default="127.0.0.1",
            show_default=True,
            help=listen_help,
        ),
    )


def env_dir_option(
    help: str = "The environment folder (environment.yaml + plugins/*.yaml).",
    *,
    required: bool = True,
) -> Callable[[F], F]:
    """--env-dir DIR: an environment's folder (--env is always an environment's name)."""
    return click.option(
        "--env-dir",
        "environment_dir",
        type=click.Path(file_okay=False, path_type=Path),
        required=required,
        help=help,
    )


def health_timeout_option() -> Callable[[F], F]:
    """--health-timeout DURATION (default 30 s)."""
    from pipeline.cli.vocabulary import Duration

    return click.option(
        "--health-timeout",
        type=Duration(minimum=0.1),
        default="30",
        show_default=True,
        help="Upper bound on any plugin's own health-check timeout: a duration, e.g. 30s, 2m.",
    )


def registry_options() -> Callable[[F], F]:
    """--registry-credentials-env NAME and --ca-file FILE: how oci:// (and https) stores are
    reached. Credentials are read from $NAME (user:password) or the Docker config file."""
    return combine(
        click.option(
            "--registry-credentials-env",
            metavar="NAME",
            help="oci:// stores: the environment variable holding user:password"
            " [default: the auths of $DOCKER_CONFIG/config.json].",
        ),
        click.option(
            "--ca-file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="A private CA bundle (PEM) the store's TLS certificate is checked against.",
        ),
    )


def store_options(credentials_env: str | None, ca_file: Path | None) -> Any:
    """The `StoreOptions` of `registry_options` (the store package loads on use)."""
    from pipeline.store import StoreOptions

    return StoreOptions(verify=ca_file, credentials_env=credentials_env)


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
