"""`powerx agent prune`: old versions go, active, desired and recent ones stay."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_agent_support import FAIL, Site, state

from pipeline.agent import sync
from pipeline.agent.prune import prune
from pipeline.cli.powerx import cli
from pipeline.errors import InputError


def test_prune_keeps_active_desired_and_the_newest_others(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    site = Site(tmp_path)
    digests = {}
    for number, version in enumerate(("1.0.0", "1.1.0", "1.2.0", "1.3.0")):
        digests[version] = site.want("hello", version)
        assert sync(site.env_dir, site.store).ok
        folder = site.store.version_dir("hello", version, digests[version])
        os.utime(folder, ns=(number * 10**9, number * 10**9))  # installed in this order
    bad = site.package("hello", "2.0.0", command=FAIL)
    site.write_state(state("hello", "2.0.0", bad))
    assert sync(site.env_dir, site.store).plugin("hello").action == "rolled-back"
    folder = site.store.version_dir("hello", "2.0.0", bad)
    os.utime(folder, ns=(0, 0))  # the oldest mtime, but desired: kept

    result = run_cli(cli, "agent", "prune", "--store", str(site.store.root), "--keep", "1")
    assert result.code == 0 and "2 version(s) removed, 3 kept" in result.out
    remaining = sorted(p.name.split("-")[0] for p in (site.store.plugins_dir / "hello").iterdir())
    assert remaining == ["1.2.0", "1.3.0", "2.0.0"]  # newest other, active, desired
    assert site.active_version("hello") == "1.3.0"
    assert not any(site.store.staging_dir.iterdir())

    # a pruned version comes back from its artifact when the environment asks for it again
    site.want("hello", "1.0.0")
    outcome = sync(site.env_dir, site.store).plugin("hello")
    assert outcome.action == "installed" and site.active_version("hello") == "1.0.0"
    assert prune(site.store, keep=0).kept  # the active version always stays
    with pytest.raises(InputError, match="--keep must be 0 or more"):
        prune(site.store, keep=-1)
