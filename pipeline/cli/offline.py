"""`powerx export` and `powerx plugin import --offline`: bundles for isolated networks."""

from __future__ import annotations

from pipeline.cli.plugin_group import plugin

__all__ = ["plugin"]
