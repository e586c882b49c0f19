"""Crash safety: an import killed with SIGKILL at any stage, then run again, completes, and
at every moment the site repo and the store are consistent (a commit never names an artifact
the store lacks; the store never holds a half-written object)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from bundle_support import Site, Source
from conftest import GIT_ENV, PROJECT, git
from waiting import DEADLINE

from pipeline.bundle.importer import import_bundle
from pipeline.cli.offline import PAUSE_ENV
from pipeline.gitrepo import GitRepo, read_trailers

POWERX = PROJECT / ".venv" / "bin" / "powerx"


def _run(site: Site, bundle: Path, pause: str | None, tmp_path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, **GIT_ENV, "HOME": str(tmp_path)}
    env.pop(PAUSE_ENV, None)
    if pause:
        env[PAUSE_ENV] = pause
    return subprocess.Popen(
        [str(POWERX), *site.argv(bundle)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def _imports(site: Site) -> int:
    log = git(site.repo.path, "log", "--format=%B%x00")
    return sum(read_trailers(message).get("Action") == "import" for message in log.split("\0"))


def _consistent(site: Site, digests: list[str]) -> None:
    """Whatever HEAD says, the store holds it whole."""
    objects = site.store / "objects" / "sha256"
    stored = (
        {path.name for path in objects.rglob("*") if path.is_file()} if objects.exists() else set()
    )
    assert not {p.name for p in objects.rglob(".*")} if objects.exists() else True
    if _imports(site):
        assert set(digests) <= stored


@pytest.mark.parametrize("stage", ["verified", "storing", "stored", "committed"])
def test_kill_and_rerun(tmp_path: Path, stage: str) -> None:
    source, site = Source(tmp_path / "a"), Site(tmp_path / "b")
    digests = [source.release("hello", "1.0.0"), source.release("world", "1.0.0")]
    bundle = tmp_path / "prod.bundle"
    source.export(bundle)
    before = site.repo.head()
    process = _run(site, bundle, stage, tmp_path)
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == f"paused {stage}", line + (
        process.stderr.read() if process.stderr else ""
    )
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=DEADLINE)
    _consistent(site, digests)
    committed = stage == "committed"
    assert (site.repo.head() != before) == committed
    assert site.active("hello") is None  # nothing deployed before the commit + sync
    again = import_bundle(site.request(bundle, operator="admin"))  # the re-run, in-process
    assert again.ok
    assert again.resumed == committed
    assert _imports(site) == 1
    _consistent(site, digests)
    assert site.active("hello") is not None and site.active("world") is not None
    head = GitRepo(site.repo.path).resolve("HEAD")
    assert read_trailers(head.message)["Action"] == "import"
    assert not list((site.store / "incoming").glob("import-*"))
