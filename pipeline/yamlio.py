"""Safe YAML reading and writing with ruamel.yaml's round-trip mode.

Reading returns plain Python data for validation, a map from every key path to its
line and column (so any later error can name file:line:column), and the round-trip
object, so that our own commits can edit a file and keep its comments and key order.

The reader refuses what a release repo never needs and an attacker might send: files
over a size limit, bytes that are not UTF-8, several documents in one file, duplicate
keys, custom tags, and documents that anchors and aliases blow up ("billion laughs").
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import MaxDepthExceededError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from pipeline.errors import InputError, Location
from pipeline.textio import decode_utf8
from pipeline.yamlfast import RoundTripNeededError, read_fast, too_deep

MAX_YAML_BYTES = 1024 * 1024
"""Largest YAML file we read: manifests and policies are a few kilobytes."""

MAX_NODES = 100_000
"""Largest number of values a document may expand to once aliases are followed."""

MAX_DEPTH = 64
"""Deepest nesting we accept (a self-referencing alias is infinitely deep)."""

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML file: plain data, where each value stands, and the round-trip tree.

    The round-trip tree (for edits that keep comments and order) is parsed on first use:
    most files are only read, and the fast path (`yamlfast`) reads them without it.
    """

    path: str
    data: Any
    positions: dict[KeyPath, tuple[int, int]] = field(repr=False)
    text: str = field(repr=False, compare=False)

    @cached_property
    def tree(self) -> Any:
        """The ruamel round-trip tree of the file."""
        return _load_round_trip(self.text, self.path)

    def locate(self, key_path: KeyPath = ()) -> Location:
        """The location of the deepest part of `key_path` that exists in the file."""
        return _locate(self.path, self.positions, key_path)


def _locate(path: str, positions: dict[KeyPath, tuple[int, int]], key_path: KeyPath) -> Location:
    for end in range(len(key_path), -1, -1):
        position = positions.get(tuple(key_path[:end]))
        if position is not None:
            return Location(path, *position)
    return Location(path)


def _round_trip() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    yaml.preserve_quotes = True
    yaml.max_depth = MAX_DEPTH + 1  # the composer recurses: stop it before Python's limit
    return yaml


def parse_yaml(
    raw: bytes, path: str, *, max_bytes: int = MAX_YAML_BYTES, fast: bool = True
) -> YamlDocument:
    """Parse one YAML document from bytes, refusing anything unsafe or ambiguous.

    With `fast` (the default) libyaml reads what it can answer exactly (`yamlfast`);
    everything else, and every error, goes through ruamel's round-trip parser.
    """
    text = decode_utf8(raw, path, max_bytes=max_bytes)
    if fast:
        try:
            data, positions = read_fast(text, path, max_nodes=MAX_NODES, max_depth=MAX_DEPTH)
            return YamlDocument(path=path, data=data, positions=positions, text=text)
        except RoundTripNeededError:
            pass
    tree = _load_round_trip(text, path)
    slow = _Converter(path)
    data = slow.convert(tree, (), 0)
    document = YamlDocument(path=path, data=data, positions=slow.positions, text=text)
    document.__dict__["tree"] = tree  # already parsed: no second round-trip parse
    return document


def _load_round_trip(text: str, path: str) -> Any:
    """The ruamel round-trip tree of `text`, every parse error as an `InputError`."""
    try:
        tree = _round_trip().load(text)
    except MarkedYAMLError as error:
        raise _marked_error(error, path) from None
    except YAMLError as error:
        raise InputError(f"invalid YAML: {error}", location=Location(path)) from None
    if tree is None:
        raise InputError("file is empty", location=Location(path, 1, 1))
    return tree


def _marked_error(error: MarkedYAMLError, path: str) -> InputError:
    mark = error.problem_mark or error.context_mark
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    problem = " ".join(part for part in (error.context, error.problem) if part)
    problem = problem.replace("\n", " ").strip() or "invalid YAML"
    if isinstance(error, MaxDepthExceededError):
        return too_deep(path, line, column, MAX_DEPTH)
    if "duplicate key" in problem:
        hint = "each key may appear once in a mapping: remove or rename one of them"
    elif "expected a single document" in problem:
        hint = "a file holds exactly one document: remove the extra '---' separators"
    else:
        hint = "fix the YAML syntax at that position"
    return InputError(f"invalid YAML: {problem}", location=Location(path, line, column), hint=hint)


class _Converter:
    """Turns a round-trip tree into plain data, recording positions and a node budget."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.positions: dict[KeyPath, tuple[int, int]] = {(): (1, 1)}
        self.nodes = 0

    def convert(self, node: Any, key_path: KeyPath, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES or depth > MAX_DEPTH:
            raise InputError(
                f"document expands beyond {MAX_NODES:,} values or {MAX_DEPTH} levels",
                location=self._location(key_path),
                hint="this is what an anchor/alias bomb looks like: remove the aliases (*name)",
            )
        if isinstance(node, CommentedMap | CommentedSeq) and node.tag.value is not None:
            raise InputError(
                f"unsupported YAML tag {node.tag.value!r} (custom tags are not allowed)",
                location=self._location(key_path),
                hint="remove the '!' tag: plain mappings and lists need none",
            )
        if isinstance(node, CommentedMap):
            return self._mapping(node, key_path, depth)
        if isinstance(node, CommentedSeq):
            return self._sequence(node, key_path, depth)
        return self._scalar(node, key_path)

    def _mapping(self, node: CommentedMap, key_path: KeyPath, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in node.items():
            if not isinstance(key, str):
                raise InputError(
                    f"mapping keys must be strings, found {type(key).__name__} {key!r}",
                    location=self._location(key_path),
                    hint="quote the key",
                )
            child = (*key_path, key)
            # a key brought in by a merge (<<: *base) has no position of its own here
            position = node.lc.data.get(key) or (node.lc.line, node.lc.col)
            self.positions.setdefault(child, (position[0] + 1, position[1] + 1))
            result[key] = self.convert(value, child, depth + 1)
        return result

    def _sequence(self, node: CommentedSeq, key_path: KeyPath, depth: int) -> list[Any]:
        result = []
        for index, value in enumerate(node):
            child = (*key_path, index)
            position = node.lc.item(index)
            self.positions.setdefault(child, (position[0] + 1, position[1] + 1))
            result.append(self.convert(value, child, depth + 1))
        return result

    def _scalar(self, node: Any, key_path: KeyPath) -> Any:
        if node is None or isinstance(node, bool):
            return node
        if isinstance(node, str):
            return str(node)
        if isinstance(node, int):
            return int(node)
        if isinstance(node, float):
            return float(node)
        if isinstance(node, dt.datetime | dt.date):
            return node
        raise InputError(
            f"unsupported YAML value of type {type(node).__name__} (custom tags are not allowed)",
            location=self._location(key_path),
            hint="use plain strings, numbers, booleans, lists and mappings",
        )

    def _location(self, key_path: KeyPath) -> Location:
        return _locate(self.path, self.positions, key_path)


def dump_yaml(data: Any, *, width: int | None = None) -> str:
    """Serialise data (plain or round-trip) as block-style YAML, keeping comments and order.

    `width`: fold long values beyond this many columns (default: ruamel's 80); a large
    width writes a hand-made file's long lines back unfolded.
    """
    stream = io.StringIO()
    yaml = _round_trip()
    yaml.indent(mapping=2, sequence=4, offset=2)
    if width is not None:
        yaml.width = width
    yaml.dump(_to_round_trip(data), stream)
    return stream.getvalue()


def _to_round_trip(data: Any) -> Any:
    if isinstance(data, CommentedMap | CommentedSeq):
        return data
    if isinstance(data, Mapping):
        return CommentedMap((key, _to_round_trip(value)) for key, value in data.items())
    if isinstance(data, list | tuple):
        return CommentedSeq(_to_round_trip(value) for value in data)
    return data
