"""A fast, read-only path for `yamlio.parse_yaml`: libyaml composes, we resolve as ruamel does.

ruamel.yaml's round-trip parser is pure Python (about 3.5 ms for a release manifest);
libyaml, through PyYAML's C binding, composes the same file in about 0.1 ms. The node
graph libyaml returns carries every key's and item's line and column, which is all that
`yamlio` records. Plain scalars are resolved with ruamel's own YAML 1.2 resolver table and
non-string values built by ruamel's own constructor, so the data is what the round-trip
parser gives.

The fast path takes only what it can answer exactly. Anything unusual (an explicit tag, a
merge key, a non-string or duplicate key, an alias inside itself, a `%` directive, several
documents, a parse error, libyaml missing) raises `RoundTripNeededError`, and the caller
parses with ruamel, which gives the same data or the same error message as before. A node
budget and a depth limit refuse alias bombs the same way, since an alias is the same node
object met again.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from pipeline.errors import InputError, Location

KeyPath = tuple[str | int, ...]
_EXPLICIT_TAG = re.compile(r"(?:&\S+\s+)?!")
_STR_TAG = "tag:yaml.org,2002:str"


class RoundTripNeededError(Exception):
    """This document needs the round-trip parser."""


@cache
def _loader() -> Any:
    """A libyaml loader that resolves no plain scalar (we do that) or None without libyaml."""
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML is a dependency
        return None
    if not getattr(yaml, "__with_libyaml__", False):  # pragma: no cover - wheels bundle it
        return None

    tags = {
        yaml.ScalarNode: _STR_TAG,
        yaml.SequenceNode: "tag:yaml.org,2002:seq",
        yaml.MappingNode: "tag:yaml.org,2002:map",
    }

    class _PlainLoader(yaml.CSafeLoader):
        def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
            return tags[kind]  # every untagged node gets its default tag; we resolve scalars

    return _PlainLoader


@cache
def _resolvers() -> dict[str | None, list[tuple[str, re.Pattern[str]]]]:
    from ruamel.yaml.resolver import VersionedResolver

    table = VersionedResolver(version=(1, 2)).versioned_resolver
    return {key: list(value) for key, value in table.items()}


@cache
def _constructor() -> Any:
    from ruamel.yaml import YAML

    return YAML(typ="rt").constructor


def compose(text: str) -> Any:
    """The libyaml node graph of `text`; raises `RoundTripNeededError` where ruamel must decide."""
    loader = _loader()
    if loader is None or text.lstrip().startswith("%"):
        raise RoundTripNeededError
    import yaml

    try:
        node = yaml.compose(text, Loader=loader)
    except (yaml.YAMLError, RecursionError):
        raise RoundTripNeededError from None
    if node is None:
        raise RoundTripNeededError
    return node


class FastConverter:
    """Turns a libyaml node graph into plain data and positions, like `yamlio._Converter`."""

    def __init__(self, path: str, text: str, *, max_nodes: int, max_depth: int) -> None:
        self.path = path
        self.text = text
        self.max_nodes = max_nodes
        self.max_depth = max_depth
        self.positions: dict[KeyPath, tuple[int, int]] = {(): (1, 1)}
        self.nodes = 0
        self.open: set[int] = set()  # collections being converted: one met again is a cycle

    def convert(self, node: Any, key_path: KeyPath, depth: int) -> Any:
        """Plain data for `node`; `RoundTripNeededError` for what only ruamel may answer."""
        self.nodes += 1
        if self.nodes > self.max_nodes or depth > self.max_depth:
            raise InputError(
                f"document expands beyond {self.max_nodes:,} values or {self.max_depth} levels",
                location=self._location(key_path),
                hint="this is what an anchor/alias bomb looks like: remove the aliases (*name)",
            )
        if _EXPLICIT_TAG.match(self.text, node.start_mark.index):
            raise RoundTripNeededError
        if node.id == "scalar":
            return self._scalar(node)
        if id(node) in self.open:
            raise RoundTripNeededError  # a self-referencing alias: ruamel reads it as null
        self.open.add(id(node))
        try:
            if node.id == "mapping":
                return self._mapping(node, key_path, depth)
            return self._sequence(node, key_path, depth)
        finally:
            self.open.discard(id(node))

    def _mapping(self, node: Any, key_path: KeyPath, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.id != "scalar" or _EXPLICIT_TAG.match(self.text, key_node.start_mark.index):
                raise RoundTripNeededError
            key = self._scalar(key_node)
            if not isinstance(key, str) or key in result:
                raise RoundTripNeededError
            child = (*key_path, key)
            mark = key_node.start_mark
            self.positions.setdefault(child, (mark.line + 1, mark.column + 1))
            result[key] = self.convert(value_node, child, depth + 1)
        return result

    def _sequence(self, node: Any, key_path: KeyPath, depth: int) -> list[Any]:
        result = []
        for index, item in enumerate(node.value):
            child = (*key_path, index)
            mark = item.start_mark
            self.positions.setdefault(child, (mark.line + 1, mark.column + 1))
            result.append(self.convert(item, child, depth + 1))
        return result

    def _scalar(self, node: Any) -> Any:
        value: str = node.value
        if node.style or node.tag != _STR_TAG:
            return value  # quoted or block scalars are strings; other tags fell back above
        table = _resolvers()
        for tag, pattern in [*table.get(value[:1], []), *table.get(None, [])]:
            if pattern.match(value):
                return self._construct(tag, value)
        return value

    def _construct(self, tag: str, value: str) -> Any:
        if tag == _STR_TAG:
            return value
        if tag.endswith((":merge", ":value", ":yaml")):
            raise RoundTripNeededError
        from ruamel.yaml.nodes import ScalarNode

        constructor = _constructor()
        build = constructor.yaml_constructors.get(tag)
        if build is None:  # pragma: no cover - every resolver tag has a constructor
            raise RoundTripNeededError
        built = build(constructor, ScalarNode(tag, value))
        if isinstance(built, bool) or built is None:
            return built
        if isinstance(built, int):
            return int(built)
        if isinstance(built, float):
            return float(built)
        return built

    def _location(self, key_path: KeyPath) -> Location:
        for end in range(len(key_path), -1, -1):
            position = self.positions.get(tuple(key_path[:end]))
            if position is not None:
                return Location(self.path, *position)
        return Location(self.path)  # pragma: no cover - the root always has a position
