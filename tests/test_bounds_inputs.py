"""Every input is bounded: deep nesting, NaN, NUL bytes and oversized files are refused
quickly with exit 2 and a location (or a plain reason why no line can be given)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.agent.store import PluginStore
from pipeline.bundle.manifest import parse_manifest
from pipeline.cli.plugin import cli
from pipeline.errors import InputError
from pipeline.evidence import parse_coverage
from pipeline.jsonio import MAX_JSON_DEPTH, load_json
from pipeline.yamlio import MAX_DEPTH, parse_yaml

DEEP = 200_000


def _refusal(data: bytes | str, path: str = "f.json", **options: Any) -> InputError:
    with pytest.raises(InputError) as caught:
        load_json(data, path, **options)
    return caught.value


def test_nesting_up_to_the_limit_is_read_and_one_more_level_is_refused_with_its_place() -> None:
    assert load_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH, "ok.json") is not None
    error = _refusal('{"a":\n  ' + "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH + "}")
    assert error.message == "invalid JSON: nested too deeply"
    assert str(error.location) == f"f.json:2:{MAX_JSON_DEPTH + 2}"


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = '{"a": "' + "[{" * 500 + '\\"' + "[" * 500 + '"}'
    assert load_json(text, "f.json") == {"a": "[{" * 500 + '"' + "[" * 500}


@pytest.mark.parametrize(
    "data",
    [b"[" * DEEP + b"]" * DEEP, b'{"a":' * DEEP + b"1" + b"}" * DEEP, b"[" * DEEP],
    ids=["arrays", "objects", "unclosed"],
)
def test_deep_nesting_is_an_input_error_never_a_recursion_error(data: bytes) -> None:
    error = _refusal(data)
    assert error.message == "invalid JSON: nested too deeply"
    assert error.location is not None and error.location.line == 1


@pytest.mark.parametrize(
    ("text", "message", "where"),
    [
        ('{"a": 1,\n "b": NaN}', "invalid JSON: NaN is not a JSON number", "f.json:2:7"),
        ('{"s": "NaN",\n "b": [-Infinity]}', "-Infinity is not a JSON number", "f.json:2:8"),
        ('{"a":\n ' + "9" * 5000 + "}", "Exceeds the limit (4300 digits)", "f.json:2:2"),
        ('{"a": 1,\n "b": }', "invalid JSON: Expecting value", "f.json:2:7"),
    ],
)
def test_values_json_does_not_have_are_refused_with_their_line(
    text: str, message: str, where: str
) -> None:
    error = _refusal(text)
    assert message in error.message
    assert str(error.location) == where


def test_a_nul_byte_is_refused_with_its_line() -> None:
    error = _refusal(b'{"a": 1,\n "b": "x\x00"}')
    assert "NUL byte" in error.message
    assert str(error.location) == "f.json:2:9"
    with pytest.raises(InputError) as caught:
        parse_yaml(b"a: 1\nb: c\x00\n", "f.yaml")
    assert "NUL byte" in caught.value.message and str(caught.value.location) == "f.yaml:2:5"


def test_an_oversized_file_says_why_no_line_is_named() -> None:
    error = _refusal(b"[" + b"1," * 600 + b"1]", max_bytes=1000)
    assert error.message == "file is 1,203 bytes, over the limit of 1,000"
    assert str(error.location) == "f.json"
    assert error.hint is not None and "no line is named" in error.hint


def test_deep_yaml_is_refused_with_its_place_never_a_recursion_error() -> None:
    for text in ("[" * 5000 + "]" * 5000, "- " * 5000 + "x", "{a: " * 3000 + "1"):
        with pytest.raises(InputError) as caught:
            parse_yaml(text.encode(), "deep.yaml")
        assert caught.value.message == f"invalid YAML: nested deeper than {MAX_DEPTH} levels"
        assert caught.value.location is not None and caught.value.location.line == 1


def test_deep_json_in_each_reader_is_an_input_error(tmp_path: Path) -> None:
    deep = b"[" * DEEP + b"]" * DEEP
    with pytest.raises(InputError, match="nested too deeply") as manifest:
        parse_manifest(deep, "bundle.json")
    assert str(manifest.value.location) == f"bundle.json:1:{MAX_JSON_DEPTH + 1}"
    with pytest.raises(InputError, match="nested too deeply"):
        parse_coverage(deep, "coverage.json")
    store = PluginStore(tmp_path / "store")
    store.status_path.parent.mkdir(parents=True, exist_ok=True)
    store.status_path.write_bytes(b'{"plugins": ' + deep + b"}")
    with pytest.raises(InputError, match="status file is not valid: invalid JSON: nested"):
        store.read_status()


def test_deep_yaml_policy_on_the_command_line_is_exit_2_with_its_place(
    tmp_path: Path, run_cli: Any
) -> None:
    (tmp_path / "artifact").write_bytes(b"x")
    policy = tmp_path / "signing.yaml"
    policy.write_text("apiVersion: powerx.io/v1alpha1\nkind: SigningPolicy\nkeys: " + "[" * 9000)
    result = run_cli(cli, "verify", str(tmp_path / "artifact"), "--policy", str(policy))
    assert result.code == 2, result.err
    assert f"{policy}:3:" in result.err and "nested deeper than 64 levels" in result.err
    assert "Traceback" not in result.err
