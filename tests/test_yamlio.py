"""Reading YAML safely: every refusal names the file and, where known, the line."""

from __future__ import annotations

import pytest

from pipeline.errors import InputError, Location
from pipeline.yamlio import MAX_NODES, dump_yaml, parse_yaml


def refuse(raw: bytes, max_bytes: int | None = None) -> InputError:
    with pytest.raises(InputError) as caught:
        if max_bytes is None:
            parse_yaml(raw, "f.yaml")
        else:
            parse_yaml(raw, "f.yaml", max_bytes=max_bytes)
    return caught.value


def test_positions_are_one_based_for_keys_and_items() -> None:
    doc = parse_yaml(b"a: 1\nb:\n  - x: 2\n  - y\n", "f.yaml")
    assert doc.data == {"a": 1, "b": [{"x": 2}, "y"]}
    assert doc.locate(("a",)) == Location("f.yaml", 1, 1)
    assert doc.locate(("b", 0, "x")) == Location("f.yaml", 3, 5)
    assert doc.locate(("b", 1)) == Location("f.yaml", 4, 5)
    assert doc.locate(("b", 7, "missing")) == Location("f.yaml", 2, 1)


def test_malformed_yaml_names_line_and_column() -> None:
    error = refuse(b"a: 1\nb: [1, 2\nc: 3\n")
    assert error.location is not None and error.location.path == "f.yaml"
    assert error.location.line == 3
    assert "invalid YAML" in error.message


def test_duplicate_keys_are_refused() -> None:
    error = refuse(b"name: a\nversion: 1\nname: b\n")
    assert "duplicate key" in error.message
    assert error.location is not None
    assert error.location == Location("f.yaml", 1, 1) or error.location.line in (1, 3)
    assert error.hint and "once" in error.hint


def test_billion_laughs_is_refused_quickly() -> None:
    bomb = b"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for level in "bcdefghi":
        prev = chr(ord(level) - 1)
        bomb += f"{level}: &{level} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n".encode()
    error = refuse(bomb)
    assert f"{MAX_NODES:,}" in error.message
    assert error.hint and "alias" in error.hint


def test_deep_nesting_is_refused() -> None:
    error = refuse(b"a: " + b"[" * 100 + b"]" * 100 + b"\n")
    assert "levels" in error.message


def test_self_referencing_alias_does_not_recurse() -> None:
    assert parse_yaml(b"a: &a [*a]\n", "f.yaml").data == {"a": [None]}


def test_small_aliases_are_fine() -> None:
    doc = parse_yaml(b"base: &b {x: 1}\nother: *b\n", "f.yaml")
    assert doc.data == {"base": {"x": 1}, "other": {"x": 1}}


def test_non_utf8_names_the_line() -> None:
    error = refuse(b"a: 1\nb: caf\xe9\n")
    assert error.location == Location("f.yaml", 2, 7)
    assert "UTF-8" in error.message


def test_size_limit() -> None:
    error = refuse(b"a: " + b"x" * 200 + b"\n", max_bytes=100)
    assert "over the limit of 100" in error.message


def test_empty_and_multi_document_files() -> None:
    assert "empty" in refuse(b"# only a comment\n").message
    error = refuse(b"a: 1\n---\nb: 2\n")
    assert error.hint and "one document" in error.hint


def test_custom_tags_and_non_string_keys() -> None:
    assert "custom tags" in refuse(b"a: !!python/object:os.system {}\n").message
    assert "custom tags" in refuse(b"a: !mytag 5\n").message
    assert "keys must be strings" in refuse(b"1: a\n").message


def test_scalars_become_plain_python() -> None:
    doc = parse_yaml(b"s: 'x'\ni: 0x10\nf: 1.5\nb: yes\nn: ~\nd: 2026-01-02\n", "f.yaml")
    assert doc.data["s"] == "x" and type(doc.data["s"]) is str
    assert doc.data["i"] == 16 and type(doc.data["i"]) is int
    assert doc.data["f"] == 1.5 and type(doc.data["f"]) is float
    assert doc.data["n"] is None
    assert str(doc.data["d"]) == "2026-01-02"


def test_round_trip_keeps_comments_and_order() -> None:
    source = b"# header\nz: 1  # keep me\na:\n  - b\n"
    doc = parse_yaml(source, "f.yaml")
    doc.tree["z"] = 2
    text = dump_yaml(doc.tree)
    assert text == "# header\nz: 2  # keep me\na:\n  - b\n"
    assert dump_yaml({"b": [1, {"c": None}], "a": "x"}) == "b:\n  - 1\n  - c:\na: x\n"
