"""The runner that CI installs is pinned: `powerx init --runner-source/--runner-ref`, the
install step of the workflow it writes, and the composite action's install script.

The install steps run for real under bash; only `pip` (or `python -m pip`) is replaced by a
recorder on PATH, since the machine cannot reach GitHub.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT

from pipeline.cli.powerx import cli
from pipeline.errors import InputError
from pipeline.scaffold import CHECK_WORKFLOW, DEFAULT_RUNNER_SOURCE, RunnerPin, scaffold_files
from pipeline.yamlio import parse_yaml

SHA = "89abcdef0123456789abcdef0123456789abcdef"
ACTION = PROJECT / ".github" / "actions" / "powerx"


def recorder(tmp_path: Path, name: str) -> tuple[dict[str, str], Path]:
    """A PATH whose `name` writes its arguments, one a line, to a log instead of installing."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / f"{name}.log"
    script = bin_dir / name
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{log}"\n', encoding="utf-8")
    script.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}, log


def install_step(workflow: Path) -> dict[str, Any]:
    document = parse_yaml(workflow.read_bytes(), str(workflow)).data
    steps = document["jobs"]["check"]["steps"]
    return next(s for s in steps if str(s.get("name", "")).startswith("Install the PowerX"))


def run_step(step: dict[str, Any], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The step's script as GitHub runs a `run:` step (bash -eo pipefail) with its env."""
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        env={**env, **{k: str(v) for k, v in step["env"].items()}},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_init_pins_the_runner_and_the_step_installs_that_commit(
    run_cli: Any, tmp_path: Path
) -> None:
    result = run_cli(cli, "init", str(tmp_path / "repo"), "--runner-ref", SHA.upper())
    assert result.code == 0 and result.err == ""
    step = install_step(tmp_path / "repo" / CHECK_WORKFLOW)
    assert step["env"] == {"RUNNER_SOURCE": DEFAULT_RUNNER_SOURCE, "RUNNER_REF": SHA}
    env, log = recorder(tmp_path, "pip")
    done = run_step(step, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert log.read_text().splitlines() == [
        "install",
        f"powerx-release @ git+https://github.com/powerx/powerx-release@{SHA}",
    ]


def test_init_with_its_own_source(run_cli: Any, tmp_path: Path) -> None:
    source = "https://git.example.com/mirrors/powerx-release.git"
    result = run_cli(
        cli, "init", str(tmp_path / "r"), "--runner-source", source, "--runner-ref", SHA
    )
    assert result.code == 0
    env, log = recorder(tmp_path, "pip")
    assert run_step(install_step(tmp_path / "r" / CHECK_WORKFLOW), env).returncode == 0
    assert log.read_text().splitlines()[1] == f"powerx-release @ git+{source}@{SHA}"


def test_an_unpinned_workflow_fails_closed(run_cli: Any, tmp_path: Path) -> None:
    result = run_cli(cli, "init", str(tmp_path / "repo"))
    assert result.code == 0
    assert "warning: .github/workflows/powerx-check.yml fails until its RUNNER_REF" in result.err
    step = install_step(tmp_path / "repo" / CHECK_WORKFLOW)
    env, log = recorder(tmp_path, "pip")
    done = run_step(step, env)
    assert done.returncode == 1
    assert done.stdout.startswith(
        "::error file=.github/workflows/powerx-check.yml,title=PowerX runner not pinned::"
        "RUNNER_REF is '', not a full 40-hex commit of https://github.com/powerx/powerx-release"
    )
    assert not log.exists()
    # a hand edit to a tag is refused the same way
    done = run_step({**step, "env": {**step["env"], "RUNNER_REF": "v1.2.0"}}, env)
    assert done.returncode == 1 and "RUNNER_REF is 'v1.2.0'" in done.stdout
    assert not log.exists()


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--runner-ref", "v1.2.0", "--runner-ref 'v1.2.0' is not a full 40-hex commit (it looks"),
        ("--runner-ref", "main", "it looks like a branch or tag name"),
        ("--runner-ref", SHA[:12], f"--runner-ref '{SHA[:12]}' is not a full 40-hex commit\n"),
        ("--runner-source", "http://github.com/powerx/powerx-release", "not an https git URL"),
        ("--runner-source", "https://me:ghp_s3cret@github.com/o/r", "not an https git URL"),
        ("--runner-source", "https://github.com/o/r?token=s3cret", "not an https git URL"),
        ("--runner-source", "https://github.com/o/r\nbad: yaml", "not an https git URL"),
    ],
)
def test_init_refuses_an_unusable_pin(
    run_cli: Any, tmp_path: Path, option: str, value: str, says: str
) -> None:
    args = [option, value] if option == "--runner-ref" else [option, value, "--runner-ref", SHA]
    result = run_cli(cli, "init", str(tmp_path / "repo"), *args)
    assert result.code == 2
    assert says in result.err
    assert "hint: " in result.err and "s3cret" not in result.err
    assert not (tmp_path / "repo").exists()


def test_the_action_installs_from_its_own_checkout(tmp_path: Path) -> None:
    env, log = recorder(tmp_path, "python")
    done = run_action(env, RUNNER_REF="")
    assert done.returncode == 0, done.stdout + done.stderr
    assert log.read_text().splitlines() == ["-m", "pip", "install", str(PROJECT)]


def test_the_action_installs_a_pinned_commit(tmp_path: Path) -> None:
    env, log = recorder(tmp_path, "python")
    done = run_action(env, RUNNER_REF=SHA, RUNNER_SOURCE="https://github.com/o/r/")
    assert done.returncode == 0, done.stdout + done.stderr
    assert log.read_text().splitlines()[3] == f"powerx-release @ git+https://github.com/o/r@{SHA}"


@pytest.mark.parametrize(
    ("ref", "source", "says"),
    [
        ("v1", DEFAULT_RUNNER_SOURCE, "runner-ref 'v1' is not a full 40-hex commit"),
        (SHA, "git@github.com:o/r", "is not an https git URL"),
    ],
)
def test_the_action_refuses_an_unpinned_install(
    tmp_path: Path, ref: str, source: str, says: str
) -> None:
    env, log = recorder(tmp_path, "python")
    done = run_action(env, RUNNER_REF=ref, RUNNER_SOURCE=source)
    assert done.returncode == 1
    assert (
        done.stdout.startswith("::error title=PowerX runner not installed::")
        and says in done.stdout
    )
    assert not log.exists()


def test_the_action_outside_a_runner_checkout_fails_closed(tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere" / ".github" / "actions" / "powerx"
    shutil.copytree(ACTION, copy)
    env, log = recorder(tmp_path, "python")
    done = run_action(env, script=copy / "install-runner.sh", RUNNER_REF="")
    assert done.returncode == 1 and "is not a checkout of the runner" in done.stdout
    assert not log.exists()


def run_action(
    env: dict[str, str], script: Path = ACTION / "install-runner.sh", **values: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script)],
        env={**env, **values},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_the_action_runs_the_install_script() -> None:
    action = parse_yaml((ACTION / "action.yml").read_bytes(), "action.yml").data
    runs = [step.get("run") for step in action["runs"]["steps"]]
    assert 'bash "$ACTION_PATH/install-runner.sh"' in runs
    assert "powerx-release" not in str(action["inputs"]["runner-ref"]["default"])


def test_operations_md_shows_the_workflow_init_writes() -> None:
    pinned = scaffold_files(RunnerPin.parse(None, "89abcdef0123456789abcdef0123456789abcdef"))
    shown = (PROJECT / "docs" / "operations.md").read_text(encoding="utf-8")
    assert pinned[CHECK_WORKFLOW].decode("utf-8") in shown


REFS = [SHA, SHA.upper(), SHA[:39], SHA + "0", "v1.2.0", "main", "", "refs/tags/v1", f"{SHA}\n"]
SOURCES = [
    DEFAULT_RUNNER_SOURCE,
    "https://git.example.com:8443/a/b.git",
    "https://github.com/o/r/",
    "http://github.com/o/r",
    "https://u:p@github.com/o/r",
    "https://github.com/o/r?x=1",
    "https://github.com",
    "git@github.com:o/r",
]


def python_accepts(source: str, ref: str) -> bool:
    try:
        RunnerPin.parse(source, ref)
    except InputError:
        return False
    return True


@pytest.mark.parametrize("ref", REFS)
def test_the_three_pin_checks_agree_on_refs(tmp_path: Path, ref: str) -> None:
    """init, the generated step and the action refuse the same refs (the action and the step
    compare after init lower-cases: a capital hex digit in a hand edit is refused there)."""
    env, _ = recorder(tmp_path, "python")
    env_pip, _ = recorder(tmp_path, "pip")
    step = install_step_of(tmp_path)
    in_step = run_step({**step, "env": {**step["env"], "RUNNER_REF": ref}}, env_pip).returncode
    in_action = run_action(env, RUNNER_REF=ref, RUNNER_SOURCE=DEFAULT_RUNNER_SOURCE).returncode
    by_init = python_accepts(DEFAULT_RUNNER_SOURCE, ref)
    if ref == "":
        assert in_step == 1 and in_action == 0  # unpinned step fails; the action uses its checkout
    else:
        assert (in_step == 0) == (in_action == 0) == (by_init and ref == ref.lower())


@pytest.mark.parametrize("source", SOURCES)
def test_init_and_the_action_agree_on_sources(tmp_path: Path, source: str) -> None:
    env, _ = recorder(tmp_path, "python")
    in_action = run_action(env, RUNNER_REF=SHA, RUNNER_SOURCE=source).returncode
    assert (in_action == 0) == python_accepts(source, SHA)


def install_step_of(tmp_path: Path) -> dict[str, Any]:
    workflow = tmp_path / "powerx-check.yml"
    workflow.write_bytes(scaffold_files(RunnerPin.parse(None, SHA))[CHECK_WORKFLOW])
    return install_step(workflow)


def test_the_action_default_source_is_the_project() -> None:
    action = parse_yaml((ACTION / "action.yml").read_bytes(), "action.yml").data
    assert action["inputs"]["runner-source"]["default"] == DEFAULT_RUNNER_SOURCE
