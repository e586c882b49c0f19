"""The host side: a plugin store that a reconciler keeps in line with an environment folder."""

from __future__ import annotations

from pipeline.agent.store import PluginStore
from pipeline.agent.sync import PAUSE_STAGES, PluginSync, SyncResult, sync

__all__ = ["PAUSE_STAGES", "PluginStore", "PluginSync", "SyncResult", "sync"]
