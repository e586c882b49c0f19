"""Promotion's shortcuts: what blob ids and commit messages tell without parsing files.

Each answers exactly what the long way would (reading and validating every state file,
walking each file's history, editing a round-trip tree), for the cases it accepts.
"""

from __future__ import annotations

import weakref

from pipeline import layout
from pipeline.gitrepo import Commit, GitRepo, entry_id, read_trailers
from pipeline.snapshot import Snapshot
from pipeline.yamlio import YamlDocument, dump_yaml

_EDITED = ("version", "digest")


def edit_as_written(doc: YamlDocument, version: str, digest: str) -> str | None:
    """The state file with a new version and digest, without a round-trip parse.

    Only for a file exactly as `dump_yaml` writes it (no comment, no quotes, no layout of
    its own) but for the values of those two lines, each a bare `key: value`: then editing
    its round-trip tree gives the very same text. None for any other file (the caller
    edits the round-trip tree).
    """
    data = doc.data
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in _EDITED):
        return None
    edited = dump_yaml({**data, "version": version, "digest": digest})
    new_lines, old_lines = edited.splitlines(True), doc.text.splitlines(True)
    if len(new_lines) != len(old_lines):
        return None
    bare = {f"{k}: {data[k]}\n" for k in _EDITED}  # a quoted value keeps its quotes
    for new, old in zip(new_lines, old_lines, strict=True):
        if new != old and not (old in bare and new.split(":")[0] == old.split(":")[0]):
            return None
    return edited


def state_blob(snapshot: Snapshot, env: str, plugin: str) -> str | None:
    """The blob id of a plugin's state file in `env` when it is a regular file, else None.

    Read from the folder's (cached) tree: no file is opened or parsed.
    """
    return snapshot.git.file_id(snapshot.commit, layout.plugin_state_path(env, plugin))


def same_state(snapshot: Snapshot, source: str, target: str, plugin: str) -> bool:
    """Both environments hold the very same state file: they run the same version."""
    blob = state_blob(snapshot, source, plugin)
    return blob is not None and blob == state_blob(snapshot, target, plugin)


Rollbacks = list[tuple[Commit, dict[str, str]]]
_rollback_index: weakref.WeakKeyDictionary[GitRepo, dict[str, Rollbacks]] = (
    weakref.WeakKeyDictionary()
)


def rollbacks(git: GitRepo, tip: Commit) -> Rollbacks:
    """The rollback commits of the mainline from `tip`, newest first, with their trailers.

    One walk of the commit messages serves every plugin of a run; a walk from a later tip
    stops where an earlier walk started and reuses what it found.
    """
    index = _rollback_index.setdefault(git, {})
    if tip.id in index:
        return index[tip.id]
    found: Rollbacks = []
    for commit in git.first_parent_walk(tip):
        if commit.id in index:
            found += index[commit.id]
            break
        if b"rollback" in commit.raw_message:  # cheap filter before parsing the trailers
            trailers = read_trailers(commit.message)
            if trailers.get("Action") == "rollback":
                found.append((commit, trailers))
    index[tip.id] = found
    return found


def changed(commit: Commit, path: str) -> bool:
    """`commit` changed `path` against its first parent (as `GitRepo.path_history` sees it)."""
    parent = commit.parents[0] if commit.parents else None
    return entry_id(commit, path) != (entry_id(parent, path) if parent is not None else None)
