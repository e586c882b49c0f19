"""One CLI vocabulary: each option means one thing in every command of the four CLIs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest
from conftest import Repo

from pipeline.cli import admin, market, plugin, powerx
from pipeline.cli.vocabulary import VOCABULARY, Command, Duration, rename_args, webhooks_from_env
from pipeline.duration import parse_duration
from pipeline.refs import parse_release_ref

CLIS = {
    "powerx": powerx.cli,
    "px-plugin": plugin.cli,
    "px-admin": admin.cli,
    "px-market": market.cli,
}
NOT_REPORTING = {
    "powerx rollout watch": "a live view, one round after another",
    "powerx host": "a server: it runs until stopped and logs as it goes",
    "powerx serve": "a server: it runs until stopped",
    "px-plugin dev": "a server and watcher: one report line per round",
}
"""Commands that print no single result, and why."""
KINDS: dict[str, tuple[type[click.ParamType[Any, Any]], ...]] = {
    "text": (click.types.StringParamType,),
    "path": (click.Path,),
    "number": (click.types.IntParamType,),
    "duration": (Duration,),
    "choice": (click.Choice,),
    "date": (click.DateTime,),
    "point": (click.types.StringParamType, click.DateTime),
}


def commands() -> list[tuple[str, click.Command]]:
    """Every leaf command of the four CLIs, with its full name."""
    found: list[tuple[str, click.Command]] = []

    def walk(command: click.Command, name: str) -> None:
        if isinstance(command, click.Group):
            ctx = click.Context(command)
            for sub in command.list_commands(ctx):
                child = command.get_command(ctx, sub)
                assert child is not None
                walk(child, f"{name} {sub}")
        else:
            found.append((name, command))

    for name, cli in CLIS.items():
        walk(cli, name)
    return found


def options(command: click.Command) -> list[click.Option]:
    return [p for p in command.params if isinstance(p, click.Option) and not p.hidden]


def test_every_option_has_its_one_meaning() -> None:
    seen = 0
    for name, command in commands():
        for option in options(command):
            if option.name == "help":
                continue
            longs = [o for o in option.opts if o.startswith("--")]
            assert len(longs) == 1, f"{name}: {option.opts} needs exactly one long name"
            term = VOCABULARY.get(longs[0])
            assert term is not None, f"{name} {longs[0]}: add it to the vocabulary (docs/cli.md)"
            if term.kind == "flag":
                assert option.is_flag, f"{name} {longs[0]} is a flag everywhere"
            else:
                assert not option.is_flag or option.flag_value is not None, (name, longs[0])
                assert isinstance(option.type, KINDS[term.kind]), (
                    f"{name} {longs[0]} takes {term.kind} everywhere, not {option.type.name}"
                )
            shorts = [o for o in option.opts if not o.startswith("--")]
            if shorts:
                assert (shorts, longs) in ((["-o"], ["--output"]), (["-v"], ["--verbose"])), (
                    name,
                    option.opts,
                )
            seen += 1
    assert seen > 150


def test_env_is_always_an_environment_name() -> None:
    for name, command in commands():
        for option in options(command):
            if "--env" in option.opts:
                assert isinstance(option.type, click.types.StringParamType), name
                assert option.name in ("environment", "to_env", "environments"), name
                assert option.multiple == (option.name == "environments"), name


def test_the_two_stores_have_two_names() -> None:
    for name, command in commands():
        for option in options(command):
            if "--plugin-store" in option.opts:
                assert option.envvar == "POWERX_PLUGIN_STORE", name
            if "--store" in option.opts:
                assert option.envvar in (None, "POWERX_STORE"), name
                assert "plugin store" not in (option.help or ""), name


def test_every_reporting_command_takes_format_text_or_json() -> None:
    for name, command in commands():
        if name in NOT_REPORTING or name in ("px-admin", "px-market"):
            continue
        formats = [o for o in options(command) if "--format" in o.opts]
        assert formats, f"{name} reports a result: give it --format text|json"
        choices = formats[0].type
        assert isinstance(choices, click.Choice), name
        assert {"text", "json"} <= set(choices.choices), name
        if name != "powerx check":  # check's default depends on GitHub Actions
            assert formats[0].default == "text", name


def test_old_spellings_are_rewritten_with_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    renamed = {"--store": "--plugin-store", "--format=table": "--format=text"}
    args = ["x", "--store", "S", "--format", "table", "--", "--store"]
    assert rename_args(args, renamed) == [
        "x",
        "--plugin-store",
        "S",
        "--format",
        "text",
        "--",
        "--store",
    ]
    assert rename_args(["--store=S"], renamed) == ["--plugin-store=S"]
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "warning: --store is deprecated: use --plugin-store",
        "warning: --format table is deprecated: use --format text",
        "warning: --store is deprecated: use --plugin-store",
    ]
    assert rename_args(["--storey", "x"], renamed) == ["--storey", "x"]


def test_old_spellings_still_run(
    run_cli: Any, tmp_path: Path, repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PX_PASSPHRASE", "a passphrase")
    keygen = run_cli(plugin.cli, "keygen", "--out", str(tmp_path / "k"), "--format", "json")
    assert keygen.code == 0, keygen.err
    assert keygen.err == "warning: --out is deprecated: use --output\n"
    assert (tmp_path / "k.pub").is_file()
    repo.commit({"a": "1"})
    audit = run_cli(powerx.cli, "audit", "--repo", str(repo.path), "--format", "table")
    assert audit.code == 0, audit.err
    assert "deprecated: use --format text" in audit.err
    hidden = [c for _, c in commands() if isinstance(c, Command) and c.renamed]
    assert len(hidden) >= 8


def test_one_webhook_family(capsys: pytest.CaptureFixture[str]) -> None:
    environ = {
        "POWERX_WEBHOOKS": "https://a.example/1, https://b.example/2",
        "POWERX_ALERT_WEBHOOK": "https://c.example/3",
    }
    assert webhooks_from_env(environ) == [
        "https://a.example/1",
        "https://b.example/2",
        "https://c.example/3",
    ]
    assert "$POWERX_ALERT_WEBHOOK is deprecated: use $POWERX_WEBHOOKS" in capsys.readouterr().err
    assert webhooks_from_env(environ, shared=False) == ["https://c.example/3"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30", 30.0),
        ("1.5", 1.5),
        ("90s", 90.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("30d", 2592000.0),
    ],
)
def test_one_duration_format(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5 minutes", "m", "1x", "inf", "nan", "5m30"])
def test_not_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_one_release_ref_parser() -> None:
    assert parse_release_ref("hello@1.0.0") == ("hello", "1.0.0")
    assert parse_release_ref("hello", version_optional=True) == ("hello", "")
    for bad in ("hello", "@1.0.0", "hello@", "a@b@c", ""):
        with pytest.raises(ValueError, match="not plugin@version"):
            parse_release_ref(bad)


def test_docs_show_the_vocabulary() -> None:
    from conftest import PROJECT

    text = (PROJECT / "docs" / "cli.md").read_text(encoding="utf-8")
    section = text.split("## Vocabulary", 1)[1].split("\n## ", 1)[0]
    rows = {
        cells[0].strip("` "): (cells[1].strip(), cells[2].strip())
        for line in section.splitlines()
        if line.startswith("| `--")
        for cells in [line.strip("|").split(" | ")]
        if len(cells) == 3
    }
    assert rows == {name: (t.meaning, t.kind) for name, t in VOCABULARY.items()}
