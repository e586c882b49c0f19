"""`--format json` prints what docs/formats.md ("Command results") says, for real commands."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT, Repo

from pipeline.cli import plugin as px_plugin
from pipeline.cli.powerx import cli as powerx

FORMATS = PROJECT / "docs" / "formats.md"
TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "object": dict,
    "array": list,
    "null": type(None),
}


RESULTS = "## Command results"
MARKET_RESULTS = "## Marketplace command results"


def documented(heading: str = RESULTS) -> dict[str, dict[str, Any]]:
    """Command name -> its JSON Schema, from a section of docs/formats.md."""
    section = FORMATS.read_text(encoding="utf-8").split(heading, 1)[1]
    section = section.split("\n## ", 1)[0]
    found = re.findall(r"### `([^`]+)`\n.*?```json\n(.*?)\n```", section, re.S)
    return {name: json.loads(body) for name, body in found}


def problems(
    value: Any, schema: dict[str, Any], where: str = "$", root: dict[str, Any] | None = None
) -> list[str]:
    """What in `value` breaks `schema` (the subset of JSON Schema the docs use)."""
    root = schema if root is None else root
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return problems(value, root["$defs"][name], where, root)
    if "oneOf" in schema:
        fits = [not problems(value, option, where, root) for option in schema["oneOf"]]
        return (
            []
            if fits.count(True) == 1
            else [f"{where}: {value!r} fits {fits.count(True)} of oneOf"]
        )
    if "enum" in schema:
        return [] if value in schema["enum"] else [f"{where}: {value!r} not in {schema['enum']}"]
    kinds = schema.get("type")
    if kinds is not None:
        kinds = kinds if isinstance(kinds, list) else [kinds]
        ok = any(
            isinstance(value, TYPES[k]) and not (k in ("integer", "number") and value is True)
            for k in kinds
        )
        if not ok or (isinstance(value, bool) and "boolean" not in kinds):
            return [f"{where}: {value!r} is not {kinds}"]
    found: list[str] = []
    if isinstance(value, dict) and "properties" in schema:
        props = schema["properties"]
        found += [f"{where}: {k} missing" for k in schema.get("required", []) if k not in value]
        if schema.get("additionalProperties") is False:
            found += [f"{where}: {k} not documented" for k in value if k not in props]
        for key, sub in props.items():
            if key in value:
                found += problems(value[key], sub, f"{where}.{key}", root)
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            found += problems(item, schema["items"], f"{where}[{i}]", root)
    return found


def conforms(name: str, out: str | dict[str, Any], heading: str = RESULTS) -> dict[str, Any]:
    data = json.loads(out) if isinstance(out, str) else out
    assert problems(data, documented(heading)[name]) == [], name
    assert isinstance(data, dict)
    return data


def test_the_validator_can_fail() -> None:
    schema = documented()["px-plugin pack"]
    good = {"path": "a.pxp", "size": 1, "files": 2, "sha256": "sha256:00"}
    assert problems(good, schema) == []
    assert problems({**good, "size": "1"}, schema)
    assert problems({**good, "extra": 1}, schema)
    assert problems({k: v for k, v in good.items() if k != "path"}, schema)


def test_every_documented_command_exists_and_takes_format_json(run_cli: Any) -> None:
    for name in documented():
        program, *path = name.split()
        group = powerx if program == "powerx" else px_plugin.cli
        result = run_cli(group, *path, "--help")
        assert result.code == 0, name
        assert "--format [text|json]" in result.out, name


def test_every_documented_marketplace_command_takes_format_json(run_cli: Any) -> None:
    from pipeline.cli.market import cli as market

    names = documented(MARKET_RESULTS)
    assert "px-market validate" in names and "px-market search" in names
    for name in names:
        program, *path = name.split()
        assert program == "px-market", name
        result = run_cli(market, *path, "--help")
        assert result.code == 0, name
        assert "--format [text|json" in result.out, name


def test_plugin_tools_print_their_results_as_json(
    run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PX_PASSPHRASE", "a passphrase")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    source = tmp_path / "hello-world"
    shutil.copytree(PROJECT / "examples" / "hello-world", source)
    built = run_cli(px_plugin.cli, "build", str(source), "--format", "json")
    assert built.code == 0, built.err
    assert conforms("px-plugin build", built.out)["release"] == "hello-world@1.1.0"
    packed = run_cli(
        px_plugin.cli, "pack", str(source), "-o", str(tmp_path / "out"), "--format", "json"
    )
    assert packed.code == 0, packed.err
    package = conforms("px-plugin pack", packed.out)["path"]
    assert Path(package).parent == tmp_path / "out"
    made = run_cli(px_plugin.cli, "keygen", "-o", str(tmp_path / "team"), "--format", "json")
    assert made.code == 0, made.err
    key_id = conforms("px-plugin keygen", made.out)["keyId"]
    args = ["sign", package, "--key", str(tmp_path / "team.key"), "--source-commit", "c" * 40]
    signed = run_cli(px_plugin.cli, *args, "--format", "json")
    assert signed.code == 0, signed.err
    assert conforms("px-plugin sign", signed.out)["mode"] == "key"
    args = ["verify", package, "--key", str(tmp_path / "team.pub"), "--format", "json"]
    verified = run_cli(px_plugin.cli, *args)
    assert verified.code == 0, verified.err
    data = conforms("px-plugin verify", verified.out)
    assert data["signer"] == key_id
    assert data["release"] == {"plugin": "hello-world", "version": "1.1.0"}


def test_init_schema_and_promote_print_their_results_as_json(run_cli: Any, tmp_path: Path) -> None:
    made = run_cli(powerx, "init", str(tmp_path / "repo"), "--format", "json")
    assert made.code == 0, made.err
    data = conforms("powerx init", made.out)
    assert data["created"] is True and "policies/gates.yaml" in data["files"]
    written = run_cli(powerx, "schema", "-o", str(tmp_path / "schemas"), "--format", "json")
    assert written.code == 0, written.err
    files = conforms("powerx schema", written.out)["files"]
    assert all(Path(f).is_file() for f in files)
    repo = ["--repo", str(tmp_path / "repo")]
    nothing = run_cli(powerx, "promote", *repo, "--operator", "robot", "--format", "json")
    assert nothing.code == 0, nothing.err
    assert conforms("powerx promote", nothing.out) == {
        "ok": True,
        "landed": [],
        "proposed": [],
        "canaries": [],
        "held": [],
    }


def test_a_promotion_and_its_rollback_as_json(run_cli: Any, release_repo: Repo) -> None:
    from test_promote import publish

    release_repo.git("checkout", "-q", "main")
    publish(release_repo, "1.0.0")
    repo = ["--repo", str(release_repo.path), "--operator", "robot", "--format", "json"]
    promoted = run_cli(powerx, "promote", "hello@1.0.0", "--env", "test", *repo)
    assert promoted.code == 0, promoted.err
    landed = conforms("powerx promote", promoted.out)["landed"]
    assert [(x["plugin"], x["from"], x["to"]) for x in landed] == [("hello", None, "test")]
    assert landed[0]["commit"] == release_repo.head()
    publish(release_repo, "1.1.0")
    run_cli(powerx, "promote", "hello@1.1.0", "--env", "test", *repo)
    rolled = run_cli(powerx, "rollback", "hello", "--env", "test", "--reason", "why", *repo)
    assert rolled.code == 0, rolled.err
    data = conforms("powerx rollback", rolled.out)
    assert (data["from"], data["to"]) == ("1.1.0", "1.0.0")
    assert data["commit"] == release_repo.head()
