"""Running the console: check how it may be reached, bind, answer until stopped."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from pipeline.errors import InputError
from pipeline.web.app import ConsoleSettings, create_app
from pipeline.webserver import bind, is_loopback, running, stop_event

WILDCARDS = ("0.0.0.0", "::", "[::]")  # noqa: S104 - names of what is bound, not a bind


def allowed_hosts(listen: str, given: tuple[str, ...]) -> tuple[str, ...]:
    """The Host names the console answers besides loopback's: `given`, or the address it
    listens on; a wildcard address needs them given (InputError)."""
    if given or is_loopback(listen):
        return given
    if listen in WILDCARDS:
        raise InputError(
            f"listening on {listen}, the console needs the host name(s) browsers use for it",
            hint="add --allowed-host NAME (repeatable), e.g. --allowed-host console.example.org",
        )
    return (f"[{listen}]" if ":" in listen else listen,)


def serve(
    repo_dir: Path,
    listen: str,
    port: int,
    say: Callable[[str], None],
    store_dir: Path | None = None,
    settings: ConsoleSettings | None = None,
) -> None:
    """Serve the console of `repo_dir` (and the plugin store `store_dir`) on `listen:port`
    until SIGINT or SIGTERM. Off loopback every page needs a login."""
    base = settings or ConsoleSettings()
    hosts = allowed_hosts(listen, base.allowed_hosts)
    settings = ConsoleSettings(
        loopback=is_loopback(listen),
        allowed_hosts=hosts,
        tokens=base.tokens,
        proxy_header=base.proxy_header,
        install_roots=base.install_roots,
        approval_keys=base.approval_keys,
    )
    app = create_app(repo_dir, store_dir, settings)
    sock = bind(listen, port)

    async def run() -> None:
        stop = stop_event()
        async with running(app, sock) as url:
            where = "" if settings.loopback else " (every page needs a login)"
            say(f"PowerX console at {url}/ (repo {repo_dir.resolve()}){where}; Ctrl-C stops")
            await stop.wait()
        say("stopped")

    asyncio.run(run())
