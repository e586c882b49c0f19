"""The audit trail, read from git history: who did what, when, to which plugin and where.

Commits made by the runner carry `PowerX-*` trailers and say what they did. Commits made
by hand are shown too, as `manual`, with what their changed paths say (plugin, version,
environment), so nothing that changed a release, an environment or a policy is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TypeVar

from pipeline import layout
from pipeline.errors import InputError
from pipeline.gitrepo import Commit, GitRepo, read_trailers
from pipeline.models.environment import PluginState
from pipeline.names import require_environment, require_plugin
from pipeline.snapshot import Snapshot

T = TypeVar("T")
_TRACKED = (layout.RELEASES, layout.ENVIRONMENTS, layout.POLICIES)


@dataclass(frozen=True)
class AuditEntry:
    """One commit of the trail."""

    commit: str
    time: datetime
    author: str
    action: str
    plugin: str | None
    version: str | None
    environment: str | None
    operator: str | None
    ci_run: str | None
    summary: str
    manual: bool
    details: dict[str, str]


@dataclass(frozen=True)
class AuditQuery:
    """Which entries to show; every filter is optional."""

    plugin: str | None = None
    environment: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    """Only entries before this time (exclusive)."""
    operator: str | None = None
    action: str | None = None


def audit_trail(git: GitRepo, start: Commit, query: AuditQuery) -> Iterator[AuditEntry]:
    """Entries newest first, along the mainline from `start`, read from the commits now.

    A plugin or environment filter must name one that `start` defines (InputError now,
    before the first entry is asked for). `AuditIndex.trail` answers the same from an index.
    """
    check_query(git, start, query)
    mainline = ((commit_time(commit), commit) for commit in git.first_parent_walk(start))
    return select(mainline, query, lambda commit: commit_entries(git, commit))


def check_query(git: GitRepo, start: Commit, query: AuditQuery) -> None:
    """The query's plugin and environment exist at `start` (InputError if not)."""
    snapshot = Snapshot(git, start)
    if query.plugin is not None:
        require_plugin(snapshot, query.plugin)
    if query.environment is not None:
        require_environment(snapshot, query.environment)


def commit_time(commit: Commit) -> datetime:
    """When `commit` was made (UTC): the time of every entry it brings to the mainline."""
    return datetime.fromtimestamp(commit.commit_time, UTC)


def select(
    mainline: Iterable[tuple[datetime, T]],
    query: AuditQuery,
    entries: Callable[[T], Sequence[AuditEntry]],
) -> Iterator[AuditEntry]:
    """The entries `query` keeps of a mainline given newest first as (time, commit) pairs.

    `entries(commit)` is asked only for commits inside the date range; the walk stops at
    the first commit older than `since`.
    """
    for when, commit in mainline:
        if query.since is not None and when < query.since:
            return
        if query.until is not None and when >= query.until:
            continue
        for entry in entries(commit):
            if matches(entry, query):
                yield entry


def commit_entries(git: GitRepo, commit: Commit) -> list[AuditEntry]:
    """The entries a mainline commit brings: a merged pull request's PowerX commits, else
    the commit's own entry (none when it has no trailers and changed nothing tracked).

    A function of the commit alone (its id names its content and parents), so it may be
    kept by commit id (`AuditIndex`).
    """
    when = commit_time(commit)
    merged = _merged_entries(git, commit, when)
    if merged:
        return merged
    single = _entry(git, commit, when)
    return [single] if single is not None else []


def _merged_entries(git: GitRepo, merge: Commit, when: datetime) -> list[AuditEntry]:
    """A merged pull request's own PowerX commits, dated when the merge made them take effect.

    A merge commit carries no trailers; the promotion or release commits it brings in do.
    Empty when `merge` is not a merge, has trailers itself, or brings no PowerX commit.
    """
    if len(merge.parent_ids) != 2 or "Action" in read_trailers(merge.message):
        return []
    mainline, side = merge.parents
    stop = git.merge_base(mainline, side).id
    entries = []
    for commit in git.first_parent_walk(side):
        if commit.id == stop:
            break
        entry = _entry(git, commit, when)
        if entry is not None and not entry.manual:
            merged = {"Merged-In": merge.short_id, "Merged-By": merge.author.name}
            entries.append(replace(entry, details={**entry.details, **merged}))
    return entries


def matches(entry: AuditEntry, query: AuditQuery) -> bool:
    """`entry` passes the query's plugin, operator, action and environment filters."""
    if (
        query.plugin is not None
        and entry.plugin != query.plugin
        and not _lists_plugin(entry, query.plugin)
    ):
        return False
    if query.operator is not None and entry.operator != query.operator:
        return False
    if query.action is not None and entry.action != query.action:
        return False
    return query.environment is None or entry.environment == query.environment


def _lists_plugin(entry: AuditEntry, plugin: str) -> bool:
    """An offline import names every `plugin@version` it deployed in its Version trailer."""
    if entry.plugin is not None or entry.version is None:
        return False
    return any(part.strip().startswith(f"{plugin}@") for part in entry.version.split(","))


def _entry(git: GitRepo, commit: Commit, when: datetime) -> AuditEntry | None:
    trailers = read_trailers(commit.message)
    summary = commit.message.strip().splitlines()[0] if commit.message.strip() else ""
    author = f"{commit.author.name} <{commit.author.email}>"
    if "Action" in trailers:
        known = {"Action", "Plugin", "Version", "Environment", "Operator", "CI-Run"}
        return AuditEntry(
            commit=str(commit.id),
            time=when,
            author=author,
            action=trailers["Action"],
            plugin=trailers.get("Plugin"),
            version=trailers.get("Version"),
            environment=trailers.get("Environment"),
            operator=trailers.get("Operator"),
            ci_run=trailers.get("CI-Run"),
            summary=summary,
            manual=False,
            details={k: v for k, v in trailers.items() if k not in known},
        )
    paths = _changed(git, commit)
    if not paths:
        return None
    roles = [layout.classify(path) for path in paths]
    plugins = {role.plugin for role in roles if role.plugin}
    envs = {role.environment for role in roles if role.environment}
    versions = {role.version for role in roles if role.version} | _state_versions(
        git, commit, roles
    )
    return AuditEntry(
        commit=str(commit.id),
        time=when,
        author=author,
        action="manual",
        plugin=_single(plugins),
        version=_single(versions),
        environment=_single(envs),
        operator=None,
        ci_run=None,
        summary=summary,
        manual=True,
        details={"paths": ", ".join(paths[:10]) + (" ..." if len(paths) > 10 else "")},
    )


def _state_versions(git: GitRepo, commit: Commit, roles: list[layout.RepoPath]) -> set[str]:
    """Versions that the plugin-state files changed by `commit` now name."""
    snapshot = Snapshot(git, commit)
    versions = set()
    for role in roles:
        if role.kind == "plugin-state":
            try:
                loaded = snapshot.load(role.path, PluginState)
            except InputError:
                continue  # a broken file is still shown, without a version
            if loaded is not None:
                versions.add(loaded.model.version)
    return versions


def _single(values: set[str]) -> str | None:
    return next(iter(values)) if len(values) == 1 else None


def _changed(git: GitRepo, commit: Commit) -> list[str]:
    """Paths under releases/, environments/ or policies/ that `commit` changed."""
    if commit.parents:
        changes = git.changed_paths(commit.parents[0], commit)
        paths = [change.path for change in changes]
    else:
        paths = [path for top in _TRACKED for path in git.files(commit, top)]
    return [path for path in paths if path.split("/", 1)[0] in _TRACKED]
