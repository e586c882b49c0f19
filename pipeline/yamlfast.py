"""A fast, read-only path for `yamlio.parse_yaml`: libyaml parses, we build as ruamel does.

ruamel.yaml's round-trip parser is pure Python (about 3.5 ms for a release manifest);
libyaml, through PyYAML's C binding, parses the same file in a fraction of that. We read
libyaml's event stream (flat: no recursion, so no depth can crash it) and build plain data
and the line and column of every key and item with a stack of our own, checking depth and
size as we go. Plain scalars are resolved with ruamel's own YAML 1.2 resolver table and
non-string values built by ruamel's own constructors, so the data is what the round-trip
parser gives.

The fast path takes only what it can answer exactly. Anything unusual (an explicit tag, a
merge key, a non-string or duplicate key, an alias inside itself, a directive, several
documents, a parse error, a document deeper or larger than the limits, libyaml missing)
raises `RoundTripNeededError`, and the caller parses with ruamel, which gives the same data
or the same error message as before.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pipeline.errors import InputError, Location

KeyPath = tuple[str | int, ...]
Positions = dict[KeyPath, tuple[int, int]]
_STR_TAG = "tag:yaml.org,2002:str"


class RoundTripNeededError(Exception):
    """This document needs the round-trip parser."""


def too_deep(path: str, line: int | None, column: int | None, max_depth: int) -> InputError:
    """The refusal of a document nested deeper than `max_depth` (both read paths give it)."""
    return InputError(
        f"invalid YAML: nested deeper than {max_depth} levels",
        location=Location(path, line, column),
        hint="no file we read nests this deeply: this one is damaged or hostile",
    )


@cache
def _loader() -> Any:
    """PyYAML's libyaml parser (events only: no constructor or resolver is set up for
    each file), or None where libyaml is missing."""
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML is a dependency
        return None
    if not getattr(yaml, "__with_libyaml__", False):  # pragma: no cover - wheels bundle it
        return None
    from yaml._yaml import CParser

    return CParser


@cache
def _resolvers() -> dict[str | None, list[tuple[str, Any]]]:
    from ruamel.yaml.resolver import VersionedResolver

    table = VersionedResolver(version=(1, 2)).versioned_resolver
    return {key: list(value) for key, value in table.items()}


@cache
def _constructor() -> Any:
    from ruamel.yaml import YAML

    return YAML(typ="rt").constructor


_RESOLVED: dict[str, Any] = {}
"""Plain scalars already resolved, by text: only immutable results (str, int, float, bool,
None), so sharing one is sharing a value. Keys, versions and names repeat across files."""
RESOLVED_KEPT = 65_536
"""Resolved scalars kept before the memo starts afresh."""
_MEMO_MAX_CHARS = 200
"""Longer scalars (descriptions) rarely repeat: not kept."""
_SHARED_TYPES = frozenset({str, int, float, bool, type(None)})
_MISSING = object()


def resolve_plain(value: str) -> Any:
    """A plain scalar as ruamel's YAML 1.2 round-trip loader reads it."""
    found = _RESOLVED.get(value, _MISSING)
    if found is not _MISSING:
        return found
    resolved = _resolve_plain(value)
    if type(resolved) in _SHARED_TYPES and len(value) <= _MEMO_MAX_CHARS:
        if len(_RESOLVED) >= RESOLVED_KEPT:
            _RESOLVED.clear()
        _RESOLVED[value] = resolved
    return resolved


def forget_resolved() -> None:
    """Empty the memo of resolved scalars (a benchmark's cold run starts without it)."""
    _RESOLVED.clear()


def _resolve_plain(value: str) -> Any:
    table = _resolvers()
    for tag, pattern in [*table.get(value[:1], []), *table.get(None, [])]:
        if pattern.match(value):
            return _construct(tag, value)
    return value


def _construct(tag: str, value: str) -> Any:
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


@dataclass
class _Frame:
    """A mapping or sequence being built."""

    value: dict[str, Any] | list[Any]
    key_path: KeyPath
    anchor: str | None
    first_position: int
    """Index into `_Builder.added` where this collection's descendants start."""
    nodes_before: int
    mark: Any
    key: str | None = None
    """In a mapping: the key whose value comes next (None: a key comes next)."""


@dataclass
class _Anchor:
    value: Any
    nodes: int
    positions: list[tuple[KeyPath, tuple[int, int]]]
    """Where the anchored node's descendants stand, relative to it."""
    mark: Any
    """Where the anchored node starts: an alias item of a sequence stands there, for ruamel."""


@dataclass
class _Builder:
    path: str
    max_nodes: int
    max_depth: int
    positions: Positions = field(default_factory=lambda: {(): (1, 1)})
    added: list[tuple[KeyPath, tuple[int, int]]] = field(default_factory=list)
    anchors: dict[str, _Anchor] = field(default_factory=dict)
    stack: list[_Frame] = field(default_factory=list)
    nodes: int = 0
    root: Any = None
    done: bool = False

    def record(self, key_path: KeyPath, mark: Any) -> None:
        if key_path not in self.positions:
            position = (mark.line + 1, mark.column + 1)
            self.positions[key_path] = position
            self.added.append((key_path, position))

    def child_path(self, mark: Any) -> KeyPath:
        """The key path of the value that starts at `mark` (recording where it stands)."""
        if not self.stack:
            return ()
        parent = self.stack[-1]
        if isinstance(parent.value, list):
            child = (*parent.key_path, len(parent.value))
            self.record(child, mark)
            return child
        assert parent.key is not None
        return (*parent.key_path, parent.key)

    def count(self, nodes: int) -> None:
        self.nodes += nodes
        if self.nodes > self.max_nodes or len(self.stack) > self.max_depth:
            raise RoundTripNeededError  # ruamel names the place, as it always did

    def attach(self, value: Any) -> None:
        if not self.stack:
            self.root, self.done = value, True
            return
        parent = self.stack[-1]
        if isinstance(parent.value, list):
            parent.value.append(value)
        else:
            assert parent.key is not None
            parent.value[parent.key], parent.key = value, None

    def scalar(self, event: Any) -> None:
        if event.tag is not None:  # an explicit tag, "!" included
            raise RoundTripNeededError
        value = resolve_plain(event.value) if event.implicit[0] else event.value
        parent = self.stack[-1] if self.stack else None
        if parent is not None and isinstance(parent.value, dict) and parent.key is None:
            if not isinstance(value, str) or value in parent.value or event.anchor:
                raise RoundTripNeededError
            parent.key = value
            self.record((*parent.key_path, value), event.start_mark)
            return
        self.child_path(event.start_mark)
        self.count(1)
        if event.anchor:
            self.anchors[event.anchor] = _Anchor(value, 1, [], event.start_mark)
        self.attach(value)

    def start(self, event: Any, value: dict[str, Any] | list[Any]) -> None:
        if event.tag is not None:
            raise RoundTripNeededError
        self.expect_value()
        key_path = self.child_path(event.start_mark)
        self.count(1)
        frame = _Frame(
            value, key_path, event.anchor, len(self.added), self.nodes - 1, event.start_mark
        )
        self.stack.append(frame)
        if len(self.stack) > self.max_depth:  # refused here: ruamel would scan it all first
            mark = event.start_mark
            raise too_deep(self.path, mark.line + 1, mark.column + 1, self.max_depth)

    def end(self) -> None:
        frame = self.stack.pop()
        if frame.anchor:
            depth = len(frame.key_path)
            relative = [(path[depth:], pos) for path, pos in self.added[frame.first_position :]]
            nodes = self.nodes - frame.nodes_before
            self.anchors[frame.anchor] = _Anchor(frame.value, nodes, relative, frame.mark)
        self.attach(frame.value)

    def alias(self, event: Any) -> None:
        self.expect_value()
        anchor = self.anchors.get(event.anchor)
        if anchor is None:  # an alias of a collection still open refers to itself
            raise RoundTripNeededError
        key_path = self.child_path(anchor.mark)
        self.count(anchor.nodes)
        for relative, position in anchor.positions:
            path = key_path + relative
            if path not in self.positions:
                self.positions[path] = position
                self.added.append((path, position))
        self.attach(copy.deepcopy(anchor.value))

    def expect_value(self) -> None:
        """A collection or alias where a mapping key is due is a complex key: ruamel decides."""
        parent = self.stack[-1] if self.stack else None
        if parent is not None and isinstance(parent.value, dict) and parent.key is None:
            raise RoundTripNeededError


def read_fast(
    text: str, path: str = "<yaml>", *, max_nodes: int, max_depth: int
) -> tuple[Any, Positions]:
    """Plain data and positions of a one-document YAML text, or `RoundTripNeededError`.

    A document nested deeper than `max_depth` is refused here (InputError), where it starts.
    """
    make = _loader()
    if make is None:  # pragma: no cover - PyYAML's wheels bundle libyaml
        raise RoundTripNeededError
    import yaml

    builder = _Builder(path, max_nodes, max_depth)

    def document(event: Any) -> None:
        if builder.done or event.version or event.tags:
            raise RoundTripNeededError  # several documents, or a directive

    handlers: dict[type, Callable[[Any], None]] = {
        yaml.ScalarEvent: builder.scalar,
        yaml.MappingStartEvent: lambda event: builder.start(event, {}),
        yaml.SequenceStartEvent: lambda event: builder.start(event, []),
        yaml.MappingEndEvent: lambda _event: builder.end(),
        yaml.SequenceEndEvent: lambda _event: builder.end(),
        yaml.AliasEvent: builder.alias,
        yaml.DocumentStartEvent: document,
    }
    loader = make(text)
    try:
        while (event := loader.get_event()) is not None:
            handle = handlers.get(type(event))
            if handle is not None:
                handle(event)
    except yaml.MarkedYAMLError as error:
        if "maximum nesting depth" in str(error.problem) and error.problem_mark is not None:
            mark = error.problem_mark  # libyaml >= 0.2.5 stops at its own limit (1,000 levels)
            raise too_deep(path, mark.line + 1, mark.column + 1, max_depth) from None
        raise RoundTripNeededError from None
    except yaml.YAMLError:
        raise RoundTripNeededError from None
    finally:
        loader.dispose()
    if not builder.done:
        raise RoundTripNeededError  # an empty stream: ruamel says so in its words
    return builder.root, builder.positions


def read_plain(text: str, *, max_nodes: int, max_depth: int) -> Any:
    """The plain data of a one-document YAML text, without positions, or
    `RoundTripNeededError`: the lean loop for hot reads where no line number is needed.

    It gives what `read_fast` gives, for less: it takes only plain documents (an anchor,
    an alias, a too deep or too large document and every error raise
    `RoundTripNeededError`, and the caller reads the file with `read_fast` or ruamel, which
    name the place). Scalars, the most frequent events, are handled first; a plain scalar
    seen before is resolved from `_RESOLVED`.
    """
    make = _loader()
    if make is None:  # pragma: no cover - PyYAML's wheels bundle libyaml
        raise RoundTripNeededError
    import yaml

    scalar, mapping, sequence = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent
    ends = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    document_start = yaml.DocumentStartEvent
    alias = yaml.AliasEvent
    resolved = _RESOLVED
    stack: list[Any] = []
    keys: list[str | None] = []
    """Per open collection, in a mapping: the key whose value comes next (None: a key)."""
    root: Any = None
    done, nodes = False, 0
    loader = make(text)
    next_event = loader.get_event
    try:
        while (event := next_event()) is not None:
            kind = type(event)
            if kind is scalar:
                if event.tag is not None or event.anchor is not None:
                    raise RoundTripNeededError
                value = event.value
                if event.implicit[0]:
                    found = resolved.get(value, _MISSING)
                    value = resolve_plain(value) if found is _MISSING else found
                if stack and keys[-1] is None and type(stack[-1]) is dict:
                    if type(value) is not str or value in stack[-1]:
                        raise RoundTripNeededError
                    keys[-1] = value
                    continue
                nodes += 1
            elif kind in ends:
                value = stack.pop()
                keys.pop()
            elif kind is mapping or kind is sequence:
                if event.tag is not None or event.anchor is not None:
                    raise RoundTripNeededError
                if stack and keys[-1] is None and type(stack[-1]) is dict:
                    raise RoundTripNeededError  # a complex key
                nodes += 1
                stack.append({} if kind is mapping else [])
                keys.append(None)
                if len(stack) > max_depth or nodes > max_nodes:
                    raise RoundTripNeededError
                continue
            elif kind is document_start:
                if done or event.version or event.tags:
                    raise RoundTripNeededError
                continue
            elif kind is alias:
                raise RoundTripNeededError
            else:  # stream start and end, document end
                continue
            if nodes > max_nodes:
                raise RoundTripNeededError
            if not stack:
                root, done = value, True
            elif type(stack[-1]) is dict:
                stack[-1][keys[-1]], keys[-1] = value, None
            else:
                stack[-1].append(value)
    except yaml.YAMLError:
        raise RoundTripNeededError from None
    finally:
        loader.dispose()
    if not done:
        raise RoundTripNeededError
    return root
