"""Our commit type: what code outside the git layer may know about a commit.

`Commit` is a protocol that pygit2's commits satisfy as they are, so handing one out
costs nothing; modules outside `pipeline.gitrepo` name this type, never pygit2's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, cast

import pygit2

ObjectId = pygit2.Oid
"""A git object id (compare, hash, or `str()` it for the hex form)."""


class Person(Protocol):
    """Who wrote a commit."""

    @property
    def name(self) -> str: ...

    @property
    def email(self) -> str: ...


class Commit(Protocol):
    """A commit as the rest of the pipeline sees it (read-only)."""

    @property
    def id(self) -> ObjectId: ...

    @property
    def short_id(self) -> str: ...

    @property
    def message(self) -> str: ...

    @property
    def raw_message(self) -> bytes: ...

    @property
    def commit_time(self) -> int: ...

    @property
    def author(self) -> Person: ...

    @property
    def parents(self) -> Sequence[Commit]: ...

    @property
    def parent_ids(self) -> Sequence[ObjectId]: ...

    @property
    def tree_id(self) -> ObjectId: ...


def tree_of(commit: Commit) -> pygit2.Tree:
    """The root tree of a commit (inside the git layer only)."""
    return cast(pygit2.Commit, commit).tree


def entry_id(commit: Commit, path: str) -> ObjectId | None:
    """The object id at `path` in `commit` (file, link or folder), or None when absent."""
    try:
        return tree_of(commit)[path].id
    except KeyError:
        return None
