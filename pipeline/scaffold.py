"""`powerx init`: scaffold a release repo with default policies, environments and CI."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import pygit2

from pipeline.errors import InputError
from pipeline.fsutil import fs_errors, make_dirs
from pipeline.gitrepo import GitRepo, Trailers, compose_message

SCAFFOLD = "templates/repo"
_RENAMES = {"workflows/": ".github/workflows/"}


@dataclass(frozen=True)
class InitResult:
    """What `powerx init` did."""

    path: Path
    commit: str
    files: tuple[str, ...]
    created_repo: bool


def scaffold_files() -> dict[str, bytes]:
    """Repo path -> content of every file a new release repo starts with."""
    result: dict[str, bytes] = {}

    def collect(node: Traversable, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.is_dir():
                collect(child, f"{prefix}{child.name}/")
            elif not child.name.startswith(".") and child.name != "__init__.py":
                result[_target(f"{prefix}{child.name}")] = child.read_bytes()

    collect(files("pipeline").joinpath(SCAFFOLD), "")
    return result


def _target(path: str) -> str:
    for source, target in _RENAMES.items():
        if path.startswith(source):
            return target + path[len(source) :]
    return path


def init_repo(target: Path, *, when: float | None = None) -> InitResult:
    """Create (or extend) a git repo at `target` with the scaffold, as one commit.

    Refuses, before writing anything, when any scaffold file already exists.
    """
    content = scaffold_files()
    with fs_errors("read", target):
        existing = sorted(path for path in content if (target / path).exists())
    if existing:
        raise InputError(
            f"{target} already has {', '.join(existing[:3])}"
            + (f" and {len(existing) - 3} more" if len(existing) > 3 else ""),
            hint="run 'powerx init' in an empty folder, or move those files away",
        )
    existing_parent = next(p for p in (target.absolute(), *target.absolute().parents) if p.exists())
    created = pygit2.discover_repository(str(existing_parent)) is None
    make_dirs(target)
    if created:
        pygit2.init_repository(str(target), initial_head="main")
    git = GitRepo(target)
    prefix = _prefix_in_repo(git, target)
    changes: dict[str, bytes | None] = {prefix + path: data for path, data in content.items()}
    message = compose_message(
        "powerx init: scaffold release repository",
        "Default policies (coverage >= 90%, all tests pass, no high findings, licence\n"
        "allow-list, test -> staging -> prod), three environments and a check workflow.",
        Trailers(action="init"),
    )
    head = "HEAD"
    branch = git.repo.references[head].target if git.repo.head_is_unborn else git.repo.head.name
    commit = git.commit(str(branch), changes, message, when=when)
    return InitResult(target, str(commit.id), tuple(sorted(content)), created)


def _prefix_in_repo(git: GitRepo, target: Path) -> str:
    relative = target.resolve().relative_to(git.root.resolve())
    return "" if str(relative) == "." else f"{relative.as_posix()}/"
