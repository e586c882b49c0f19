"""The fast YAML path gives exactly what the round-trip parser gives, or hands over to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import yamlfast
from pipeline.errors import InputError
from pipeline.yamlio import YamlDocument, parse_yaml

PROJECT = Path(__file__).resolve().parents[1]
REPO_YAML = sorted(
    path
    for folder in ("releases", "environments", "policies", "examples", "pipeline/templates")
    for path in (PROJECT / folder).rglob("*")
    if path.suffix in {".yaml", ".yml"} and path.is_file()
)

TRICKY = [
    "a: 1\nb: 1.5\nc: true\nd: ~\ne:\nf: 2026-01-02\ng: 2026-01-02T03:04:05Z\n",
    "ints: [0x1F, 0o17, 0777, 1_000, -3, +4, 0b101]\n",
    "floats: [1e3, .5, -.inf, .NaN, 1.0e+3, 6.02_0]\n",
    "yaml11: [yes, no, on, off, y, n, Yes, NO]\n",
    "versions: [1.0, 1.0.0, 1.10, '1.10', v1]\n",
    "block: |\n  line one\n  line two\nfolded: >-\n  a\n  b\n",
    "quoted: ['true', \"1\", '~', '', \"null\"]\n",
    "anchors:\n  base: &b {x: 1}\n  copy: *b\n",
    "merge:\n  base: &b {x: 1}\n  derived:\n    <<: *b\n    y: 2\n",
    "dup: 1\ndup: 2\n",
    "tagged: !custom value\n",
    "std: !!str 123\n",
    "? [complex]\n: key\n",
    "1: integer key\n",
    "%YAML 1.1\n---\na: yes\n",
    "first: 1\n---\nsecond: 2\n",
    "",
    "# only a comment\n",
    "a: [unclosed\n",
    "a:\n\t- tab\n",
    "list:\n  - a\n  -   b\n  - - nested\n    - deeper\n  - {k: v}\n",
    "empty_map: {}\nempty_list: []\nnulls: [null, Null, NULL, ~]\n",
    "bools: [true, True, TRUE, false, False, FALSE]\n",
    "weird: [=, '<<', 12:30:00, 1:20]\n",
    "k: v # comment\n# trailing\n",
    "items: [&a x, *a, &m {k: [1, 2]}, *m]\n",
    "- &m {k: v, l: [a, b]}\n- *m\n- {copy: *m}\n",
    "&k key: v\n",
    "? &c [x]\n: v\n",
    "a: !!str 5\nb: ! x\n",
    "just a scalar\n",
    "a: 1\n...\n",
    'unicode: "\\u00e9\\U0001F600"\nplain: é\n',
]


def _outcome(raw: bytes, fast: bool) -> tuple[str, object, object]:
    try:
        document = parse_yaml(raw, "f.yaml", fast=fast)
    except InputError as error:
        return ("error", error.diagnostics(), None)
    return ("ok", document.data, document.positions)


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_documents_read_the_same_both_ways(text: str) -> None:
    assert _outcome(text.encode(), fast=True) == _outcome(text.encode(), fast=False)


@pytest.mark.parametrize("path", REPO_YAML, ids=lambda path: str(path.relative_to(PROJECT)))
def test_every_yaml_file_of_the_project_reads_the_same_both_ways(path: Path) -> None:
    raw = path.read_bytes()
    assert _outcome(raw, fast=True) == _outcome(raw, fast=False)


def test_the_project_has_yaml_files_to_compare() -> None:
    assert len(REPO_YAML) >= 20


def test_plain_files_take_the_fast_path_and_unusual_ones_hand_over() -> None:
    data, positions = yamlfast.read_fast("a: [1, x]\n", max_nodes=99, max_depth=9)
    assert data == {"a": [1, "x"]} and positions[("a", 1)] == (1, 8)
    for text in ("%YAML 1.1\n---\na: 1\n", "a: [\n", "", "a: 1\n---\nb: 2\n", "a: !t x\n"):
        with pytest.raises(yamlfast.RoundTripNeededError):
            yamlfast.read_fast(text, max_nodes=99, max_depth=9)


@pytest.mark.parametrize("text", ["[" * 500_000, "- " * 300_000 + "x", "{a: " * 200_000 + "1"])
def test_a_document_too_deep_for_any_stack_is_refused_not_crashed(text: str) -> None:
    with pytest.raises(InputError, match="nested deeper than 64 levels") as fast:
        yamlfast.read_fast(text, "deep.yaml", max_nodes=100_000, max_depth=64)
    assert fast.value.location is not None and fast.value.location.line == 1
    with pytest.raises(InputError, match="nested deeper than 64 levels"):
        parse_yaml(text.encode(), "deep.yaml")


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100 + "]" * 100 + "\n",
        "- " * 80 + "x\n",
        "{a: " * 70 + "1" + "}" * 70 + "\n",
        "a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 80)) + "  " * 80 + "v\n",
    ],
)
def test_too_deep_is_one_message_on_both_paths(text: str) -> None:
    refusals = []
    for fast in (True, False):
        with pytest.raises(InputError) as caught:
            parse_yaml(text.encode(), "deep.yaml", fast=fast)
        refusals.append(caught.value)
    assert (
        refusals[0].message == refusals[1].message == "invalid YAML: nested deeper than 64 levels"
    )
    assert refusals[0].hint == refusals[1].hint
    first, second = (refusal.location for refusal in refusals)
    assert first is not None and second is not None and first.line == second.line


def test_the_round_trip_tree_is_parsed_on_first_use_and_keeps_comments() -> None:
    document = parse_yaml(b"a: 1  # keep me\nb: [x]\n", "f.yaml")
    assert "tree" not in document.__dict__
    tree = document.tree
    assert tree["a"] == 1
    assert document.tree is tree
    assert isinstance(document, YamlDocument)


def test_a_merge_key_reads_with_the_position_of_its_mapping() -> None:
    document = parse_yaml(b"base: &b {x: 1}\nderived:\n  <<: *b\n  y: 2\n", "m.yaml")
    assert document.data["derived"] == {"x": 1, "y": 2}
    assert document.locate(("derived", "y")).line == 4


def test_a_self_referencing_alias_hands_over_to_the_round_trip_parser() -> None:
    with pytest.raises(yamlfast.RoundTripNeededError):
        yamlfast.read_fast("self: &a [*a]\n", max_nodes=99, max_depth=9)
    assert parse_yaml(b"self: &a [*a]\n", "loop.yaml").data == {"self": [None]}


def test_an_alias_bomb_is_refused_on_the_fast_path_with_its_location() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        previous = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([previous] * 10)}]")
    raw = ("\n".join(lines) + "\n").encode()
    with pytest.raises(InputError, match="expands beyond") as fast_error:
        parse_yaml(raw, "bomb.yaml")
    with pytest.raises(InputError, match="expands beyond") as slow_error:
        parse_yaml(raw, "bomb.yaml", fast=False)
    assert fast_error.value.diagnostics() == slow_error.value.diagnostics()
