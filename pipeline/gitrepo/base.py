"""Opening a repository, naming revisions, and who signs our commits."""

from __future__ import annotations

from pathlib import Path

import pygit2
from pygit2.enums import ObjectType

from pipeline.errors import InputError
from pipeline.gitrepo.commit import Commit, Person, raw

DEFAULT_AUTHOR = ("PowerX Release", "powerx-release@localhost")

TREE_CACHE_LIMIT = 1 << 20
"""libgit2 keeps no tree over 4 KiB in its object cache by default; our wide folders
(releases/, environments/<env>/plugins/) are far larger and are read again and again."""
pygit2.settings.cache_object_limit(ObjectType.TREE, TREE_CACHE_LIMIT)


def in_repository(path: Path) -> bool:
    """Whether `path` (an existing folder) lies inside a git repository."""
    return pygit2.discover_repository(str(path)) is not None


def worktree_state(path: Path) -> tuple[str, bool] | None:
    """(HEAD commit, whether files below `path` differ from it) of the repo holding `path`.

    None when `path` is in no repository or the repository has no commit yet. Ignored files
    do not count as changes.
    """
    discovered = pygit2.discover_repository(str(path))
    if discovered is None:
        return None
    repo = pygit2.Repository(discovered)
    if repo.head_is_unborn or repo.workdir is None:
        return None
    head = str(repo.head.target)
    below = Path(path).resolve().relative_to(Path(repo.workdir).resolve()).as_posix()
    prefix = "" if below == "." else below + "/"
    changed = any(
        name.startswith(prefix) and flags != pygit2.enums.FileStatus.IGNORED
        for name, flags in repo.status(untracked_files="all").items()
    )
    return head, changed


def init_repository(path: Path) -> None:
    """Create an empty git repository at `path` whose first branch is main."""
    pygit2.init_repository(str(path), initial_head="main")


class RepoBase:
    """A git repository opened with pygit2: revisions, refs and signatures."""

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

    @property
    def root(self) -> Path:
        """The work tree (or the git directory of a bare repository)."""
        return Path(self.repo.workdir or self.repo.path)

    # -- revisions -------------------------------------------------------------------

    def resolve(self, rev: str) -> Commit:
        """The commit `rev` names (a branch, tag, sha or expression such as HEAD~2)."""
        try:
            obj = self.repo.revparse_single(rev)
            commit = Commit(obj.peel(pygit2.Commit))
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
            raise InputError(
                f"revision {rev!r} does not exist in {self.root}",
                hint="check the name with 'git log --oneline', or fetch the branch first",
            ) from None
        return commit

    def merge_base(self, a: Commit, b: Commit) -> Commit:
        """The best common ancestor of two commits."""
        oid = self.repo.merge_base(raw(a).id, raw(b).id)
        if oid is None:
            raise InputError(
                f"{a.short_id} and {b.short_id} share no history",
                hint="fetch more history (git fetch --deepen=N or --unshallow)",
            )
        return Commit(self.repo[oid].peel(pygit2.Commit))

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
        return Commit(self.repo.references[name].peel(pygit2.Commit))

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
