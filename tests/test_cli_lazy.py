"""The CLIs start at once: a group imports a command's module only when that command runs,
and lists its commands from a table that is kept equal to the commands themselves."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import click
import pytest
from conftest import PROJECT

from pipeline.cli import plugin, plugin_group, powerx
from pipeline.cli.lazy import LazyGroup

GROUPS = {"powerx": powerx.cli, "powerx plugin": plugin_group.plugin, "px-plugin": plugin.cli}
HEAVY = (
    "sigstore",
    "httpx",
    "pydantic",
    "cryptography",
    "pygit2",
    "ruamel",
    "jinja2",
    "pipeline.canary",
    "pipeline.bundle",
    "pipeline.signing",
    "pipeline.models",
)


@pytest.mark.parametrize("name", sorted(GROUPS))
def test_the_table_says_what_the_commands_say(name: str) -> None:
    group = GROUPS[name]
    assert isinstance(group, LazyGroup)
    for command_name, entry in group.lazy.items():
        real = entry.load()
        assert real.name == command_name, entry.target
        stub = group.stub(command_name)
        for limit in range(10, 200):
            assert stub.get_short_help_str(limit) == real.get_short_help_str(limit), (
                f"{name} {command_name}: update the short help in the table"
            )


def _modules_after(code: str) -> dict[str, Any]:
    """Run `code` in a fresh interpreter; the pipeline modules and heavy packages it loaded."""
    probe = (
        "import contextlib, io, json, sys\n"
        "from pipeline.cli.errors import run_command\n"
        f"with contextlib.redirect_stdout(io.StringIO()):\n    code = {code}\n"
        "print(json.dumps({'code': code, 'modules': sorted(sys.modules)}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.mark.parametrize(
    ("module", "argv"),
    [
        ("powerx", ["--version"]),
        ("powerx", ["--help"]),
        ("powerx", ["plugin", "--help"]),
        ("plugin", ["--help"]),
        ("plugin", ["--version"]),
        ("admin", ["--help"]),
        ("market", ["--help"]),
    ],
)
def test_version_and_help_import_nothing_heavy(module: str, argv: list[str]) -> None:
    seen = _modules_after(
        f"run_command(__import__('pipeline.cli.{module}', fromlist=['cli']).cli, {argv!r})"
    )
    assert seen["code"] == 0
    loaded = [m for m in seen["modules"] if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert loaded == []
    commands = [m for m in seen["modules"] if m.startswith("pipeline.cli.cmd_")]
    assert commands == []


def test_a_command_imports_its_own_module_only() -> None:
    seen = _modules_after(
        "run_command(__import__('pipeline.cli.powerx').cli.powerx.cli, ['init', '--help'])"
    )
    assert seen["code"] == 0
    commands = [m for m in seen["modules"] if m.startswith("pipeline.cli.cmd_")]
    assert commands == ["pipeline.cli.cmd_init"]
    assert "pipeline.canary" not in seen["modules"] and "pipeline.bundle" not in seen["modules"]


def _walk(group: click.Group, path: list[str]) -> list[list[str]]:
    found = [path]
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, [*path, name]
        if isinstance(command, click.Group):
            found += _walk(command, [*path, name])
        else:
            found.append([*path, name])
    return found


def test_every_command_loads_and_explains_itself(run_cli: Any) -> None:
    for group in (powerx.cli, plugin.cli):
        for path in _walk(group, []):
            result = run_cli(group, *path, "--help")
            assert result.code == 0, (path, result.err)
            assert result.out.startswith("Usage: ")


def test_checking_key_signed_releases_loads_no_sigstore() -> None:
    """This repo's releases are key-signed: the audit verifies them all without sigstore."""
    seen = _modules_after(
        "run_command(__import__('pipeline.cli.powerx').cli.powerx.cli, "
        f"['check', '--repo', {str(PROJECT)!r}, '--all', '--format', 'json'])"
    )
    assert seen["code"] == 0
    heavy = ("sigstore", "requests", "httpx", "pipeline.canary", "pipeline.bundle")
    assert [m for m in seen["modules"] if m.startswith(heavy)] == []
    assert "pipeline.signing.verify" in seen["modules"]
