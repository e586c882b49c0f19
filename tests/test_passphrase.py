"""Passphrases without a terminal: every command that may decrypt a key says the same.

With stdin not a terminal and no $PX_PASSPHRASE, `px-plugin keygen`, `px-plugin sign`,
`powerx approve` and `powerx export` exit 2 with "a passphrase is needed: set
PX_PASSPHRASE", write nothing, and print no Python warning (getpass is never called).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Repo
from factories import plugin_state, release, yaml_text
from test_approvals import key, teams_data

from pipeline.errors import InputError
from pipeline.signing.keys import passphrase_for

BIN = Path(sys.executable).parent
MESSAGE = "a passphrase is needed: set PX_PASSPHRASE"


def run(tool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PX_PASSPHRASE"}
    return subprocess.run(
        [str(BIN / tool), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
        start_new_session=True,  # no controlling terminal for getpass to open either
    )


def refused(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert MESSAGE in result.stderr
    assert "Warning" not in result.stderr and "warning" not in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def repo(release_repo: Repo) -> Repo:
    release_repo.git("checkout", "-q", "main")
    release_repo.commit(
        {
            "policies/teams.yaml": yaml_text(teams_data()),
            "releases/hello/1.0.0/release.yaml": yaml_text(release("hello", "1.0.0")),
            "environments/prod/plugins/hello.yaml": yaml_text(plugin_state("hello", "1.0.0")),
        },
        "hello",
    )
    return release_repo


@pytest.fixture
def encrypted_key(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "rita.key"
    path.parent.mkdir()
    path.write_bytes(key("rita")[1])
    return path


def test_keygen(tmp_path: Path) -> None:
    refused(run("px-plugin", "keygen", "-o", str(tmp_path / "new"), cwd=tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_sign(tmp_path: Path, encrypted_key: Path) -> None:
    artifact = tmp_path / "thing.bin"
    artifact.write_bytes(b"bytes")
    argv = ["sign", str(artifact), "--key", str(encrypted_key), "--plugin", "hello"]
    refused(
        run("px-plugin", *argv, "--version", "1.0.0", "--source-commit", "a" * 40, cwd=tmp_path)
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys", "thing.bin"]


def test_approve(repo: Repo, encrypted_key: Path) -> None:
    head = repo.head()
    argv = ["approve", "hello@1.0.0", "--env", "prod", "--key", str(encrypted_key), "--as", "rita"]
    refused(run("powerx", *argv, "--repo", str(repo.path), cwd=repo.path))
    assert repo.head() == head and repo.git("status", "--porcelain") == ""


def test_export(repo: Repo, encrypted_key: Path, tmp_path: Path) -> None:
    out = tmp_path / "prod.bundle"
    argv = ["export", "--env", "prod", "-o", str(out), "--key", str(encrypted_key)]
    refused(run("powerx", *argv, "--repo", str(repo.path), cwd=tmp_path))
    assert not out.exists()


def test_the_helper_reads_the_variable_and_asks_only_on_a_terminal() -> None:
    asked: list[str] = []

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return "typed"

    assert passphrase_for({"PX_PASSPHRASE": "from env"}, is_tty=lambda: False) == b"from env"
    assert passphrase_for({}, is_tty=lambda: True, ask=ask) == b"typed" and len(asked) == 1
    assert passphrase_for({}, confirm=True, is_tty=lambda: True, ask=ask) == b"typed"
    assert len(asked) == 3
    answers = iter(["one", "two"])
    with pytest.raises(InputError, match="the two passphrases differ"):
        passphrase_for({}, confirm=True, is_tty=lambda: True, ask=lambda _p: next(answers))
    with pytest.raises(InputError, match=MESSAGE):
        passphrase_for({}, is_tty=lambda: False, ask=ask)
    assert len(asked) == 3  # never asked without a terminal
