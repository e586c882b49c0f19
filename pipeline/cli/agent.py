"""`powerx agent sync` and `powerx plugin enable|disable|status`: the host-side reconciler."""

from __future__ import annotations

import click

from pipeline.cli.plugin_group import plugin

__all__ = ["agent", "plugin"]


@click.group("agent")
def agent() -> None:
    """The host side: make a local plugin store match an environment folder."""
