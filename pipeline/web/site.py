"""`powerx site build`: the console's read views rendered to a static site (GitHub Pages).

Every page goes through the console's own view functions and templates (`app.VIEWS`,
`Console.page`); `sitelinks.rewrite_html` then makes each link relative, to a file the
build wrote. Which pages a view has on the site is said once, in `SITE` (view name ->
`SiteView`): a new view plugs in with one line there; a view with no entry is not on the
site, and an entry whose view is not registered is skipped.

The audit trail is read once per build (`SiteContext.trail`): its pages, its entries'
permalinks and `audit.json` (every entry, for the browser filter
`static/site-audit-filter.js`) all come from that one reading.

What pages share is worked out once per process that renders them: a view whose entry
has a `data` function gets the process's `PageCache` (one head, the build's clock), and
its pages that share a `group` parameter go to one process (a plugin's release pages share
its plan: `release.ReleaseReads`).

The build is atomic: it renders into a hidden sibling folder and swaps it in at the end, so
an interrupted build leaves the previous site as it was. The output folder must be absent,
empty, or a previous build (it holds `MANIFEST`); anything else is refused (exit 2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from math import ceil

from pipeline import layout
from pipeline.canary.status import ROLLOUT_ACTIONS
from pipeline.errors import InputError
from pipeline.names import deployed_plugins, environment_names, plugin_names
from pipeline.promotion.audit import AuditEntry
from pipeline.snapshot import Snapshot
from pipeline.web import audit, market_site, matrix, release
from pipeline.web.sitelinks import SiteMap, page_file
from pipeline.web.views import Data, Params, Source, View

MANIFEST = ".powerx-site.json"
"""Marks a folder as a site this command built: only such a folder is replaced."""
AUDIT_JSON = "audit.json"
AUDIT_FILTER = "site-audit-filter.js"
MAX_FINISHED_CANARIES = 50
"""Canary pages of rollouts found in the history (newest first), beside every running one:
each page reads its rollout's decisions from the history, so they are bounded."""


class SiteContext:
    """What the page lists of one build read: the source, its snapshot, the audit trail;
    and the build's clock (`now`: every page is judged at that time, whichever process
    renders it)."""

    def __init__(self, source: Source, now: datetime | None = None) -> None:
        self.source = source
        self.snapshot = Snapshot(source.git, source.head)
        self.now = now if now is not None else datetime.now(UTC)

    @cached_property
    def trail(self) -> list[AuditEntry]:
        """Every audit entry of the head's history, newest first (read once per build, as
        the console's audit view reads it)."""
        return list(audit.entries(self.source, Params({})))

    @cached_property
    def market_listings(self) -> list[str]:
        """The catalog's public listings (`catalog/index.json` read and validated once per
        build: the search pages and the listing pages both list them)."""
        return market_site.public_listings(self)


class PageCache:
    """What the pages rendered by one process (the build's or a worker) share, beyond the
    repo's parse caches: worked out once for the build's head and clock."""

    def __init__(self, source: Source, now: datetime) -> None:
        self.source = source
        self.release = release.ReleaseReads(source.git, source.head, now)


@dataclass(frozen=True)
class SitePage:
    """One page of a view: its path and query parameters, and its data when the page list
    already has it (else the view's data function is called with `params`)."""

    params: dict[str, str]
    data: Data | None = None


@dataclass(frozen=True)
class SiteView:
    """How a view is on the static site."""

    pages: Callable[[SiteContext], Iterable[SitePage]]
    """Every page of the view the site holds."""
    client_params: frozenset[str] = field(default_factory=frozenset)
    """Query parameters its page reads in the browser (links keep them)."""
    script: str | None = None
    """A static script the site adds to its pages (not the console's)."""
    json: bool = True
    """Each page also as JSON, beside it (the console's `.json` answer)."""
    data: Callable[[Source, Params, PageCache], Data] | None = None
    """The page's data from the process's cache (None: the view's own data function);
    the same data as the view's, worked out once where pages share it."""
    group: str | None = None
    """The parameter whose pages one process renders together (they share cached data)."""


def matrix_pages(context: SiteContext) -> Iterator[SitePage]:
    """Every page of the unfiltered matrix."""
    count = ceil(len(plugin_names(context.snapshot)) / matrix.PAGE_SIZE)
    for page in range(1, max(1, count) + 1):
        yield SitePage({"page": str(page)} if page > 1 else {})


def audit_pages(context: SiteContext) -> Iterator[SitePage]:
    """Every page of the unfiltered trail (each rendered by the audit view itself)."""
    count = ceil(len(context.trail) / audit.PAGE_SIZE)
    for page in range(1, max(1, count) + 1):
        yield SitePage({"page": str(page)} if page > 1 else {})


def audit_entry_pages(context: SiteContext) -> Iterator[SitePage]:
    """Each entry's permalink page."""
    for entry in context.trail:
        yield SitePage({"commit": entry.commit}, {"entry": audit.entry_data(entry)})


def released_plugins(context: SiteContext) -> Iterator[SitePage]:
    """One page per released plugin (its versions)."""
    snapshot = context.snapshot
    for plugin, is_dir in sorted(snapshot.git.list_dir(snapshot.commit, layout.RELEASES)):
        if is_dir:
            yield SitePage({"plugin": plugin})


def release_pages(context: SiteContext) -> Iterator[SitePage]:
    """One page per release manifest (releases/<plugin>/<version>/release.yaml)."""
    snapshot = context.snapshot
    for plugin, is_dir in snapshot.git.list_dir(snapshot.commit, layout.RELEASES):
        if is_dir:
            for version in snapshot.versions(plugin):
                if snapshot.blob_id(layout.release_path(plugin, str(version))) is not None:
                    yield SitePage({"plugin": plugin, "version": str(version)})


def canary_pages(context: SiteContext) -> Iterator[SitePage]:
    """One page per plugin and environment with a canary in progress or a rollout in its
    history (each rollout commit names its plugin and environment)."""
    snapshot = context.snapshot
    seen: set[tuple[str, str]] = set()
    for entry in context.trail:  # newest first: the latest finished rollouts, bounded
        if len(seen) >= MAX_FINISHED_CANARIES:
            break
        if entry.action in ROLLOUT_ACTIONS and entry.plugin and entry.environment:
            seen.add((entry.plugin, entry.environment))
    for env in environment_names(snapshot):
        for plugin in deployed_plugins(snapshot, env):
            try:
                state = snapshot.plugin_state(env, plugin)
            except InputError:
                continue  # unreadable: the matrix says so
            if state is not None and state.model.canary is not None:
                seen.add((plugin, env))
    for plugin, env in sorted(seen):
        yield SitePage({"plugin": plugin, "environment": env})


def import_pages(context: SiteContext) -> Iterator[SitePage]:
    """The list of offline imports, and one page per import commit."""
    yield SitePage({})


def import_entry_pages(context: SiteContext) -> Iterator[SitePage]:
    """One page per offline import the repo records."""
    for entry in context.trail:
        if entry.action == "import":
            yield SitePage({"id": entry.commit})


def release_page_data(source: Source, params: Params, cache: PageCache) -> Data:
    """A release page, its plugin's plan shared by the plugin's versions."""
    return release.release_page(source, params, cache.release)


SITE: dict[str, SiteView] = {
    "matrix": SiteView(matrix_pages),
    "audit": SiteView(audit_pages, frozenset(audit.FILTERS), AUDIT_FILTER, json=False),
    "audit-entry": SiteView(audit_entry_pages),
    "release-versions": SiteView(released_plugins),
    "release": SiteView(release_pages, data=release_page_data, group="plugin"),
    "canary": SiteView(canary_pages),
    "imports": SiteView(import_pages),
    "import": SiteView(import_entry_pages),
    **market_site.site_views(),
}
"""View name -> how it is on the site. Views not registered in app.VIEWS are skipped."""


@dataclass(frozen=True)
class Planned:
    """A page the build writes: its view, its parameters and its file."""

    view: View
    page: SitePage
    file: str


def plan(views: list[View], context: SiteContext) -> list[Planned]:
    """Every page of every view of `SITE`, with its file; a parameter that is not a plain
    path segment (a '/' or '..') is refused: a page file stays inside the site."""
    planned = []
    for view in views:
        site_view = SITE.get(view.name)
        if site_view is None:
            continue
        for page in site_view.pages(context):
            for value in page.params.values():
                if not value or "/" in value or value in (".", "..") or "\0" in value:
                    raise InputError(
                        f"the site cannot hold a page of {view.url} with {value!r}",
                        hint="release and environment names are plain folder names",
                    )
            number = int(page.params.get("page", "1"))
            path = view.url.format(**page.params)
            planned.append(Planned(view, page, page_file(path, number)))
    return planned


def site_map(planned: list[Planned], views: list[View], extra: Iterable[str]) -> SiteMap:
    """The site's files and link rules, known before any page is rendered."""
    files = {"index.html", "index.json", *extra}
    for item in planned:
        files.add(item.file)
        if SITE[item.view.name].json:
            files.add(json_twin(item.file))
    client = {view.url: SITE[view.name].client_params for view in views if view.name in SITE}
    return SiteMap(frozenset(files), {"/audit.json": AUDIT_JSON}, client)


def json_twin(file: str) -> str:
    """The JSON file beside a page's HTML file."""
    return file.removesuffix(".html") + ".json"
