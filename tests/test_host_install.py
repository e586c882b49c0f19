"""`powerx plugin install --from DIR`: real processes, real builds, a real store and host.

Each test runs the `powerx` console script on a plugin folder written by tests/hostplugins.py
and looks at the store it leaves: the active link, the installed version's files, the
tenant's grants and the source records; where it matters, a real `powerx host` serves what
is active.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import git
from hostplugins import ServerProcess, fetch, replace_file, run, set_greeting, write_plugin
from test_host_dev import PLUGIN, QUICK_HEALTH, active_greeting

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
INSTALLED = re.compile(r"^installed tiny (?P<revision>.+) for tenant dev \(was: (?P<was>.+)\)$")


def install(source: Path, store: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = ["powerx", "plugin", "install", "--from", str(source), "--plugin-store", str(store)]
    return run([*argv, *extra])


def install_json(source: Path, store: Path, *extra: str) -> dict[str, Any]:
    result = install(source, store, "--format", "json", *extra)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def active_target(store: Path) -> Path | None:
    link = store / "active" / PLUGIN
    return link.resolve() if link.is_symlink() else None


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout + result.stderr, result.stderr


def test_install_activates_the_plugin_and_reports_the_revision(tmp_path: Path) -> None:
    folder = write_plugin(tmp_path, greeting="Hello")
    store = tmp_path / "store"
    first = install(folder, store, "--grant-declared")
    assert first.returncode == 0, first.stderr
    match = INSTALLED.match(first.stdout.splitlines()[0])
    assert match is not None, first.stdout
    assert match["was"] == "nothing"
    target = active_target(store)
    assert target is not None and target.parent == (store / "plugins" / PLUGIN).resolve()
    assert match["revision"].startswith("0.1.0@" + target.name.removeprefix("0.1.0-"))
    assert active_greeting(store) == "Hello"

    set_greeting(folder, "Second")
    data = install_json(folder, store, "--grant-declared")
    assert {"plugin", "version", "digest", "revision", "previous"} <= set(data)
    assert (data["plugin"], data["version"]) == (PLUGIN, "0.1.0")
    assert DIGEST.match(data["digest"]), data
    digest = data["digest"].removeprefix("sha256:")
    assert data["revision"].startswith(f"0.1.0@{digest[:12]} (src ")
    assert data["previous"] == match["revision"]
    assert data["built"] is True
    assert active_target(store) == store.resolve() / "plugins" / PLUGIN / f"0.1.0-{digest[:12]}"
    assert active_greeting(store) == "Second"


def test_install_from_a_built_dist_runs_no_build(tmp_path: Path) -> None:
    folder = write_plugin(tmp_path, greeting="Built")
    built = run(["px-plugin", "build", str(folder)])
    assert built.returncode == 0, built.stderr
    served = folder / "dist" / PLUGIN / "__init__.py"
    stamp = served.stat().st_mtime_ns
    set_greeting(folder, "Not built")  # newer sources: only a build would bring them in

    data = install_json(folder / "dist", tmp_path / "store", "--grant-declared")
    assert data["built"] is False
    assert active_greeting(tmp_path / "store") == "Built"
    assert served.stat().st_mtime_ns == stamp
    assert "Built" in served.read_text()


def test_install_builds_only_when_dist_is_missing_or_older_than_the_sources(
    tmp_path: Path,
) -> None:
    folder = write_plugin(tmp_path, greeting="One")
    store = tmp_path / "store"
    assert not (folder / "dist").exists()
    first = install_json(folder, store, "--grant-declared")
    assert first["built"] is True
    served = folder / "dist" / PLUGIN / "__init__.py"
    stamp = served.stat().st_mtime_ns

    again = install_json(folder, store, "--grant-declared")
    assert again["built"] is False
    assert served.stat().st_mtime_ns == stamp
    assert again["digest"] == first["digest"]

    set_greeting(folder, "Two")
    # surely newer than dist/ was published (its ctime), whatever the clock's grain
    newer = (folder / "dist").stat().st_ctime + 5
    os.utime(folder / "src" / PLUGIN / "__init__.py", (newer, newer))
    third = install_json(folder, store, "--grant-declared")
    assert third["built"] is True
    assert third["digest"] != first["digest"]
    assert third["previous"] == first["revision"]
    assert active_greeting(store) == "Two"


def test_install_refuses_a_permission_the_tenant_has_not_granted(tmp_path: Path) -> None:
    folder = write_plugin(tmp_path, permissions=("tenant-data:read", "secrets:read"))
    store = tmp_path / "store"
    nobody = install(folder, store)  # no tenant yet: it granted nothing
    assert nobody.returncode == 1, nobody.stderr
    no_traceback(nobody)
    assert "'tenant-data:read'" in nobody.stderr and "'secrets:read'" in nobody.stderr
    assert "powerx plugin grant tiny" in nobody.stderr
    assert active_target(store) is None

    granted = run(["powerx", "plugin", "grant", PLUGIN, "tenant-data:read", "--store", str(store)])
    assert granted.returncode == 0, granted.stderr
    refused = install(folder, store)
    assert refused.returncode == 1, refused.stderr
    no_traceback(refused)
    assert "install failed at step 'permissions'" in refused.stderr
    assert "'secrets:read'" in refused.stderr and "'tenant-data:read'" not in refused.stderr
    assert f"powerx plugin grant tiny secrets:read --tenant dev --plugin-store {store}" in (
        refused.stderr
    )
    assert active_target(store) is None
    assert not (store / "active").exists() or list((store / "active").iterdir()) == []

    allowed = install(folder, store, "--grant-declared")
    assert allowed.returncode == 0, allowed.stderr
    assert active_target(store) is not None
    settings = (store / "tenants" / "dev" / "tenant.yaml").read_text()
    assert "secrets:read" in settings and "tenant-data:read" in settings


@pytest.mark.parametrize("failure", ["unhealthy", "exits at once"])
def test_a_failed_check_keeps_the_previous_version_active_and_served(
    tmp_path: Path, failure: str
) -> None:
    crash_file = tmp_path / "crash"
    folder = write_plugin(tmp_path, crash_file=crash_file, health_timeout=QUICK_HEALTH)
    store = tmp_path / "store"
    good = install_json(folder, store, "--grant-declared")
    before = active_target(store)
    if failure == "unhealthy":
        set_greeting(folder, "Sick", healthy=False)
        expected = "GET /healthz: HTTP 500"
    else:
        set_greeting(folder, "Crashy")
        crash_file.touch()  # the new version's server exits as it starts
        expected = "exited with code 3"

    result = install(folder, store)
    assert result.returncode == 1, result.stderr
    no_traceback(result)
    assert "install failed at step 'check'" in result.stderr
    assert expected in result.stderr
    assert f"{good['revision']} stays active" in result.stderr
    assert active_target(store) == before
    assert active_greeting(store) == "Hello"

    crash_file.unlink(missing_ok=True)  # the old version must not crash either
    argv = ["powerx", "host", "--plugin-store", str(store), "--port", "0"]
    with ServerProcess(argv) as host:
        host.wait_for("following the store")
        status, body = fetch(f"{host.url}/t/dev/p/{PLUGIN}/")
        assert status == 200, body
        assert body.decode().startswith("Hello, dev!")
        assert host.state("dev", PLUGIN) == "running"


def manifest_line(folder: Path, text: str) -> int:
    """The line number (from 1) of the first line of plugin.yaml containing `text`."""
    lines = (folder / "plugin.yaml").read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)


def edit_manifest(folder: Path, old: str, new: str) -> None:
    manifest = folder / "plugin.yaml"
    text = manifest.read_text()
    assert old in text
    replace_file(manifest, text.replace(old, new))


@pytest.mark.parametrize(
    "case", ["no plugin.yaml", "bad version", "bad YAML", "serve leaves dist", "no folder"]
)
def test_bad_input_exits_2_with_a_located_message(tmp_path: Path, case: str) -> None:
    folder = write_plugin(tmp_path)
    manifest = folder / "plugin.yaml"
    source = folder
    if case == "no plugin.yaml":
        manifest.unlink()
        expected = f"plugin.yaml not found in {folder}"
    elif case == "bad version":
        edit_manifest(folder, "version: 0.1.0", "version: one")
        expected = f"{manifest}:{manifest_line(folder, 'version: one')}:"
    elif case == "bad YAML":
        edit_manifest(folder, "name: tiny", "name: [tiny")
        expected = f"{manifest}:"
    elif case == "serve leaves dist":
        edit_manifest(folder, "[python3, -m, tiny.server]", "[../../evil]")
        expected = f"{manifest}:{manifest_line(folder, '../../evil')}:"
    else:
        source = tmp_path / "nowhere"
        expected = f"{source} does not exist"
    store = tmp_path / "store"

    result = install(source, store, "--grant-declared")
    assert result.returncode == 2, result.stderr
    no_traceback(result)
    assert result.stderr.startswith("error: "), result.stderr
    assert expected in result.stderr
    if case == "serve leaves dist":
        assert "'../../evil'" in result.stderr and "inside the plugin folder" in result.stderr
    assert active_target(store) is None
    assert not (store / "plugins").exists() or list((store / "plugins").iterdir()) == []


def test_install_records_the_sources_and_their_git_state(tmp_path: Path) -> None:
    plain = write_plugin(tmp_path / "plain")
    store = tmp_path / "store"
    data = install_json(plain, store, "--grant-declared")
    records = json.loads((store / "host" / "sources" / f"{PLUGIN}.json").read_text())["records"]
    digest = data["digest"].removeprefix("sha256:")
    record = records[digest]
    assert record["sourceDir"] == str(plain.resolve())
    assert re.fullmatch(r"[0-9a-f]{64}", record["sourceDigest"])
    assert (record["gitCommit"], record["gitDirty"]) == (None, False)

    repo = tmp_path / "repo"
    folder = write_plugin(repo / "plugins", greeting="Tracked")
    (repo / ".gitignore").write_text("dist/\nbuild/\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "a plugin")
    head = git(repo, "rev-parse", "HEAD")
    clean = install_json(folder, store, "--grant-declared")
    set_greeting(folder, "Edited")
    dirty = install_json(folder, store, "--grant-declared")
    assert f", git {head[:8]})" in clean["revision"]
    assert f", git {head[:8]}+dirty)" in dirty["revision"]

    records = json.loads((store / "host" / "sources" / f"{PLUGIN}.json").read_text())["records"]
    first = records[clean["digest"].removeprefix("sha256:")]
    second = records[dirty["digest"].removeprefix("sha256:")]
    assert first["sourceDir"] == second["sourceDir"] == str(folder.resolve())
    assert (first["gitCommit"], first["gitDirty"]) == (head, False)
    assert (second["gitCommit"], second["gitDirty"]) == (head, True)
    assert first["sourceDigest"] != second["sourceDigest"] != record["sourceDigest"]
    assert digest in records  # the plain folder's record is kept beside them
