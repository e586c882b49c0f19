"""Our commit type: what code outside the git layer may know about a commit.

The git layer hands out `Commit`s and takes them back; the pygit2 object inside is
its own business (kept so that going back to it costs nothing). Ids are hex strings.
"""

from __future__ import annotations

from typing import Protocol

import pygit2


class Person(Protocol):
    """Who wrote a commit (or signs a tag)."""

    @property
    def name(self) -> str: ...

    @property
    def email(self) -> str: ...


class Commit:
    """A commit, read-only; equal when the ids are. Fields beyond `id` are read on use."""

    __slots__ = ("_parents", "_raw", "id")

    id: str
    """The full hex object id."""

    def __init__(self, raw: pygit2.Commit) -> None:
        self._raw = raw
        self.id = str(raw.id)
        self._parents: tuple[Commit, ...] | None = None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Commit) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"Commit({self.id[:12]})"

    @property
    def short_id(self) -> str:
        """The abbreviated id, as git shows it."""
        return self._raw.short_id

    @property
    def message(self) -> str:
        """The whole message (subject, body, trailers)."""
        return self._raw.message

    @property
    def raw_message(self) -> bytes:
        """The message as stored, undecoded (cheap to search)."""
        return self._raw.raw_message

    @property
    def commit_time(self) -> int:
        """When it was committed, in seconds since the epoch."""
        return self._raw.commit_time

    @property
    def author(self) -> Person:
        """Who wrote it."""
        return self._raw.author

    @property
    def tree_id(self) -> str:
        """The id of its root tree (equal ids: equal contents)."""
        return str(self._raw.tree_id)

    @property
    def parent_ids(self) -> list[str]:
        """The ids of its parents, first parent first."""
        return [str(oid) for oid in self._raw.parent_ids]

    @property
    def parents(self) -> list[Commit]:
        """Its parents, first parent first (a new list each time; the commits are kept)."""
        return list(self._parent_commits())

    def _parent_commits(self) -> tuple[Commit, ...]:
        if self._parents is None:
            self._parents = tuple(map(Commit, self._raw.parents))
        return self._parents


def raw(commit: Commit) -> pygit2.Commit:
    """The pygit2 commit behind `commit` (inside the git layer only)."""
    return commit._raw


def first_parent(commit: Commit) -> Commit | None:
    """The first parent of `commit`, None for a root commit (no list is built)."""
    parents = commit._parent_commits()
    return parents[0] if parents else None


def tree_of(commit: Commit) -> pygit2.Tree:
    """The root tree of a commit (inside the git layer only)."""
    return commit._raw.tree


def entry_id(commit: Commit, path: str) -> str | None:
    """The object id at `path` in `commit` (file, link or folder), or None when absent."""
    try:
        return str(commit._raw.tree[path].id)
    except KeyError:
        return None
