"""`powerx plugin`: one group shared by the offline import and the host-side commands."""

from __future__ import annotations

import click


@click.group("plugin")
def plugin() -> None:
    """A site's plugins: import offline bundles, enable, disable, status."""
