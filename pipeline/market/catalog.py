"""`px-market catalog sync`: list every approved version in `catalog/`, as one commit.

From the repo at the branch tip, every plugin whose review records hold approved versions
gets a page (`catalog/plugins/<plugin>.json`: each version with its host range, release
record link, artifact digest, verified signer, deprecation and upgrade path; the listing's
visibility, promotion tags and trial/purchase availability) and an entry in
`catalog/index.json`. The files are committed as one commit (trailers `PowerX-Action:
catalog`), nothing when they are unchanged; the result names what subscribers hear about
(`CatalogChange`): listing.created for a plugin's first listed version, version.published
for later ones, permissions.widened when a review records widened permissions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from pipeline.errors import InputError
from pipeline.gitrepo import ChangeSet, Commit, GitRepo, Trailers, compose_message
from pipeline.market.catalog_build import INDEX_PATH, page_path
from pipeline.market.catalog_files import MAX_INDEX_BYTES, index_bytes, read_index
from pipeline.market.catalog_parallel import build_catalog_pages
from pipeline.market.changes import CatalogChange
from pipeline.market.records import reviewed_plugins
from pipeline.models.base import API_VERSION
from pipeline.models.catalog import CatalogIndex, IndexEntry
from pipeline.models.market import MarketEvent
from pipeline.models.semver import Version
from pipeline.snapshot import Snapshot

ACTION = "catalog"
"""The commit's PowerX-Action."""
MAX_TRAILER_CHANGES = 20
EMPTY_INDEX = CatalogIndex(api_version=API_VERSION, kind="CatalogIndex")


@dataclass(frozen=True)
class SyncRequest:
    """Sync the catalog of `git` on `branch` (pushed to `remote` when given)."""

    git: GitRepo
    branch: str = "main"
    remote: str | None = None
    operator: str | None = None
    ci_run: str | None = None
    now: datetime | None = None
    """The clock signatures are verified at (default: now)."""
    when: float | None = None
    """The commit's time (default: now)."""
    rebuild: bool = False
    """Rebuild every page, whatever its sources."""


@dataclass(frozen=True)
class CatalogPlan:
    """What a sync would write on top of one revision."""

    base: str
    files: dict[str, bytes | None]
    changes: list[CatalogChange]
    listed: int
    rebuilt: list[str]
    removed: list[str]
    problems: list[str]


@dataclass(frozen=True)
class SyncResult:
    """A sync: its commit (None when the catalog was already up to date) and what changed."""

    commit: str | None
    base: str
    changes: list[CatalogChange] = field(default_factory=list)
    listed: int = 0
    rebuilt: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def plan_catalog(snapshot: Snapshot, *, now: datetime, rebuild: bool = False) -> CatalogPlan:
    """The catalog files that differ at `snapshot`, and the changes they list."""
    problems: list[str] = []
    try:
        old = read_index(snapshot) or EMPTY_INDEX
    except InputError as error:
        problems.append(f"{INDEX_PATH}: {error.message}; every page is rebuilt")
        old = EMPTY_INDEX
    previous = {} if rebuild else {entry.plugin: entry for entry in old.listings}
    build = build_catalog_pages(snapshot, reviewed_plugins(snapshot), previous, now=now)
    files: dict[str, bytes | None] = {}
    for plugin, data in build.pages.items():
        _put(snapshot, files, page_path(plugin), data)
    removed = sorted({e.plugin for e in old.listings} - set(build.entries))
    for plugin in removed:
        files[page_path(plugin)] = None
    _put(snapshot, files, INDEX_PATH, index_bytes(build.entries.values()))
    return CatalogPlan(
        base=snapshot.commit.id,
        files=files,
        changes=catalog_changes(old.listings, build.entries, build.widened),
        listed=len(build.entries),
        rebuilt=sorted(build.pages),
        removed=removed,
        problems=problems + build.problems,
    )


def _put(snapshot: Snapshot, files: dict[str, bytes | None], path: str, data: bytes) -> None:
    """Write `path` only when its bytes differ from the revision's."""
    if snapshot.blob_id(path) == git_blob_id(data):
        return
    try:
        same = snapshot.read(path, max_bytes=MAX_INDEX_BYTES) == data
    except InputError:  # larger than any catalog file may be: replaced
        same = False
    if not same:
        files[path] = data


def git_blob_id(data: bytes) -> str:
    """The id git gives these bytes as a blob (SHA-1 object format)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def catalog_changes(
    old: list[IndexEntry],
    new: dict[str, IndexEntry],
    widened_by_page: Mapping[str, Mapping[str, list[str]]],
) -> list[CatalogChange]:
    """New listings, new versions and widened permissions (`widened_by_page`: per rebuilt
    page, each version's widened permissions), oldest version first."""
    before = {entry.plugin: {v.version for v in entry.versions} for entry in old}
    changes = []
    for plugin, entry in sorted(new.items()):
        known = before.get(plugin, set())
        added = [v.version for v in entry.versions if v.version not in known]
        if len(added) > 1:
            added.sort(key=Version.parse)
        widened = widened_by_page.get(plugin, {})
        categories = tuple(entry.categories)
        for index, version in enumerate(added):
            event: MarketEvent = (
                "listing.created" if plugin not in before and index == 0 else "version.published"
            )
            changes.append(CatalogChange(event, plugin, version, categories))
            if widened.get(version):
                changes.append(
                    CatalogChange(
                        "permissions.widened", plugin, version, categories, tuple(widened[version])
                    )
                )
    return changes


def commit_message(plan: CatalogPlan, request: SyncRequest) -> str:
    """The catalog commit's message: what it lists, with the trailers the audit reads."""
    changes = plan.changes
    listed = [c for c in changes if c.event != "permissions.widened"]
    if listed:
        named = ", ".join(f"{c.plugin} {c.version}" for c in listed[:5])
        subject = f"Catalog: list {named}" + (
            f" and {len(listed) - 5} more" if len(listed) > 5 else ""
        )
    else:
        subject = f"Catalog: update {len(plan.rebuilt) + len(plan.removed)} page(s)"
    body = [
        f"Synced from {plan.base}: {plan.listed} listed plugin(s), "
        f"{len(plan.rebuilt)} page(s) rebuilt, {len(plan.removed)} removed."
    ]
    body += [f"- {c.event} {c.plugin}@{c.version}" for c in changes[:MAX_TRAILER_CHANGES]]
    if len(changes) > MAX_TRAILER_CHANGES:
        body.append(f"- ... and {len(changes) - MAX_TRAILER_CHANGES} more")
    one = listed[0] if len(listed) == 1 else None
    trailers = Trailers(
        action=ACTION,
        plugin=one.plugin if one else None,
        version=one.version if one else None,
        operator=request.operator,
        ci_run=request.ci_run,
        extra={"Catalog-Source": plan.base},
    )
    return compose_message(subject, "\n".join(body), trailers)


class _UnchangedError(Exception):
    """The catalog at the tip is already up to date: nothing to push."""


def sync_catalog(request: SyncRequest) -> SyncResult:
    """Build the catalog at the tip of the branch and commit it (once), or nothing."""
    git, branch = request.git, request.branch
    now = request.now or datetime.now(UTC)
    plans: list[CatalogPlan] = []

    def make_change(tip: Commit | None) -> tuple[ChangeSet, str]:
        if tip is None:
            raise InputError(
                f"{request.remote}/{branch} does not exist", hint="push the repo first"
            )
        plans.append(plan_catalog(Snapshot(git, tip), now=now, rebuild=request.rebuild))
        if not plans[-1].files:
            raise _UnchangedError
        return plans[-1].files, commit_message(plans[-1], request)

    try:
        if request.remote is not None:
            commit = git.commit_and_push(request.remote, branch, make_change, when=request.when)
        else:
            tip = _local_tip(git, branch)
            files, message = make_change(tip)
            commit = git.commit(branch, files, message, parent=tip, when=request.when)
    except _UnchangedError:
        plan = plans[-1]
        return SyncResult(None, plan.base, [], plan.listed, [], [], plan.problems)
    plan = plans[-1]
    landed = str(commit.id)
    return SyncResult(
        commit=landed,
        base=plan.base,
        changes=[replace(change, commit=landed) for change in plan.changes],
        listed=plan.listed,
        rebuilt=plan.rebuilt,
        removed=plan.removed,
        problems=plan.problems,
    )


def _local_tip(git: GitRepo, branch: str) -> Commit:
    ref = branch if branch.startswith("refs/") else f"refs/heads/{branch}"
    try:
        return git.resolve(ref)
    except InputError:
        raise InputError(
            f"{git.root} has no branch {branch!r}",
            hint="pass --branch NAME (the branch that holds market/reviews/)",
        ) from None
