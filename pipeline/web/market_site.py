"""The Marketplace catalog on the static site (`powerx site build`): its pages.

`site.SITE` takes these entries (`site_views`): every page of the unfiltered search (the
plain list, paged), the one-page list of every listing with its JSON twin
(`market/_index.json`, what `static/market-search.js` searches), and a page per public
listing. The search pages get `static/market-search.js` (the console's do not: it searches
on the server); their filters (`market.FILTERS`) stay in links, the script applies them.
Only public listings are on the site (it builds without a tenant).
"""

from __future__ import annotations

from collections.abc import Iterator
from math import ceil
from typing import TYPE_CHECKING

from pipeline.errors import InputError
from pipeline.market.catalog_files import read_index
from pipeline.market.search import visible_to
from pipeline.web.market import FILTERS, PAGE_SIZE

SCRIPT = "market-search.js"
"""The search in the browser, added to the site's search pages (the console searches on
the server)."""

if TYPE_CHECKING:
    from pipeline.web.site import SiteContext, SitePage, SiteView


def public_listings(context: SiteContext) -> list[str]:
    """The plugins the site shows (an unreadable catalog shows none: its pages say why);
    read once per build through `SiteContext.market_listings`."""
    try:
        index = read_index(context.snapshot)
    except InputError:
        return []
    listings = index.listings if index else []
    return [e.plugin for e in listings if visible_to(e.visibility, e.tenants, None)]


def search_pages(context: SiteContext) -> Iterator[SitePage]:
    """Every page of the unfiltered search."""
    from pipeline.web.site import SitePage

    count = ceil(len(context.market_listings) / PAGE_SIZE)
    for page in range(1, max(1, count) + 1):
        yield SitePage({"page": str(page)} if page > 1 else {})


def index_pages(context: SiteContext) -> Iterator[SitePage]:
    """The list of every listing (and its JSON: the browser's search index)."""
    from pipeline.web.site import SitePage

    yield SitePage({})


def listing_pages(context: SiteContext) -> Iterator[SitePage]:
    """One page per public listing."""
    from pipeline.web.site import SitePage

    for plugin in context.market_listings:
        yield SitePage({"plugin": plugin})


def site_views() -> dict[str, SiteView]:
    """The catalog's entries of `site.SITE` (view name -> its pages)."""
    from pipeline.web.site import SiteView

    return {
        "market": SiteView(search_pages, frozenset(FILTERS), SCRIPT),
        "market-index": SiteView(index_pages),
        "market-page": SiteView(listing_pages),
    }
