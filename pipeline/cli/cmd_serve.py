"""`powerx serve`: the web console of a release repo."""

from __future__ import annotations

import os
from pathlib import Path

import click

from pipeline.cli.cmd_console import tokens_option
from pipeline.cli.options import listen_options, local_store_option, repo_option
from pipeline.cli.vocabulary import Command

RENAMED = {"--host": "--listen"}
"""The issue's spelling `--host` is understood (the vocabulary's is --listen)."""


@click.command("serve", cls=Command, renamed=RENAMED)
@repo_option()
@local_store_option()
@listen_options(
    default_port=7400,
    listen_help="The address to listen on; off loopback every page needs a login.",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME",
    help="A host name browsers reach the console by (repeatable) [default: the --listen "
    "address; loopback names always].",
)
@tokens_option()
@click.option(
    "--trust-proxy-header",
    "proxy_header",
    metavar="HEADER",
    help="Take the user from this header (e.g. X-Forwarded-User) set by a reverse proxy "
    "that logs users in; the console must then be reachable only through that proxy.",
)
@click.option(
    "--allow-install-from",
    "install_roots",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    metavar="DIR",
    help="A folder plugins may be installed from (repeatable) [default: none, installing "
    "from a local directory is refused].",
)
@click.option(
    "--key",
    "approval_keys",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help="An approver's key: the console signs that approver's approvals with it "
    "(repeatable; passphrase from $PX_PASSPHRASE or asked).",
)
def serve(
    repo_dir: Path,
    store_dir: Path,
    port: int,
    listen: str,
    allowed_hosts: tuple[str, ...],
    tokens: Path | None,
    proxy_header: str | None,
    install_roots: tuple[Path, ...],
    approval_keys: tuple[Path, ...],
) -> int:
    """Serve the web console of a release repo: its views as pages and as JSON, its actions."""
    from pipeline.web.app import ConsoleSettings
    from pipeline.web.serve import serve as run

    settings = ConsoleSettings(
        allowed_hosts=allowed_hosts,
        tokens=tokens,
        proxy_header=proxy_header,
        install_roots=tuple(root.resolve() for root in install_roots),
        approval_keys=load_approval_keys(approval_keys),
    )
    run(repo_dir, listen, port, lambda line: click.echo(line), store_dir, settings)
    return 0


def load_approval_keys(files: tuple[Path, ...]) -> dict[str, object]:
    """key id -> private key, for each --key (one passphrase for all)."""
    if not files:
        return {}
    from pipeline.signing.keys import key_id, load_private_key, passphrase_for

    passphrase = passphrase_for(os.environ)
    keys: dict[str, object] = {}
    for file in files:
        key = load_private_key(file.read_bytes(), passphrase, str(file))
        keys[key_id(key.public_key())] = key
    return keys
