"""Tenant assignment: stable hash buckets, monotonic growth, explicit canary groups."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from factories import digest_of, plugin_state

from pipeline.canary.assignment import BUCKETS, bucket, runs_canary, version_for_tenant
from pipeline.models.environment import Environment, PluginState

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
TENANTS = [f"tenant-{i}" for i in range(10_000)]


def state(weight: int | None, group: str | None = None) -> PluginState:
    data: dict[str, Any] = plugin_state("hello", "1.0.0")
    if weight is not None:
        data["canary"] = {
            "version": "1.1.0",
            "digest": digest_of("hello", "1.1.0"),
            "weight": weight,
            "step": 0,
            "startedAt": NOW,
            "stepStartedAt": NOW,
            **({"group": group} if group else {}),
        }
    return PluginState.model_validate(data)


def test_buckets_are_deterministic_across_processes() -> None:
    here = [bucket(t, "hello") for t in TENANTS[:50]]
    code = (
        "from pipeline.canary.assignment import bucket\n"
        "print([bucket(f'tenant-{i}', 'hello') for i in range(50)])"
    )
    there = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
    ).stdout
    assert str(here) == there.strip()
    assert bucket("tenant-1", "hello") != bucket("tenant-1", "other") or bucket(
        "tenant-2", "hello"
    ) != bucket("tenant-2", "other")


def test_buckets_are_close_to_uniform() -> None:
    counts = Counter(bucket(t, "hello") for t in TENANTS)
    assert set(counts) == set(range(BUCKETS))
    expected = len(TENANTS) / BUCKETS
    assert all(0.6 * expected < n < 1.4 * expected for n in counts.values())
    on_ten = sum(runs_canary(state(10), t) for t in TENANTS) / len(TENANTS)
    assert 0.08 < on_ten < 0.12


def test_canary_tenants_only_grow_10_50_100() -> None:
    groups = [{t for t in TENANTS if runs_canary(state(w), t)} for w in (10, 50, 100)]
    assert groups[0] < groups[1] < groups[2] == set(TENANTS)
    assert not any(runs_canary(state(None), t) for t in TENANTS[:100])
    assert not any(runs_canary(state(0), t) for t in TENANTS[:100])


def test_version_for_tenant() -> None:
    canary = next(t for t in TENANTS if bucket(t, "hello") < 10)
    stable = next(t for t in TENANTS if bucket(t, "hello") >= 10)
    assert version_for_tenant(state(10), canary) == ("1.1.0", digest_of("hello", "1.1.0"))
    assert version_for_tenant(state(10), stable) == ("1.0.0", digest_of("hello", "1.0.0"))
    assert version_for_tenant(state(None), canary) == ("1.0.0", digest_of("hello", "1.0.0"))


def test_explicit_groups() -> None:
    env = Environment.model_validate(
        {
            "apiVersion": "powerx.io/v1alpha1",
            "kind": "Environment",
            "name": "prod",
            "position": 2,
            "tenants": [{"id": "acme"}, {"id": "globex"}],
            "groups": {"early": ["acme"]},
        }
    )
    grouped = state(10, group="early")
    assert version_for_tenant(grouped, "acme", env)[0] == "1.1.0"
    assert version_for_tenant(grouped, "globex", env)[0] == "1.0.0"
    assert version_for_tenant(grouped, "acme")[0] == "1.0.0"  # no environment: no group
