"""`powerx console token create|list|revoke`: the web console's per-user tokens."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from pipeline.cli.options import format_option
from pipeline.cli.vocabulary import Command, Duration, emit
from pipeline.web.tokens import TOKENS_ENV

F = TypeVar("F", bound=Callable[..., Any])


def tokens_option() -> Callable[[F], F]:
    """--tokens FILE: the console's token file."""
    return click.option(
        "--tokens",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar=TOKENS_ENV,
        default=None,
        help=f"The console's token file [${TOKENS_ENV}, else "
        "$XDG_CONFIG_HOME/powerx/console-tokens.json].",
    )


def _store(tokens: Path | None) -> Any:
    from pipeline.web.tokens import TokenStore, default_tokens_path

    return TokenStore(tokens or default_tokens_path())


@click.group()
def console() -> None:
    """The web console's users: tokens to log in with (`powerx serve`)."""


@console.group()
def token() -> None:
    """Per-user tokens, kept hashed in a file outside git."""


@token.command(cls=Command, renamed={"--expires": "--valid-for"})
@click.option("--as", "login", required=True, help="The login the token stands for.")
@click.option(
    "--valid-for",
    "expires",
    type=Duration(),
    default=None,
    help="How long it holds, e.g. 30d or 12h [default: until revoked].",
)
@tokens_option()
@format_option()
def create(login: str, expires: float | None, tokens: Path | None, output_format: str) -> int:
    """Make a token for LOGIN and print it, once: only its hash is kept."""
    from pipeline.web.tokens import now_utc

    store = _store(tokens)
    record, secret = store.create(login, expires, now_utc())
    data = {**record.public(), "token": secret, "file": str(store.path)}
    text = (
        f"{secret}\n"
        f"token {record.id} for {login} (expires {record.expires or 'never'}); "
        f"it is shown only now: keep it in a password manager\n"
    )
    emit(output_format, data, text)
    return 0


@token.command("list")
@tokens_option()
@format_option()
def list_tokens(tokens: Path | None, output_format: str) -> int:
    """The tokens: id, login, when made, when they expire (never the tokens)."""
    store = _store(tokens)
    records = [record.public() for record in store.records()]
    lines = [
        f"{r['id']}  {r['login']}  created {r['created']}  expires {r['expires'] or 'never'}"
        for r in records
    ]
    emit(output_format, {"tokens": records}, "".join(f"{line}\n" for line in lines))
    return 0


@token.command()
@click.argument("name")
@tokens_option()
@format_option()
def revoke(name: str, tokens: Path | None, output_format: str) -> int:
    """Revoke the token with id NAME, or every token of login NAME."""
    gone = _store(tokens).revoke(name)
    text = "".join(f"revoked token {r.id} of {r.login}\n" for r in gone)
    emit(output_format, {"revoked": [r.public() for r in gone]}, text)
    return 0
