"""`powerx init`: scaffold a release repo with default policies, environments and CI."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from pipeline.errors import BUG_REPORT_URL, InputError
from pipeline.fsutil import fs_errors, make_dirs
from pipeline.gitrepo import GitRepo, Trailers, compose_message, in_repository, init_repository

SCAFFOLD = "templates/repo"
_RENAMES = {"workflows/": ".github/workflows/"}

CHECK_WORKFLOW = ".github/workflows/powerx-check.yml"
"""The generated workflow that installs the runner (from RUNNER_SOURCE at RUNNER_REF)."""

DEFAULT_RUNNER_SOURCE = BUG_REPORT_URL.removesuffix("/issues/new")
"""This project's canonical git repository: where the generated workflow installs from."""

_COMMIT = re.compile(r"[0-9a-f]{40}")
_SOURCE = re.compile(r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~-]+)+/?")
"""An https git URL without user info, query or fragment, safe inside YAML, a shell and pip."""


@dataclass(frozen=True)
class RunnerPin:
    """Where the generated workflow installs the runner from: a git URL and one commit.

    `ref` None leaves the workflow unpinned: its install step then fails, with a message
    saying what to set, until someone pins it (never an unpinned install).
    """

    source: str = DEFAULT_RUNNER_SOURCE
    ref: str | None = None

    @classmethod
    def parse(cls, source: str | None, ref: str | None) -> RunnerPin:
        """Validate `powerx init --runner-source/--runner-ref` (InputError when unusable)."""
        source = DEFAULT_RUNNER_SOURCE if source is None else source
        if not _SOURCE.fullmatch(source):
            raise InputError(
                "--runner-source is not an https git URL (not echoed: it may hold a token)",
                hint="give the runner's repository as https://HOST/OWNER/REPO "
                "(no user name, token, query or fragment), e.g. " + DEFAULT_RUNNER_SOURCE,
            )
        if ref is not None and not _COMMIT.fullmatch(ref.lower()):
            named = re.fullmatch(r"[A-Za-z0-9._/-]{1,100}", ref) is not None and not _hexish(ref)
            raise InputError(
                f"--runner-ref {ref!r} is not a full 40-hex commit"
                + (" (it looks like a branch or tag name)" if named else ""),
                hint="a branch or a tag can move: pin the exact commit; "
                f"`git ls-remote {source} {ref if named else 'TAG'}` prints the "
                "commit a branch or tag names (for an annotated tag, the line ending in ^{})",
            )
        return cls(source.rstrip("/"), None if ref is None else ref.lower())

    def render(self, workflow: bytes) -> bytes:
        """The check workflow with this pin filled in."""
        text = workflow.decode("utf-8")
        text = text.replace("@@RUNNER_SOURCE@@", self.source)
        return text.replace("@@RUNNER_REF@@", self.ref or "").encode("utf-8")


def _hexish(text: str) -> bool:
    return re.fullmatch(r"[0-9a-fA-F]+", text) is not None


@dataclass(frozen=True)
class InitResult:
    """What `powerx init` did."""

    path: Path
    commit: str
    files: tuple[str, ...]
    created_repo: bool
    runner: RunnerPin


def scaffold_files(runner: RunnerPin | None = None) -> dict[str, bytes]:
    """Repo path -> content of every file a new release repo starts with."""
    result: dict[str, bytes] = {}

    def collect(node: Traversable, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.is_dir():
                collect(child, f"{prefix}{child.name}/")
            elif not child.name.startswith(".") and child.name != "__init__.py":
                result[_target(f"{prefix}{child.name}")] = child.read_bytes()

    collect(files("pipeline").joinpath(SCAFFOLD), "")
    result[CHECK_WORKFLOW] = (runner or RunnerPin()).render(result[CHECK_WORKFLOW])
    return result


def _target(path: str) -> str:
    for source, target in _RENAMES.items():
        if path.startswith(source):
            return target + path[len(source) :]
    return path


def init_repo(
    target: Path, *, runner: RunnerPin | None = None, when: float | None = None
) -> InitResult:
    """Create (or extend) a git repo at `target` with the scaffold, as one commit.

    Refuses, before writing anything, when any scaffold file already exists.
    """
    content = scaffold_files(runner)
    with fs_errors("read", target):
        existing = sorted(path for path in content if (target / path).exists())
    if existing:
        raise InputError(
            f"{target} already has {', '.join(existing[:3])}"
            + (f" and {len(existing) - 3} more" if len(existing) > 3 else ""),
            hint="run 'powerx init' in an empty folder, or move those files away",
        )
    existing_parent = next(p for p in (target.absolute(), *target.absolute().parents) if p.exists())
    created = not in_repository(existing_parent)
    make_dirs(target)
    if created:
        init_repository(target)
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
    return InitResult(
        target, str(commit.id), tuple(sorted(content)), created, runner or RunnerPin()
    )


def _prefix_in_repo(git: GitRepo, target: Path) -> str:
    relative = target.resolve().relative_to(git.root.resolve())
    return "" if str(relative) == "." else f"{relative.as_posix()}/"
