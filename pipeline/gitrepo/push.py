"""Remotes: fetch, push (a compare-and-swap for local remotes), and landing a commit."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import pygit2
from pygit2.enums import CheckoutStrategy, FileMode

from pipeline.errors import GateError, InputError, PowerXError
from pipeline.gitrepo.commit import Commit, entry_id, raw, tree_of
from pipeline.gitrepo.write import ChangeSet, Writer

_MOVED_ON = ("fast-forward", "fastforward", "fetch first", "not present locally", "rejected")
"""Phrases libgit2 uses when a push is refused because the remote branch moved on."""


class PushRejectedError(GateError):
    """The remote kept moving: our commit could not be landed after every retry."""


class PushConflictError(PushRejectedError):
    """Others kept changing the very files we change: a person has to look (exit 1)."""


CONFLICT_ATTEMPTS = 3
"""Rejections by commits that touch our own files, before a push escalates."""


class Remotes(Writer):
    """Fetching and pushing; `commit_and_push` rebases and retries when others push first."""

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
        return Commit(self.repo.references[ref].peel(pygit2.Commit))

    def fetch_all(self, remote: str) -> None:
        """Fetch every branch of `remote` into refs/remotes/<remote>/."""
        try:
            self.repo.remotes[remote].fetch([f"+refs/heads/*:refs/remotes/{remote}/*"])
        except (KeyError, pygit2.GitError) as error:
            raise InputError(f"cannot fetch from remote {remote!r}: {error}") from None

    def push(self, remote: str, commit: Commit, branch: str, *, expected: str | None) -> bool:
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
        expected: str | None,
    ) -> bool:
        target = pygit2.Repository(str(path))
        self._copy_missing_objects(target, raw(commit).id)
        name = f"refs/heads/{branch}"
        try:
            current = target.references.get(name)
            if expected is None:
                if current is not None:
                    return False
                target.references.create(name, raw(commit).id)
            elif current is None or str(current.target) != expected:
                return False
            else:
                current.set_target(raw(commit).id, "powerx: push")  # fails if it moved meanwhile
        except (pygit2.GitError, ValueError, OSError):
            return False  # moved on, or another pusher holds the ref's lock: retry
        return True

    def _copy_missing_objects(self, target: pygit2.Repository, start: pygit2.Oid) -> None:
        """Write into `target` every object reachable from `start` that it lacks.

        Subtrees and parents the target already has are not descended into, so the
        work is proportional to what changed, not to the size of the repository.
        Objects are written children first: an interrupted copy never leaves an
        object whose children are missing (which a later copy would then skip).
        """
        seen: set[pygit2.Oid] = set()
        stack: list[tuple[pygit2.Oid, bool]] = [(start, False)]
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
        (and may raise to give up on a real conflict). Nothing is pushed twice. Once the
        push landed, the local branch follows when it is behind (`_fast_forward_local`).
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
                    f"refs/remotes/{remote}/{branch}", raw(commit).id, force=True
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
        """Move the local branch (and its work tree) to the landed `commit` when it is behind.

        A fast-forward that was cut short (a killed process) leaves files of a commit on the
        way in the work tree while the branch still points before it: they are taken back
        first, so an interrupted run can be run again. Files a person is editing are kept:
        the branch then stays behind (the remote has the commit; `git pull` brings it).
        """
        ref_name = f"refs/heads/{branch}"
        if ref_name not in self.repo.references:
            self.repo.references.create(ref_name, raw(commit).id)
            return
        local = Commit(self.repo.references[ref_name].peel(pygit2.Commit))
        if not self.repo.descendant_of(raw(commit).id, raw(local).id):
            return
        if self._is_checked_out(ref_name) and not self._follow_in_work_tree(local, commit):
            return  # a person's edits are in the way: kept, and the branch stays behind
        self.repo.references.create(ref_name, raw(commit).id, force=True)

    def _follow_in_work_tree(self, local: Commit, commit: Commit) -> bool:
        """Update the work tree from `local` to `commit`; False if that would lose edits."""
        changed = [c.path for c in self.changed_paths(local, commit)]
        try:
            self._update_work_tree(commit, changed)
            return True
        except InputError:
            leftovers = self._interrupted_fast_forward(local, commit, changed)
        if not leftovers:  # never an empty path list: that would check out every file
            return False
        self.repo.checkout_tree(  # type: ignore[no-untyped-call]
            tree_of(local),
            paths=leftovers,
            strategy=CheckoutStrategy.FORCE | CheckoutStrategy.REMOVE_UNTRACKED,
        )
        self._update_work_tree(commit, changed)
        return True

    def _interrupted_fast_forward(
        self, local: Commit, commit: Commit, paths: list[str]
    ) -> list[str] | None:
        """The `paths` whose work-tree or index content differs from `local` but is that of
        a commit between `local` and `commit` (what a cut-short fast-forward left), or None
        when any of them holds other content (a person's edits)."""
        self.repo.index.read()
        leftovers = []
        for path in paths:
            found = {_work_tree_id(self.root / path), _index_id(self.repo.index, path)}
            expected = entry_id(local, path)
            if found == {expected}:
                continue
            walk = self.repo.walk(raw(commit).id)
            walk.hide(raw(local).id)
            on_the_way = {expected} | {entry_id(Commit(c), path) for c in walk}
            if not found <= on_the_way:
                return None
            leftovers.append(path)
        return leftovers


def _work_tree_id(path: Path) -> str | None:
    """The blob id of a file in the work tree, or None when there is no such file."""
    return str(pygit2.hashfile(str(path))) if path.is_file() else None


def _index_id(index: pygit2.Index, path: str) -> str | None:
    """The blob id staged for `path`, or None when the index has no entry for it."""
    return str(index[path].id) if path in index else None


def _local_remote_path(url: str) -> str | None:
    """The folder of a remote given as a path or file:// URL; None for network remotes."""
    if url.startswith("file://"):
        return url[len("file://") :]
    if "://" in url or (":" in url.split("/", 1)[0] and not url.startswith("/")):
        return None
    return url
