"""`powerx plugin`: one group shared by the offline import and the host-side commands."""

from __future__ import annotations

import click

from pipeline.cli.lazy import Lazy, LazyGroup

COMMANDS = {
    "disable": Lazy(
        "pipeline.cli.agent:disable",
        "Disable plugin NAME in an environment: hosts keep it installed but inactive.",
    ),
    "enable": Lazy(
        "pipeline.cli.agent:enable",
        "Enable plugin NAME in an environment, once its health check passed: one commit.",
    ),
    "import": Lazy(
        "pipeline.cli.offline:import_offline",
        "Verify an offline BUNDLE against this site's trust, then commit, store and deploy it.",
    ),
    "status": Lazy(
        "pipeline.cli.agent:status",
        "Desired against observed per plugin: active version, health, drift.",
    ),
}


@click.group("plugin", cls=LazyGroup, lazy=COMMANDS)
def plugin() -> None:
    """A site's plugins: import offline bundles, enable, disable, status."""
