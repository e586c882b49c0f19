"""`powerx plugin`: one group shared by the offline import and the host-side commands."""

from __future__ import annotations

import click

from pipeline.cli.lazy import Lazy, LazyGroup

COMMANDS = {
    "disable": Lazy(
        "pipeline.cli.host:disable",
        "Disable plugin NAME for a tenant of the local host, or in an environment.",
    ),
    "enable": Lazy(
        "pipeline.cli.host:enable",
        "Enable plugin NAME for a tenant of the local host, or in an environment.",
    ),
    "grant": Lazy(
        "pipeline.cli.host:grant",
        "Grant PERMISSIONS to PLUGIN for a tenant of the local host.",
    ),
    "import": Lazy(
        "pipeline.cli.offline:import_offline",
        "Verify an offline BUNDLE against this site's trust, then commit, store and deploy it.",
    ),
    "install": Lazy(
        "pipeline.cli.host:install",
        "Build (if needed), pack, install, check and activate a plugin from a local folder.",
    ),
    "revoke": Lazy(
        "pipeline.cli.host:revoke",
        "Revoke PERMISSIONS from PLUGIN for a tenant of the local host.",
    ),
    "secret": Lazy(
        "pipeline.cli.host:secret",
        "Set secret NAME of PLUGIN for a tenant; the value is read from standard input.",
    ),
    "status": Lazy(
        "pipeline.cli.agent:status",
        "Desired against observed per plugin: active version, health, drift.",
    ),
}


@click.group("plugin", cls=LazyGroup, lazy=COMMANDS)
def plugin() -> None:
    """A site's and a local host's plugins: install, import, enable, grant, status."""
