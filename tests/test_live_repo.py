"""The project's own policies/, environments/ and releases/ are a live release repo."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT, Repo, live_copy
from factories import load_yaml, yaml_text

from pipeline.cli.powerx import cli


@pytest.fixture
def live(tmp_path: Path) -> Repo:
    """A scratch copy of the live release repo, committed on main."""
    return live_copy(tmp_path)


def test_the_live_repo_is_consistent_and_holds_back_ledger_sync(run_cli: Any, live: Repo) -> None:
    result = run_cli(cli, "check", "--repo", str(live.path), "--all", "--format", "json")
    data = json.loads(result.out)
    assert result.code == 0, result.out
    warned = {(r["subject"], r["gate"]) for r in data["results"] if r["status"] == "warn"}
    assert warned == {
        ("ledger-sync@1.0.0", "coverage"),
        ("ledger-sync@1.0.0", "findings"),
        ("ledger-sync@1.0.0", "held"),
        # the sample tenants' grants, not compared with plugin.yaml without --store
        *{(f"environment {env}", "grants") for env in ("test", "staging", "prod")},
    }
    subjects = {r["subject"] for r in data["results"]}
    assert {
        "hello-world@1.0.0",
        "hello-world@1.1.0",
        "ledger-sync@0.9.0",
        "prod/hello-world",
    } <= subjects
    assert all(
        r["status"] == "pass"
        for r in data["results"]
        if r["subject"] != "ledger-sync@1.0.0" and r["gate"] != "grants"
    )


def test_promoting_the_held_back_release_fails_its_gates(run_cli: Any, live: Repo) -> None:
    live.git("checkout", "-q", "-b", "promote-ledger-sync")
    state_path = live.path / "environments/test/plugins/ledger-sync.yaml"
    state = load_yaml(state_path.read_text())
    manifest = load_yaml((live.path / "releases/ledger-sync/1.0.0/release.yaml").read_text())
    state.update(version="1.0.0", digest=manifest["artifact"]["sha256"])
    live.commit({"environments/test/plugins/ledger-sync.yaml": yaml_text(state)})
    result = run_cli(cli, "check", "--repo", str(live.path), "--format", "json")
    data = json.loads(result.out)
    assert result.code == 1
    failed = {(r["subject"], r["gate"]) for r in data["results"] if r["status"] == "fail"}
    assert failed == {
        ("ledger-sync@1.0.0", "coverage"),
        ("test/ledger-sync", "release-gates"),
        ("ledger-sync@1.0.0", "findings"),
    }
    coverage = [r["found"] for r in data["results"] if r["gate"] == "coverage"]
    assert all(found.startswith("63.") for found in coverage) and len(coverage) == 2


def test_all_takes_no_base(run_cli: Any, live: Repo) -> None:
    result = run_cli(cli, "check", "--repo", str(live.path), "--all", "--base", "main")
    assert result.code == 2 and "--all checks HEAD on its own" in result.err


def test_an_audit_reports_bad_files_with_their_location(run_cli: Any, live: Repo) -> None:
    state = live.path / "environments/prod/plugins/hello-world.yaml"
    state.write_text(state.read_text().replace("version: 1.0.0", "version: 1.0"))
    live.commit({}, "break a state file")
    result = run_cli(cli, "check", "--repo", str(live.path), "--all")
    assert result.code == 2
    assert "at environments/prod/plugins/hello-world.yaml:" in result.out
    assert "version: Input should be a valid string (found 1.0)" in result.out
    assert "hint: YAML reads 1.0 as a number: quote it ('1.0')" in result.out
    assert "WARN  ledger-sync@1.0.0" in result.out
    # Without valid policies nothing can be judged: the audit stops at once.
    licenses = live.path / "policies/licenses.yaml"
    licenses.write_text(licenses.read_text() + "extra: true\n")
    live.commit({}, "break a policy")
    result = run_cli(cli, "check", "--repo", str(live.path), "--all")
    assert result.code == 2
    assert result.err.startswith("error: policies/licenses.yaml:13:1: unknown field 'extra'")


@pytest.mark.parametrize(
    "plugin, version, folder",
    [
        ("hello-world", "1.0.0", "releases/hello-world/1.0.0"),
        ("hello-world", "1.1.0", "releases/hello-world/1.1.0"),
        ("ledger-sync", "0.9.0", "releases/ledger-sync/0.9.0"),
        ("ledger-sync", "1.0.0", "releases/ledger-sync/1.0.0"),
        ("ledger-sync", "1.0.1", "examples/ledger-sync/release-1.0.1"),
    ],
)
def test_example_artifacts_rebuild_to_their_signed_digest(
    tmp_path: Path, plugin: str, version: str, folder: str
) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    built = subprocess.run(
        ["bash", str(PROJECT / "examples/artifact.sh"), plugin, version, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    package = Path(built.stdout.strip())
    manifest = load_yaml((PROJECT / folder / "release.yaml").read_text())
    assert hashlib.sha256(package.read_bytes()).hexdigest() == manifest["artifact"]["sha256"]
    assert package.stat().st_size == manifest["artifact"]["size"]
    verified = subprocess.run(
        [
            str(Path(sys.executable).parent / "px-plugin"),
            "verify",
            str(package),
            "--bundle",
            str(PROJECT / folder / manifest["artifact"]["signature"]),
            "--policy",
            str(PROJECT / "policies/signing.yaml"),
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert verified.returncode == 0, verified.stderr
    assert f"ok: package {plugin}@{version}" in verified.stdout
