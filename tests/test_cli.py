"""The console scripts: help, version, exit codes, init and schema, as real processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from conftest import Repo

from pipeline import __version__
from pipeline.cli.errors import run_command
from pipeline.cli.powerx import cli

BIN = Path(sys.executable).parent


@pytest.mark.parametrize("script", ["powerx", "px-plugin", "px-admin", "px-market"])
def test_every_script_has_help_and_version(script: str) -> None:
    version = subprocess.run(
        [BIN / script, "--version"], capture_output=True, text=True, check=False
    )
    assert version.returncode == 0
    assert version.stdout.strip() == f"{script}, version {__version__}"
    help_text = subprocess.run(
        [BIN / script, "--help"], capture_output=True, text=True, check=False
    )
    assert help_text.returncode == 0
    assert help_text.stdout.startswith(f"Usage: {script} [OPTIONS] COMMAND [ARGS]...")


def test_usage_errors_exit_2() -> None:
    result = subprocess.run(
        [BIN / "powerx", "check", "--format", "xml"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "Invalid value for '--format'" in result.stderr
    result = subprocess.run(
        [BIN / "powerx", "frobnicate"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "No such command 'frobnicate'" in result.stderr


def test_python_dash_m_runs_powerx() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and __version__ in result.stdout


def test_unexpected_errors_exit_3_and_ask_for_a_bug_report(
    capsys: pytest.CaptureFixture[str],
) -> None:
    @click.command()
    def broken() -> None:
        raise ZeroDivisionError("boom")

    assert run_command(broken, []) == 3
    err = capsys.readouterr().err
    assert "ZeroDivisionError: boom" in err
    assert "this is a bug in PowerX Release" in err and "report it" in err


def test_interrupts_exit_130(capsys: pytest.CaptureFixture[str]) -> None:
    @click.command()
    def interrupted() -> None:
        raise KeyboardInterrupt

    @click.command()
    def aborted() -> None:
        raise click.Abort

    assert run_command(interrupted, []) == 130
    assert run_command(aborted, []) == 130
    assert capsys.readouterr().err.split() == ["aborted", "aborted"]


def test_init_scaffolds_a_checked_repo(run_cli: Any, tmp_path: Path) -> None:
    target = tmp_path / "new-repo"
    result = run_cli(cli, "init", str(target))
    assert result.code == 0
    assert result.out.startswith(f"created release repo {target} (11 files, commit ")
    repo = Repo(target)
    assert repo.git("status", "--porcelain") == ""
    assert repo.git("log", "--format=%s").splitlines() == [
        "powerx init: scaffold release repository"
    ]
    assert repo.git("log", "--format=%(trailers:key=PowerX-Action,valueonly)").strip() == "init"
    assert sorted(repo.git("ls-files").splitlines()) == [
        ".github/workflows/powerx-check.yml",
        "README.md",
        "environments/prod/environment.yaml",
        "environments/staging/environment.yaml",
        "environments/test/environment.yaml",
        "policies/gates.yaml",
        "policies/licenses.yaml",
        "policies/promotion.yaml",
        "policies/rollout.yaml",
        "policies/signing.yaml",
        "releases/README.md",
    ]
    assert "powerx check" in (target / ".github/workflows/powerx-check.yml").read_text()
    again = run_cli(cli, "init", str(target))
    assert again.code == 2
    assert (
        "already has .github/workflows/powerx-check.yml, README.md, environments/prod/environment.yaml and 8 more"
        in again.err
    )
    assert repo.git("log", "--format=%s").count("\n") == 0


def test_init_inside_an_existing_repo_commits_on_its_branch(run_cli: Any, repo: Repo) -> None:
    repo.commit({"app.py": "print()\n"})
    result = run_cli(cli, "init", str(repo.path / "deploy"))
    assert result.code == 0 and result.out.startswith("extended release repo")
    assert "deploy/policies/gates.yaml" in repo.git("ls-files").splitlines()
    assert repo.git("status", "--porcelain") == ""
    assert len(repo.git("log", "--format=%H").splitlines()) == 2


def test_schema_writes_json_schemas(run_cli: Any, tmp_path: Path) -> None:
    result = run_cli(cli, "schema", "--out", str(tmp_path / "schemas"))
    assert result.code == 0
    written = sorted(p.name for p in (tmp_path / "schemas").iterdir())
    assert written == sorted(line.rsplit("/", 1)[1] for line in result.out.splitlines())
    release = json.loads((tmp_path / "schemas" / "release.schema.json").read_text())
    assert release["$id"].endswith("release.schema.json")
    assert release["x-powerx-path"] == "releases/<plugin>/<version>/release.yaml"
    assert set(release["required"]) >= {"apiVersion", "kind", "plugin", "version", "artifact"}


@pytest.mark.parametrize("module", ["plugin", "admin", "market"])
def test_tool_groups_describe_themselves(run_cli: Any, module: str) -> None:
    import importlib

    tool = importlib.import_module(f"pipeline.cli.{module}")
    result = run_cli(tool.cli, "--help")
    assert result.code == 0
    assert "docs/cli.md" in result.out
