"""Every `--help` shown in docs/cli.md is what the command prints today.

A fenced block whose first line (after an optional `$ ... --help`) is `Usage: CMD [OPTIONS]`
and that lists `-h, --help` is a whole help text: it must equal the real one, at 80 columns.
"""

from __future__ import annotations

import re
import sys
from typing import Any

import click
import pytest
from conftest import PROJECT

from pipeline.cli import admin, market
from pipeline.cli import plugin as px_plugin
from pipeline.cli.powerx import cli as powerx

CLI_MD = PROJECT / "docs" / "cli.md"
PROGRAMS: dict[str, click.Command] = {
    "powerx": powerx,
    "px-plugin": px_plugin.cli,
    "px-admin": admin.cli,
    "px-market": market.cli,
}
USAGE = re.compile(r"^Usage: (\S+)((?: [a-z][a-z-]*)*) \[OPTIONS\]")


def help_blocks(text: str) -> list[tuple[list[str], list[str]]]:
    """(command words, shown help lines) of every whole help text in a fenced block."""
    found = []
    # every fenced block in order (a tagged one, e.g. ```json, too, so fences pair right)
    for tag, body in re.findall(r"^```([a-z]*)\n(.*?)^```$", text, re.M | re.S):
        if tag:
            continue
        lines = body.rstrip("\n").split("\n")
        if lines[0].startswith("$ ") and lines[0].endswith("--help"):
            lines = lines[1:]
        match = USAGE.match(lines[0]) if lines else None
        if match and any(line.strip().startswith("-h, --help") for line in lines):
            found.append(([match.group(1), *match.group(2).split()], lines))
    return found


def test_the_blocks_are_found() -> None:
    blocks = help_blocks(CLI_MD.read_text(encoding="utf-8"))
    names = {" ".join(words) for words, _ in blocks}
    assert {"powerx", "px-plugin", "powerx check", "px-plugin pack", "px-admin"} <= names
    assert len(blocks) >= 25


def test_every_help_block_is_the_real_help(run_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    stale = []
    for words, shown in help_blocks(CLI_MD.read_text(encoding="utf-8")):
        monkeypatch.setattr(sys, "argv", [words[0]])  # click names the program after argv[0]
        result = run_cli(PROGRAMS[words[0]], *words[1:], "--help")
        assert result.code == 0, words
        if result.out.rstrip("\n").split("\n") != shown:
            stale.append(" ".join(words))
    assert stale == [], f"regenerate these --help blocks in docs/cli.md: {stale}"


def leaf_commands(group: click.Command, ctx: click.Context) -> list[str]:
    """Every runnable command under `group`, as 'sub' or 'group sub'."""
    if not isinstance(group, click.Group):
        return []
    found = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        subs = leaf_commands(command, ctx)
        found += [f"{name} {sub}" for sub in subs] if subs else [name]
    return found


def test_the_command_table_lists_every_command() -> None:
    text = CLI_MD.read_text(encoding="utf-8")
    table = text[: text.index("## Vocabulary")]
    for program, group in PROGRAMS.items():
        row = next(line for line in table.splitlines() if line.startswith(f"| `{program}` |"))
        listed = set(re.findall(r"`([a-z][a-z -]*)`", row.split("|")[3]))
        with click.Context(group) as ctx:
            commands = set(leaf_commands(group, ctx))
        assert commands == listed, program
