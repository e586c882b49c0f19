"""`agent sync` of a plugin with a `serve` block: its port-less HTTP check starts the plugin.

The agent cannot wait for a host to run the version (nothing runs it before it is active),
so it starts `serve.command` on a free loopback port for the check, polls the check's path,
and stops it again: a real package, a real process, real HTTP.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from conftest import PROJECT
from hostplugins import set_greeting, write_plugin
from test_agent_support import Site, state

from pipeline.agent import sync
from pipeline.packaging.build import build_plugin
from pipeline.packaging.pack import pack_plugin


def _package(site: Site, folder: Path) -> str:
    build_plugin(folder)
    packed = pack_plugin(folder, site.root / "out")
    site.store.artifacts.put(packed.path)
    return packed.sha256


def test_a_serving_plugin_is_started_for_its_check_then_activated(tmp_path: Path) -> None:
    site = Site(tmp_path)
    folder = write_plugin(tmp_path / "src", "greeter")
    digest = _package(site, folder)
    site.write_state(state("greeter", "0.1.0", digest))
    result = sync(site.env_dir, site.store)
    outcome = result.plugin("greeter")
    assert result.ok, outcome.message
    assert outcome.action == "installed" and outcome.healthy is True
    assert re.search(r"GET http://127\.0\.0\.1:\d+/healthz: 200 \(serve started", outcome.message)
    assert site.active_version("greeter") == "0.1.0"


def test_an_unhealthy_serving_plugin_is_not_activated(tmp_path: Path) -> None:
    site = Site(tmp_path)
    folder = write_plugin(tmp_path / "src", "greeter")
    set_greeting(folder, "Hello", healthy=False)
    digest = _package(site, folder)
    site.write_state(state("greeter", "0.1.0", digest))
    result = sync(site.env_dir, site.store, health_timeout=2.0)
    outcome = result.plugin("greeter")
    assert not result.ok and outcome.healthy is False
    assert "HTTP 500" in outcome.message
    assert site.active_version("greeter") is None


def test_the_real_hello_world_passes_its_check_under_agent_sync(tmp_path: Path) -> None:
    """hello-world needs POWERX_API to start: the check gives it one (which refuses calls)."""
    site = Site(tmp_path)
    folder = tmp_path / "hello-world"
    shutil.copytree(
        PROJECT / "examples" / "hello-world",
        folder,
        ignore=shutil.ignore_patterns("history", "dist", "build", "__pycache__", ".pytest_cache"),
    )
    digest = _package(site, folder)
    site.write_state(state("hello-world", "1.1.0", digest))
    result = sync(site.env_dir, site.store)
    outcome = result.plugin("hello-world")
    assert result.ok and outcome.healthy is True, outcome.message
    assert site.active_version("hello-world") == "1.1.0"


def test_a_serving_plugin_that_exits_is_reported_with_its_output_without_waiting(
    tmp_path: Path,
) -> None:
    site = Site(tmp_path)
    folder = write_plugin(tmp_path / "src", "greeter", crash_file=tmp_path / "crash")
    (tmp_path / "crash").write_text("")  # the server exits at once, printing why
    digest = _package(site, folder)
    site.write_state(state("greeter", "0.1.0", digest))
    outcome = sync(site.env_dir, site.store, health_timeout=3600.0).plugin("greeter")
    assert outcome.healthy is False
    assert "the plugin exited before it answered" in outcome.message
    assert "crash file present" in outcome.message
