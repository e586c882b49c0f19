"""The git layer: read, diff, commit and push with pygit2, never through a `git` process.

Everything reads objects straight from the object database at a revision, so a check
or a promotion never needs (or disturbs) a checkout. Writes build trees in memory
from a set of file changes and produce exactly one commit.
"""

from __future__ import annotations

import posixpath
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pygit2
from pygit2.enums import FileMode, FileStatus, ObjectType

from pipeline.errors import GateError, InputError, Location, PowerXError
from pipeline.gitrepo.commit import Commit, ObjectId, Person, entry_id
from pipeline.gitrepo.commit import tree_of as _tree

__all__ = [
    "ChangeSet",
    "ChangedPath",
    "Commit",
    "GitRepo",
    "ObjectId",
    "PathChange",
    "Person",
    "PushConflictError",
    "PushRejectedError",
    "Trailers",
    "compose_message",
    "entry_id",
    "in_repository",
    "init_repository",
    "read_trailers",
]

TRAILER_PREFIX = "PowerX-"
MAX_SYMLINK_HOPS = 8

_MOVED_ON = ("fast-forward", "fastforward", "fetch first", "not present locally", "rejected")
"""Phrases libgit2 uses when a push is refused because the remote branch moved on."""

DEFAULT_AUTHOR = ("PowerX Release", "powerx-release@localhost")

TREE_CACHE_LIMIT = 1 << 20
"""libgit2 keeps no tree over 4 KiB in its object cache by default; our wide folders
(releases/, environments/<env>/plugins/) are far larger and are read again and again."""
pygit2.settings.cache_object_limit(ObjectType.TREE, TREE_CACHE_LIMIT)

FOLDER_WALK_LIMIT = 4096
"""Folder walks a GitRepo remembers (see `_folder_changes`) before it forgets them all."""

ChangeSet = Mapping[str, bytes | None]
"""Repo-relative path -> new content, or None to delete the file."""


@dataclass(frozen=True)
class ChangedPath:
    """A path that differs between two revisions."""

    path: str
    status: str  # "added" | "modified" | "deleted" | "typechange"
    old_path: str | None = None


@dataclass(frozen=True)
class PathChange:
    """A commit that changed one path: the blob before and after (None: absent)."""

    commit: Commit
    before: str | None
    after: str | None


@dataclass(frozen=True)
class Trailers:
    """Structured facts about a commit, written as `PowerX-Key: value` trailers."""

    action: str
    plugin: str | None = None
    version: str | None = None
    environment: str | None = None
    operator: str | None = None
    ci_run: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """The trailer block, one `Key: value` per line, in a fixed order."""
        pairs = [
            ("Action", self.action),
            ("Plugin", self.plugin),
            ("Version", self.version),
            ("Environment", self.environment),
            ("Operator", self.operator),
            ("CI-Run", self.ci_run),
            *self.extra.items(),
        ]
        return [f"{TRAILER_PREFIX}{key}: {value}" for key, value in pairs if value]


def compose_message(subject: str, body: str, trailers: Trailers) -> str:
    """A commit message: subject, optional body, and the trailer block last."""
    parts = [subject.strip()]
    if body.strip():
        parts.append(body.strip())
    parts.append("\n".join(trailers.lines()))
    return "\n\n".join(parts) + "\n"


def read_trailers(message: str) -> dict[str, str]:
    """Our trailers from a commit message, keyed without the `PowerX-` prefix."""
    result: dict[str, str] = {}
    last_paragraph = message.strip().split("\n\n")[-1]
    for line in last_paragraph.splitlines():
        key, sep, value = line.partition(": ")
        if sep and key.startswith(TRAILER_PREFIX):
            result[key[len(TRAILER_PREFIX) :]] = value.strip()
    return result


@dataclass
class _FolderWalk:
    """A first-parent walk from one commit, recording the commits that changed `folder`."""

    folder: str
    next: Commit | None
    """The next commit to look at (None: the walk reached the root, or handed over)."""
    tree: ObjectId | None
    """The folder's tree id at `next`."""
    changes: list[tuple[Commit, Commit | None]] = field(default_factory=list)
    """(commit, first parent) of every change found so far, newest first."""
    tail: _FolderWalk | None = None
    """The walk that started where this one stopped, and goes on from there."""


class PushRejectedError(GateError):
    """The remote kept moving: our commit could not be landed after every retry."""


class PushConflictError(PushRejectedError):
    """Others kept changing the very files we change: a person has to look (exit 1)."""


CONFLICT_ATTEMPTS = 3
"""Rejections by commits that touch our own files, before a push escalates."""


def in_repository(path: Path) -> bool:
    """Whether `path` (an existing folder) lies inside a git repository."""
    return pygit2.discover_repository(str(path)) is not None


def init_repository(path: Path) -> None:
    """Create an empty git repository at `path` whose first branch is main."""
    pygit2.init_repository(str(path), initial_head="main")


class GitRepo:
    """A git repository opened with pygit2; every read names the revision it reads."""

    def __init__(self, path: str | Path) -> None:
        discovered = pygit2.discover_repository(str(path))
        if discovered is None:
            raise InputError(
                f"not a git repository: {path}",
                hint="run inside a release repo, pass --repo DIR, or create one with 'powerx init'",
            )
        try:
            self.repo = pygit2.Repository(discovered)
        except pygit2.GitError as error:  # unreadable, or owned by another user
            raise InputError(
                f"cannot open the git repository {path}: "
                + str(error).removeprefix(f"{discovered}: "),
                hint="check that you may read it; git refuses a repository another user owns "
                "unless git's safe.directory lists it",
            ) from None
        self._trees: dict[tuple[ObjectId, str], pygit2.Tree | None] = {}
        self._walks: dict[tuple[ObjectId, str], _FolderWalk] = {}

    @property
    def root(self) -> Path:
        """The work tree (or the git directory of a bare repository)."""
        return Path(self.repo.workdir or self.repo.path)

    # -- revisions -------------------------------------------------------------------

    def resolve(self, rev: str) -> Commit:
        """The commit `rev` names (a branch, tag, sha or expression such as HEAD~2)."""
        try:
            obj = self.repo.revparse_single(rev)
            commit = obj.peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
            raise InputError(
                f"revision {rev!r} does not exist in {self.root}",
                hint="check the name with 'git log --oneline', or fetch the branch first",
            ) from None
        return commit

    def merge_base(self, a: Commit, b: Commit) -> Commit:
        """The best common ancestor of two commits."""
        oid = self.repo.merge_base(a.id, b.id)
        if oid is None:
            raise InputError(
                f"{a.short_id} and {b.short_id} share no history",
                hint="fetch more history (git fetch --deepen=N or --unshallow)",
            )
        return self.repo[oid].peel(pygit2.Commit)

    def default_branch(self, base_ref: str | None = None) -> str | None:
        """The branch pull requests target: `base_ref` (the CI's), origin/HEAD, main or master."""
        candidates = []
        if base_ref:
            candidates += [f"refs/remotes/origin/{base_ref}", f"refs/heads/{base_ref}"]
        try:
            origin_head = self.repo.references["refs/remotes/origin/HEAD"].resolve()
            candidates.append(origin_head.name)
        except (KeyError, pygit2.GitError):
            pass
        candidates += ["refs/heads/main", "refs/heads/master"]
        for name in candidates:
            if name in self.repo.references:
                return name
        return None

    def ref_commit(self, name: str) -> Commit:
        """The commit reference `name` (a full ref name that exists) points to."""
        return self.repo.references[name].peel(pygit2.Commit)

    def create_tag(self, name: str, commit_id: str, tagger: Person, message: str) -> str:
        """Create the annotated tag refs/tags/`name` on commit `commit_id`; the tag's id."""
        signature = (
            tagger
            if isinstance(tagger, pygit2.Signature)
            else pygit2.Signature(tagger.name, tagger.email)
        )
        oid = self.repo.create_tag(
            name, pygit2.Oid(hex=commit_id), ObjectType.COMMIT, signature, message
        )
        return str(oid)

    # -- reading ---------------------------------------------------------------------

    def tree(self, commit: Commit, path: str = "") -> pygit2.Tree | None:
        """The tree at `path` in `commit`, or None when there is no folder there."""
        key = (commit.id, path)
        if key not in self._trees:
            self._trees[key] = self._lookup_tree(commit, path)
        return self._trees[key]

    def _lookup_tree(self, commit: Commit, path: str) -> pygit2.Tree | None:
        if not path:
            return _tree(commit)
        try:
            entry = _tree(commit)[path]
        except KeyError:
            return None
        return entry if isinstance(entry, pygit2.Tree) else None

    def file_id(self, commit: Commit, path: str) -> ObjectId | None:
        """The blob id of a regular file at `path` (not a link or folder), else None.

        Read from the folder's (cached) tree: no file is opened.
        """
        folder, name = posixpath.split(path)
        tree = self.tree(commit, folder)
        if tree is None or name not in tree:
            return None
        entry = tree[name]
        if entry.filemode not in (FileMode.BLOB, FileMode.BLOB_EXECUTABLE):
            return None
        return entry.id

    def list_dir(self, commit: Commit, path: str) -> list[tuple[str, bool]]:
        """(name, is_folder) of the entries of a folder, or [] when it does not exist."""
        tree = self.tree(commit, path)
        if tree is None:
            return []
        return [(entry.name or "", entry.type == ObjectType.TREE) for entry in tree]

    def read(self, commit: Commit, path: str, *, max_bytes: int) -> bytes | None:
        """A regular file's bytes at `commit`, or None when absent (see `read_blob`)."""
        found = self.read_blob(commit, path, max_bytes=max_bytes)
        return found[1] if found is not None else None

    def read_blob(self, commit: Commit, path: str, *, max_bytes: int) -> tuple[str, bytes] | None:
        """(object id, bytes) of a regular file at `commit`, or None when absent.

        Symbolic links are followed inside the tree; one that points outside the
        repository, or loops, is refused. A file over `max_bytes` is refused unread.
        """
        current = _normalise(path)
        for _hop in range(MAX_SYMLINK_HOPS):
            entry = self._entry(commit, current)
            if entry is None:
                return None
            if entry.filemode == FileMode.LINK:
                target = self.repo[entry.id].read_raw().decode("utf-8", "replace")
                current = _follow_link(path, current, target)
                continue
            if entry.type != ObjectType.BLOB:
                return None
            blob = self.repo[entry.id]
            assert isinstance(blob, pygit2.Blob)
            if blob.size > max_bytes:
                raise InputError(
                    f"file is {blob.size:,} bytes, over the limit of {max_bytes:,}",
                    location=Location(path),
                )
            return str(blob.id), bytes(blob.read_raw())
        raise InputError(
            f"too many symbolic links (more than {MAX_SYMLINK_HOPS})", location=Location(path)
        )

    def _entry(self, commit: Commit, path: str) -> pygit2.Object | None:
        try:
            return _tree(commit)[path]
        except KeyError:
            return None

    def changed_paths(self, base: Commit, head: Commit) -> list[ChangedPath]:
        """Files that differ between two revisions, sorted by path.

        Entries with the same object id are skipped without being opened, so the cost
        follows the folders the change touches, not the size of the repository.
        """
        result: list[ChangedPath] = []
        _diff_trees(_tree(base), _tree(head), "", result)
        return sorted(result, key=lambda change: change.path)

    def path_history(self, start: Commit, path: str) -> Iterator[PathChange]:
        """The commits that changed `path`, newest first, following first parents.

        First parents are the mainline: a merged pull request shows as its merge commit.
        Only the commits that changed the file's folder are opened (see `_folder_changes`),
        so the history of many files of one folder costs about one walk of the mainline.
        """
        after = self._blob_id(start, path)
        for commit, parent in self._folder_changes(start, posixpath.dirname(path)):
            before = self._blob_id(parent, path) if parent is not None else None
            if before != after:
                yield PathChange(commit, before, after)
            after = before  # the folder, so the file, is the same down to the next change

    def _folder_changes(self, start: Commit, folder: str) -> Iterator[tuple[Commit, Commit | None]]:
        """(commit, first parent) for each commit that changed `folder`, newest first.

        The walk is lazy and shared: it is remembered by (start, folder) and goes only as
        far as a caller reads; a walk that reaches a commit where another walk of the
        folder started continues with that one, so a run that commits on top of the tip
        it read re-reads only its own new commits.
        """
        walk = self._folder_walk(start, folder)
        index = 0
        while True:
            if index < len(walk.changes):
                yield walk.changes[index]
                index += 1
            elif walk.tail is not None:
                walk, index = walk.tail, 0
            elif walk.next is None:
                return
            else:
                self._advance(walk)

    def _folder_walk(self, start: Commit, folder: str) -> _FolderWalk:
        key = (start.id, folder)
        walk = self._walks.get(key)
        if walk is None:
            if len(self._walks) >= FOLDER_WALK_LIMIT:
                self._walks.clear()
            walk = _FolderWalk(folder, start, self._tree_id(start, folder))
            self._walks[key] = walk
        return walk

    def _advance(self, walk: _FolderWalk) -> None:
        """Look at one more commit of `walk`, or hand over to a walk that started there."""
        commit = walk.next
        assert commit is not None
        other = self._walks.get((commit.id, walk.folder))
        if other is not None and other is not walk:
            walk.tail, walk.next = other, None
            return
        parent = commit.parents[0] if commit.parents else None
        before = self._tree_id(parent, walk.folder) if parent is not None else None
        if before != walk.tree:
            walk.changes.append((commit, parent))
        walk.next, walk.tree = parent, before

    def _tree_id(self, commit: Commit, folder: str) -> ObjectId | None:
        if not folder:
            return commit.tree_id
        entry = self._entry(commit, folder)
        return entry.id if entry is not None else None

    def _blob_id(self, commit: Commit, path: str) -> str | None:
        entry = self._entry(commit, path)
        return str(entry.id) if entry is not None else None

    def blob(self, blob_id: str) -> bytes:
        """The bytes of a blob by id."""
        obj = self.repo[blob_id]
        assert isinstance(obj, pygit2.Blob)
        return bytes(obj.read_raw())

    def first_parent_walk(self, start: Commit) -> Iterator[Commit]:
        """The mainline from `start` back to the root, newest first."""
        commit: Commit | None = start
        while commit is not None:
            yield commit
            commit = commit.parents[0] if commit.parents else None

    def files(self, commit: Commit, folder: str) -> Iterator[str]:
        """Every file path below `folder` at `commit` (nothing if the folder is absent)."""
        tree = self.tree(commit, folder)
        if tree is None:
            return
        stack = [(folder, tree)]
        while stack:
            prefix, current = stack.pop()
            for entry in current:
                path = f"{prefix}/{entry.name}"
                if isinstance(entry, pygit2.Tree):
                    stack.append((path, entry))
                else:
                    yield path

    def uncommitted(self, folders: tuple[str, ...]) -> list[str]:
        """Work-tree paths under `folders` that differ from HEAD (staged, changed, new), sorted.

        An untracked folder is one entry ending in '/'; ignored files are left out.
        """
        if self.repo.is_bare:
            return []
        prefixes = tuple(f"{folder.rstrip('/')}/" for folder in folders)
        status = self.repo.status(untracked_files="normal")
        return sorted(
            path
            for path, flags in status.items()
            if path.startswith(prefixes) and flags != FileStatus.CURRENT
        )

    # -- writing ---------------------------------------------------------------------

    def signature(self, when: float | None = None) -> pygit2.Signature:
        """Author and committer: git config's user, else PowerX Release."""
        try:
            default = self.repo.default_signature
            name, email = default.name, default.email
        except (KeyError, pygit2.GitError):
            name, email = DEFAULT_AUTHOR
        if when is None:
            return pygit2.Signature(name, email)
        return pygit2.Signature(name, email, int(when), 0)

    def build_tree(self, base: pygit2.Tree | None, changes: ChangeSet) -> ObjectId:
        """A new tree: `base` with `changes` applied; folders left empty disappear."""
        oid = self._build_tree(base, changes)
        return oid if oid is not None else self.repo.TreeBuilder().write()

    def _build_tree(self, base: pygit2.Tree | None, changes: ChangeSet) -> ObjectId | None:
        """`build_tree`, but None (and nothing written) when the tree would be empty."""
        nested: dict[str, dict[str, bytes | None]] = {}
        files: dict[str, bytes | None] = {}
        for path, content in changes.items():
            head, _, rest = _normalise(path).partition("/")
            if rest:
                nested.setdefault(head, {})[rest] = content
            else:
                files[head] = content
        builder = self.repo.TreeBuilder(base) if base is not None else self.repo.TreeBuilder()
        for name, content in files.items():
            if content is None:
                if builder.get(name) is not None:
                    builder.remove(name)
            else:
                builder.insert(name, self.repo.create_blob(content), FileMode.BLOB)
        for name, sub_changes in nested.items():
            existing = builder.get(name)
            subtree = self.repo[existing.id] if existing is not None else None
            oid = self._build_tree(
                subtree if isinstance(subtree, pygit2.Tree) else None, sub_changes
            )
            if oid is None:
                if existing is not None:
                    builder.remove(name)
            else:
                builder.insert(name, oid, FileMode.TREE)
        return builder.write() if len(builder) else None

    def commit(
        self,
        branch: str,
        changes: ChangeSet,
        message: str,
        *,
        parent: Commit | None = None,
        when: float | None = None,
    ) -> Commit:
        """Write one commit of `changes` on `branch` (on top of `parent`, default its tip).

        When `branch` is checked out in a work tree, the changed files are updated there
        too (refusing, before anything is written, if they hold uncommitted edits).
        """
        ref_name = branch if branch.startswith("refs/") else f"refs/heads/{branch}"
        if parent is None and ref_name in self.repo.references:
            parent = self.repo.references[ref_name].peel(pygit2.Commit)
        signature = self.signature(when)
        parents = [parent.id] if parent else []
        try:
            tree_id = self.build_tree(_tree(parent) if parent else None, changes)
            oid = self.repo.create_commit(None, signature, signature, message, tree_id, parents)
        except OSError as error:  # libgit2 could not write an object: names the file, no errno
            raise InputError(
                f"cannot write to the git repository {self.root}: {error}",
                hint="check that you may write its .git folder (permissions, free space)",
            ) from None
        commit = self.repo[oid].peel(pygit2.Commit)
        if self._is_checked_out(ref_name):
            self._update_work_tree(commit, list(changes))
        self.repo.references.create(ref_name, oid, force=True)
        return commit

    def _is_checked_out(self, ref_name: str) -> bool:
        if self.repo.is_bare or self.repo.head_is_detached:
            return False
        try:
            return self.repo.references["HEAD"].resolve().name == ref_name
        except (KeyError, pygit2.GitError):
            return self.repo.references["HEAD"].target == ref_name

    def _update_work_tree(self, commit: Commit, paths: list[str]) -> None:
        try:
            self.repo.checkout_tree(  # type: ignore[no-untyped-call]
                _tree(commit), paths=paths, strategy=pygit2.enums.CheckoutStrategy.SAFE
            )
        except pygit2.GitError as error:
            raise InputError(
                f"uncommitted changes in the work tree would be overwritten: {error}",
                hint="commit or stash your changes to these files, then run again",
            ) from None
        self.repo.index.read()
        for path in paths:
            if (Path(self.root) / path).exists():
                self.repo.index.add(path)
            elif path in self.repo.index:
                self.repo.index.remove(path)
        self.repo.index.write()

    # -- remotes ---------------------------------------------------------------------

    def fetch(self, remote: str, branch: str) -> Commit | None:
        """Fetch `branch` from `remote`; the remote tip, or None if it has no such branch."""
        try:
            self.repo.remotes[remote].fetch(
                [f"+refs/heads/{branch}:refs/remotes/{remote}/{branch}"]
            )
        except (KeyError, pygit2.GitError) as error:
            raise InputError(f"cannot fetch {branch!r} from remote {remote!r}: {error}") from None
        ref = f"refs/remotes/{remote}/{branch}"
        if ref not in self.repo.references:
            return None
        return self.repo.references[ref].peel(pygit2.Commit)

    def fetch_all(self, remote: str) -> None:
        """Fetch every branch of `remote` into refs/remotes/<remote>/."""
        try:
            self.repo.remotes[remote].fetch([f"+refs/heads/*:refs/remotes/{remote}/*"])
        except (KeyError, pygit2.GitError) as error:
            raise InputError(f"cannot fetch from remote {remote!r}: {error}") from None

    def push(self, remote: str, commit: Commit, branch: str, *, expected: ObjectId | None) -> bool:
        """Move `branch` on `remote` from `expected` (None: absent) to `commit`.

        False when the remote branch is no longer at `expected`: someone pushed first.
        Servers reached over a network check this themselves; for a remote that is a
        local path, libgit2 does not, so we do it with a compare-and-swap on the ref.
        """
        url = self.repo.remotes[remote].url or ""
        local = _local_remote_path(url)
        if local is not None:
            return self._push_local(self.root / local, commit, branch, expected)
        return self._push_refspec(remote, f"{commit.id}:refs/heads/{branch}")

    def push_tag(self, remote: str, name: str) -> bool:
        """Create tag `name` (refs/tags/...) on `remote`; False if it exists there already.

        A tag is never moved: a lock tag that exists on the remote, pointing anywhere,
        stays as it is.
        """
        tag = self.repo.references.get(name)
        if tag is None:
            raise InputError(f"no tag {name} to push")
        local = _local_remote_path(self.repo.remotes[remote].url or "")
        if local is None:
            return self._push_refspec(remote, f"{name}:{name}")
        target = pygit2.Repository(str(self.root / local))
        obj = self.repo[tag.target]
        if isinstance(obj, pygit2.Tag):
            self._copy_missing_objects(target, obj.target)
            target.odb.write(obj.type, obj.read_raw())
        else:
            self._copy_missing_objects(target, obj.id)
        try:
            target.references.create(name, tag.target)
        except (pygit2.GitError, ValueError, OSError):  # AlreadyExistsError is a ValueError
            return False
        return True

    def _push_refspec(self, remote: str, refspec: str) -> bool:
        rejections: list[str] = []

        class Callbacks(pygit2.RemoteCallbacks):
            def push_update_reference(self, refname: str, message: str | None) -> None:
                if message:
                    rejections.append(message)

        try:
            self.repo.remotes[remote].push([refspec], callbacks=Callbacks())
        except pygit2.GitError as error:
            if any(phrase in str(error).lower() for phrase in _MOVED_ON):
                return False
            raise PowerXError(f"push to {remote!r} failed: {error}") from None
        return not rejections

    def _push_local(
        self,
        path: Path,
        commit: Commit,
        branch: str,
        expected: ObjectId | None,
    ) -> bool:
        target = pygit2.Repository(str(path))
        self._copy_missing_objects(target, commit.id)
        name = f"refs/heads/{branch}"
        try:
            current = target.references.get(name)
            if expected is None:
                if current is not None:
                    return False
                target.references.create(name, commit.id)
            elif current is None or current.target != expected:
                return False
            else:
                current.set_target(commit.id, "powerx: push")  # fails if it moved meanwhile
        except (pygit2.GitError, ValueError, OSError):
            return False  # moved on, or another pusher holds the ref's lock: retry
        return True

    def _copy_missing_objects(self, target: pygit2.Repository, start: ObjectId) -> None:
        """Write into `target` every object reachable from `start` that it lacks.

        Subtrees and parents the target already has are not descended into, so the
        work is proportional to what changed, not to the size of the repository.
        Objects are written children first: an interrupted copy never leaves an
        object whose children are missing (which a later copy would then skip).
        """
        seen: set[ObjectId] = set()
        stack: list[tuple[ObjectId, bool]] = [(start, False)]
        while stack:
            oid, children_done = stack.pop()
            if children_done:  # post-order: every child is already written
                obj = self.repo[oid]
                target.odb.write(obj.type, obj.read_raw())
                continue
            if oid in seen or target.odb.exists(oid):
                continue
            seen.add(oid)
            stack.append((oid, True))
            obj = self.repo[oid]
            if isinstance(obj, pygit2.Tree):
                stack.extend((e.id, False) for e in obj if e.filemode != FileMode.COMMIT)
            elif isinstance(obj, pygit2.Commit):
                stack.extend((child, False) for child in (obj.tree_id, *obj.parent_ids))

    def commit_and_push(
        self,
        remote: str,
        branch: str,
        make_change: Callable[[Commit | None], tuple[ChangeSet, str]],
        *,
        attempts: int = 12,
        when: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Commit:
        """Land one commit on `remote`'s `branch`, rebasing and retrying when others push first.

        `make_change` gets the remote tip and returns (changes, message): it is called
        again on the new tip after every rejection, so it re-reads the current state
        (and may raise to give up on a real conflict). Nothing is pushed twice.
        """
        conflicts: list[str] = []
        for attempt in range(attempts):
            tip = self.fetch(remote, branch)
            changes, message = make_change(tip)
            commit = self.commit(
                f"refs/powerx/pending/{branch}", changes, message, parent=tip, when=when
            )
            if self.push(remote, commit, branch, expected=tip.id if tip else None):
                self.repo.references.delete(f"refs/powerx/pending/{branch}")
                self.repo.references.create(
                    f"refs/remotes/{remote}/{branch}", commit.id, force=True
                )
                self._fast_forward_local(branch, commit)
                return commit
            conflicts.extend(self._conflicts(remote, branch, tip, set(changes)))
            if len(conflicts) >= CONFLICT_ATTEMPTS:
                self.repo.references.delete(f"refs/powerx/pending/{branch}")
                raise PushConflictError(
                    f"could not push to {remote}/{branch}: in {len(conflicts)} rounds, others "
                    f"changed the same file(s) first ({'; '.join(conflicts[-3:])})",
                    hint="escalate to a person: read the commits above, then run again",
                )
            sleep(min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.5))  # noqa: S311 - jitter
        self.repo.references.delete(f"refs/powerx/pending/{branch}")
        raise PushRejectedError(
            f"could not push to {remote}/{branch}: the remote moved on {attempts} times in a row",
            hint="other runners keep pushing to the same branch: run again in a moment",
        )

    def _conflicts(
        self, remote: str, branch: str, tip: Commit | None, paths: set[str]
    ) -> list[str]:
        """The commits that landed since `tip` and touch `paths`, as 'short-id: paths'.

        Empty when the rejection came from commits on other files (a busy branch).
        """
        new_tip = self.fetch(remote, branch)
        if new_tip is None or tip is None:
            return []
        found = []
        for commit in self.first_parent_walk(new_tip):
            if commit.id == tip.id or not commit.parents:
                break
            touched = {c.path for c in self.changed_paths(commit.parents[0], commit)} & paths
            if touched:
                found.append(f"{str(commit.id)[:12]}: {', '.join(sorted(touched))}")
        return found[:1]  # one round, one conflict: the newest commit that beat us

    def _fast_forward_local(self, branch: str, commit: Commit) -> None:
        ref_name = f"refs/heads/{branch}"
        if ref_name not in self.repo.references:
            self.repo.references.create(ref_name, commit.id)
            return
        local = self.repo.references[ref_name].peel(pygit2.Commit)
        if self.repo.descendant_of(commit.id, local.id):
            if self._is_checked_out(ref_name):
                changed = [c.path for c in self.changed_paths(local, commit)]
                self._update_work_tree(commit, changed)
            self.repo.references.create(ref_name, commit.id, force=True)


def _diff_trees(
    old: pygit2.Tree | None, new: pygit2.Tree | None, prefix: str, out: list[ChangedPath]
) -> None:
    old_entries = {entry.name: entry for entry in old} if old is not None else {}
    new_entries = {entry.name: entry for entry in new} if new is not None else {}
    for name in old_entries.keys() | new_entries.keys():
        before, after = old_entries.get(name), new_entries.get(name)
        unchanged = before is not None and after is not None and before.id == after.id
        if unchanged and before.filemode == after.filemode:  # type: ignore[union-attr]
            continue
        path = f"{prefix}{name}"
        before_tree = before if isinstance(before, pygit2.Tree) else None
        after_tree = after if isinstance(after, pygit2.Tree) else None
        if before_tree is not None or after_tree is not None:
            _diff_trees(before_tree, after_tree, f"{path}/", out)
        before_file = before is not None and before_tree is None
        after_file = after is not None and after_tree is None
        if before_file and after_file:
            assert before is not None and after is not None
            kind = (
                "modified"
                if (before.filemode == FileMode.LINK) == (after.filemode == FileMode.LINK)
                else "typechange"
            )
            out.append(ChangedPath(path, kind))
        elif before_file:
            out.append(ChangedPath(path, "deleted"))
        elif after_file:
            out.append(ChangedPath(path, "added"))


def _local_remote_path(url: str) -> str | None:
    """The folder of a remote given as a path or file:// URL; None for network remotes."""
    if url.startswith("file://"):
        return url[len("file://") :]
    if "://" in url or (":" in url.split("/", 1)[0] and not url.startswith("/")):
        return None
    return url


def _normalise(path: str) -> str:
    """A repo-relative POSIX path with no '.', '..' escapes or leading '/'."""
    if path.startswith("/") or "\\" in path:
        raise InputError(f"path must be relative to the repository: {path!r}")
    normal = posixpath.normpath(path)
    if normal == ".." or normal.startswith("../"):
        raise InputError(f"path escapes the repository: {path!r}")
    return normal


def _follow_link(original: str, link_path: str, target: str) -> str:
    """Resolve a symlink's target relative to the link, refusing escapes."""
    if target.startswith("/"):
        raise InputError(
            f"symbolic link points outside the repository (to {target!r})",
            location=Location(original),
            hint="commit the file itself instead of a link to it",
        )
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(link_path), target))
    if joined == ".." or joined.startswith("../"):
        raise InputError(
            f"symbolic link points outside the repository (to {target!r})",
            location=Location(original),
            hint="commit the file itself instead of a link to it",
        )
    return joined
