"""Go coverage profiles (`go test -coverprofile`): statement coverage, read as Go reads it.

The first line is `mode: set|count|atomic`; every other line is one block,
`file:startLine.startCol,endLine.endCol statements count`. A profile merged from several
test binaries (`-coverpkg`) repeats a block once per binary, so identical blocks are
counted once and are covered when any of them ran, as `go tool cover` merges them. The
figure is Go's own: statements in covered blocks over all statements.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.errors import InputError, Location

MODES = ("set", "count", "atomic")
"""The counting modes `go test -covermode` writes."""

_MODE = re.compile(r"mode:\s*(\S*)\s*")
_BLOCK = re.compile(
    r"(?P<block>.+:[0-9]{1,9}\.[0-9]{1,9},[0-9]{1,9}\.[0-9]{1,9}) (?P<statements>[0-9]{1,9})"
    r" (?P<count>[0-9]{1,20})"
)
_HINT = "produce the profile again with `go test -coverprofile=FILE`; do not edit it by hand"


def looks_like_coverprofile(text: str) -> bool:
    """Whether `text` starts like a Go coverage profile (its `mode:` line)."""
    return text.lstrip().startswith("mode:")


@dataclass(slots=True)
class _Block:
    statements: int
    covered: bool
    line: int


def statement_totals(text: str, path: str) -> tuple[int, int]:
    """(covered statements, all statements) of a Go coverage profile, blocks de-duplicated."""
    lines = text.splitlines()
    first = next(index for index, line in enumerate(lines) if line.strip())
    mode = _MODE.fullmatch(lines[first].strip())
    if mode is None or mode.group(1) not in MODES:
        found = mode.group(1) if mode else lines[first].strip()[:60]
        raise InputError(
            f"invalid Go coverage profile: mode {found!r}, expected one of {', '.join(MODES)}",
            location=Location(path, first + 1),
            hint=_HINT,
        )
    blocks: dict[str, _Block] = {}
    for number, line in enumerate(lines[first + 1 :], start=first + 2):
        if not line.strip():
            continue
        match = _BLOCK.fullmatch(line.strip())
        if match is None:
            raise InputError(
                f"invalid Go coverage profile: not a block line: {line.strip()[:60]!r}",
                location=Location(path, number),
                hint="each line after `mode:` is `file:line.col,line.col statements count`; "
                + _HINT,
            )
        statements, covered = int(match["statements"]), int(match["count"]) > 0
        block = blocks.get(match["block"])
        if block is None:
            blocks[match["block"]] = _Block(statements, covered, number)
        elif block.statements != statements:
            raise InputError(
                f"invalid Go coverage profile: block {match['block']} has {statements}"
                f" statements here but {block.statements} on line {block.line}",
                location=Location(path, number),
                hint="the profile merges runs of different sources: " + _HINT,
            )
        else:
            block.covered = block.covered or covered
    covered_total = sum(block.statements for block in blocks.values() if block.covered)
    return covered_total, sum(block.statements for block in blocks.values())
