"""Shared fixtures: real git repositories built with the real `git` command, real reports."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from pipeline.cli.errors import run_command

pytest_plugins = ["prometheus", "registry"]
"""tests/prometheus.py: the canary tests' `exporter` and `prometheus`; tests/registry.py: the
OCI store tests' `registry` and `auth_registry` (Debian's docker-registry)."""

PROJECT = Path(__file__).resolve().parents[1]
DATA = PROJECT / "tests" / "data"
"""Vendored real-tool fixtures (tests/data/README.md says where each came from)."""
SHARED = DATA
"""The old name of `DATA`, still imported by a few tests."""
REPORTS = DATA / "reports" / "python"

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str) -> str:
    """Run the real git command and return its output."""
    env = {**os.environ, **GIT_ENV, "HOME": str(cwd)}
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    )
    return result.stdout.strip()


@dataclass
class Repo:
    """A throwaway git repository driven with the git CLI."""

    path: Path

    def write(self, files: Mapping[str, str | bytes | None]) -> None:
        """Write (or delete, with None) files in the work tree."""
        for name, content in files.items():
            target = self.path / name
            if content is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8")

    def commit(self, files: Mapping[str, str | bytes | None], message: str = "change") -> str:
        """Write files and commit them all; returns the new commit id."""
        self.write(files)
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "--allow-empty", "-m", message)
        return self.head()

    def head(self) -> str:
        return git(self.path, "rev-parse", "HEAD")

    def git(self, *args: str) -> str:
        return git(self.path, *args)


@pytest.fixture
def release_repo(tmp_path: Path) -> Repo:
    """A repo made by `powerx init` that trusts the test key, on a branch ready for a change."""
    from factories import signing_policy, yaml_text

    from pipeline.scaffold import init_repo

    path = tmp_path / "release-repo"
    init_repo(path)
    repo = Repo(path)
    repo.commit({"policies/signing.yaml": yaml_text(signing_policy())}, "trust the test key")
    repo.git("checkout", "-q", "-b", "feature")
    return repo


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """An empty git repository on branch main."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return Repo(path)


@dataclass
class CliResult:
    code: int
    out: str
    err: str


RunCli = Callable[..., CliResult]
"""The `run_cli` fixture: run(command, *argv) -> CliResult."""


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Iterator[RunCli]:
    """Run a click command in-process through the real top-level error handler."""

    def run(command: click.Command, *argv: str) -> CliResult:
        capsys.readouterr()
        code = run_command(command, list(argv))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    yield run


@pytest.fixture(autouse=True)
def _no_github_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests behave the same inside and outside GitHub Actions."""
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_BASE_REF"):
        monkeypatch.delenv(name, raising=False)


def live_copy(tmp_path: Path) -> Repo:
    """A scratch copy of the project's live release repo, committed on main."""
    path = tmp_path / "live"
    path.mkdir()
    for folder in ("policies", "environments", "releases"):
        shutil.copytree(PROJECT / folder, path / folder)
    git(path, "init", "-q", "-b", "main")
    repo = Repo(path)
    repo.commit({}, "import the live release repo")
    return repo
