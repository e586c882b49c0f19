"""The Marketplace catalog in the console and on the static site.

`/market` searches the synced catalog (`pipeline.market.search`: the same index, ranking,
facets and "did you mean" as `px-market search`), paged, with JavaScript off a plain GET
form and list; `/market/{plugin}` is one listing with every listed version (host range,
release record, digest, signer, upgrade path, deprecation, trial and purchase);
`/market/_index` lists every visible listing on one page, and its JSON
(`/market/_index.json`, with each description) is what the static site's
`static/market-search.js` searches in the browser (the site has no server: the script
ranks and filters that file, and leaves the server-rendered list where it cannot read it).

What is visible: public listings, and a `tenants` listing with `?tenant=` naming one of its
tenants (never on the static site, which builds without one); a private listing is never
shown. Reads only `catalog/` at the repo's head (through `pipeline.market`).
"""

from __future__ import annotations

from math import ceil
from typing import Any
from urllib.parse import quote, urlencode

from pipeline.market.catalog_files import read_index, read_page
from pipeline.market.catalog_hosts import MAX_KEY, interval
from pipeline.market.search import SearchQuery, catalog_texts, open_index, visible_to
from pipeline.models.catalog import CatalogPage, IndexEntry
from pipeline.models.listing import CATEGORIES
from pipeline.names import did_you_mean
from pipeline.snapshot import Snapshot
from pipeline.web.views import Data, NotFoundError, Params, Source, View

PAGE_SIZE = 25
INDEX_URL = "/market/_index"
FILTERS = ("q", "category", "pricing", "compatible", "verified")
"""The search page's query parameters (the static site's script reads them too)."""


def market_url(**params: str | None) -> str:
    """/market with the given (non-empty) parameters."""
    kept = {k: v for k, v in params.items() if v}
    return "/market" + ("?" + urlencode(kept) if kept else "")


def plugin_url(plugin: str) -> str:
    """A listing's page."""
    return f"/market/{quote(plugin)}"


def search_data(source: Source, params: Params) -> Data:
    """One page of hits for the query parameters, with facets and a "did you mean"."""
    filters = {name: params.text(name) for name in (*FILTERS, "tenant")}
    page = params.number("page", 1, low=1, high=100_000)
    query = SearchQuery(
        text=filters["q"] or "",
        category=filters["category"],
        pricing=filters["pricing"],
        compatible_with=filters["compatible"],
        verified=filters["verified"] in ("1", "yes", "true", "on"),
        tenant=filters["tenant"],
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    result = open_index(Snapshot(source.git, source.head)).search(query)
    pages = max(1, ceil(result.total / PAGE_SIZE))

    def link(**changes: str | None) -> str:
        return market_url(**{**filters, **changes})

    facets: dict[str, list[Data]] = {}
    for facet, counts in result.facets.items():
        name = {"categories": "category"}.get(facet, facet)
        facets[facet] = [
            {
                "value": value,
                "count": count,
                "url": link(**({"verified": "1"} if name == "verified" else {name: value})),
            }
            for value, count in counts.items()
            if not (name == "verified" and value == "no")
        ]
    hits = [{**hit.__dict__, "url": plugin_url(hit.plugin)} for hit in result.hits]
    guess = result.did_you_mean
    return {
        "view": "market",
        "filters": filters,
        "categories": list(CATEGORIES),
        "total": result.total,
        "hits": hits,
        "facets": facets,
        "did_you_mean": (
            {"text": guess, "hits": result.suggestion_hits, "url": link(q=guess)} if guess else None
        ),
        "page": page,
        "pages": pages,
        "previous": link(page=str(page - 1)) if page > 1 else None,
        "next": link(page=str(page + 1)) if page < pages else None,
        "index": INDEX_URL,
        "index_json": INDEX_URL
        + ".json"
        + (f"?{urlencode({'tenant': filters['tenant']})}" if filters["tenant"] else ""),
        "json": link().replace("/market", "/market.json", 1),
    }


def host_bound(key: int) -> list[int]:
    """An interval key as [major, minor, patch] (JavaScript numbers cannot hold the key)."""
    return [key >> 40, (key >> 20) & 0xFFFFF, key & 0xFFFFF]


def index_listing(entry: IndexEntry, text: str) -> Data:
    """One listing as the browser's search index holds it (`text`: its description)."""
    versions = []
    for row in entry.versions:
        try:
            hosts = interval(row.powerx)
        except ValueError:
            continue
        versions.append(
            {
                "version": row.version,
                "deprecated": row.deprecated,
                "lo": host_bound(hosts.lo) if hosts.lo > 0 else None,
                "hi": host_bound(hosts.hi) if hosts.hi < MAX_KEY else None,
                "not": [host_bound(k) for k in sorted(hosts.excluded)],
            }
        )
    return {
        "plugin": entry.plugin,
        "title": entry.title,
        "summary": entry.summary,
        "tags": entry.tags,
        "categories": entry.categories,
        "vendor": entry.vendor,
        "pricing": entry.pricing,
        "trial": entry.trial,
        "verified": entry.verified,
        "deprecated": entry.deprecated,
        "latest": entry.latest,
        "versions": versions,
        "text": text,
    }


def index_data(source: Source, params: Params) -> Data:
    """Every visible listing: the plain list, and the browser's search index."""
    tenant = params.text("tenant")
    snapshot = Snapshot(source.git, source.head)
    index = read_index(snapshot)
    shown = [
        entry
        for entry in (index.listings if index else [])
        if visible_to(entry.visibility, entry.tenants, tenant)
    ]
    texts = catalog_texts(snapshot, shown)
    entries = [index_listing(entry, texts.get(entry.plugin, "")) for entry in shown]
    return {
        "view": "market-index",
        "tenant": tenant,
        "listings": entries,
        "categories": list(CATEGORIES),
        "search": "/market",
    }


def page_data(source: Source, params: Params) -> Data:
    """One listing with every listed version (404 when it is not listed or not visible)."""
    plugin = params.text("plugin") or ""
    tenant = params.text("tenant")
    snapshot = Snapshot(source.git, source.head)
    page = read_page(snapshot, plugin) if plugin and "/" not in plugin else None
    if page is None or not visible_to(page.visibility.scope, page.visibility.tenants, tenant):
        index = read_index(snapshot)
        known = [
            e.plugin
            for e in (index.listings if index else [])
            if visible_to(e.visibility, e.tenants, tenant)
        ]
        guess = did_you_mean(plugin, known)
        raise NotFoundError(
            f"{plugin!r} is not listed in the Marketplace"
            + (f" (did you mean {guess!r}?)" if guess else ""),
            hint="search the catalog at /market",
        )
    return {"view": "market-page", **listing_data(page), "search": "/market"}


def listing_data(page: CatalogPage) -> Data:
    """A catalog page as the console shows it."""
    data: dict[str, Any] = page.model_dump(mode="json", by_alias=False)
    for version in data["versions"]:
        version["url"] = f"/release/{quote(page.plugin)}/{quote(version['version'])}"
        version["short_commit"] = version["release"]["commit"][:12]
    data["categories"] = [{"name": c, "url": market_url(category=c)} for c in page.categories]
    data["json"] = plugin_url(page.plugin) + ".json"
    data["deprecated"] = all(version.deprecated for version in page.versions)
    return data


VIEWS = [
    View("market", "/market", search_data, "market.html", "Marketplace"),
    View("market-index", INDEX_URL, index_data, "market.html", "Marketplace: every listing", False),
    View("market-page", "/market/{plugin}", page_data, "market.html", "Marketplace listing", False),
]
