"""Which version a tenant runs: stable hash buckets, or an explicit canary group."""

from __future__ import annotations

import hashlib

from pipeline.models.environment import Environment, PluginState

BUCKETS = 100


def bucket(tenant: str, plugin: str) -> int:
    """The tenant's bucket (0-99) for this plugin: stable across runs, machines and Pythons.

    A canary of weight W runs in buckets 0..W-1, so a tenant on a 10% canary stays on it at 50%.
    """
    digest = hashlib.sha256(f"{plugin}\0{tenant}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def runs_canary(state: PluginState, tenant: str, environment: Environment | None = None) -> bool:
    """True when `tenant` is in the canary of this plugin state."""
    canary = state.canary
    if canary is None:
        return False
    if canary.group is not None:
        members = environment.groups.get(canary.group, []) if environment is not None else []
        return tenant in members
    return bucket(tenant, state.plugin) < canary.weight


def version_for_tenant(
    state: PluginState, tenant: str, environment: Environment | None = None
) -> tuple[str, str]:
    """(version, digest) that `tenant` runs of this plugin: the host side of a rollout."""
    if state.canary is not None and runs_canary(state, tenant, environment):
        return state.canary.version, state.canary.digest
    return state.version, state.digest
