"""`powerx rollout`: canary rollouts driven by metrics."""

from __future__ import annotations

import click


@click.group("rollout")
def rollout() -> None:
    """Canary rollouts: start, step, watch, status."""
