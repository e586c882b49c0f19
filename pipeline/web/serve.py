"""Running the console: refuse a non-loopback address, bind, answer until stopped."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from pipeline.errors import InputError
from pipeline.web.app import create_app
from pipeline.webserver import bind, is_loopback, running, stop_event


def require_loopback(listen: str) -> None:
    """Reading needs no login only on loopback; until the console has logins, fail closed."""
    if not is_loopback(listen):
        raise InputError(
            f"the console does not listen on {listen}: without a login anyone who reaches it "
            "could read the release repo's history",
            hint="listen on loopback (127.0.0.1, the default) and reach it through an SSH "
            "tunnel; identities arrive with the console's login in a later version",
        )


def serve(
    repo_dir: Path,
    listen: str,
    port: int,
    say: Callable[[str], None],
    store_dir: Path | None = None,
) -> None:
    """Serve the console of `repo_dir` (and the plugin store `store_dir`) on `listen:port`
    until SIGINT or SIGTERM."""
    require_loopback(listen)
    app = create_app(repo_dir, store_dir)
    sock = bind(listen, port)

    async def run() -> None:
        stop = stop_event()
        async with running(app, sock) as url:
            say(f"PowerX console at {url}/ (repo {repo_dir.resolve()}); Ctrl-C stops")
            await stop.wait()
        say("stopped")

    asyncio.run(run())
