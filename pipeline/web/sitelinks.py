"""The static site's links: the console's absolute URLs rewritten to relative file paths.

The console links to absolute paths (/release/a/1.0.0, /audit?page=2, /static/console.css).
The static site must work from file:// and from GitHub Pages under a sub-path, so every
link becomes a path relative to the page that holds it, to a file the build wrote:

- `/` is `index.html`; `/matrix` is `matrix.html`, its `?page=N` is `matrix/page-N.html`;
  `/release/a/1.0.0` is `release/a/1.0.0.html`; a `.json` URL is the same path in `.json`.
- `/static/NAME` is `static/NAME`; an export (`/audit.json`, any query) is its one file.
- A page that reads some query parameters in the browser (the audit trail's filters) keeps
  them: `/audit?plugin=a` is `audit.html?plugin=a`.
- Anything else (another query parameter, an action, /login, a file not written) has no
  static counterpart: a link to it becomes plain text (`<span>`), another attribute naming
  it is dropped. htmx attributes (`hx-*`) are dropped too: there is no server to answer them.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

_ANCHOR = re.compile(r"<a(\s[^>]*)?>(.*?)</a\s*>", re.S | re.I)
_START_TAG = re.compile(r"<[a-zA-Z][a-zA-Z0-9-]*\s[^>]*?(?:href|src|action|hx-)[^>]*>", re.I)
"""A start tag with something to rewrite (others are passed over by the regex engine)."""
_LINK_ATTRIBUTE = re.compile(r"""(\s(?:href|src|action)\s*=\s*)("[^"]*"|'[^']*')""", re.I)
_HTMX_ATTRIBUTE = re.compile(r"""\shx-[a-z-]+(?:\s*=\s*(?:"[^"]*"|'[^']*'))?""", re.I)
_PAGE = re.compile(r"[1-9][0-9]{0,8}")


@dataclass(frozen=True)
class SiteMap:
    """What the static site holds: the files written, and how some URLs map onto them."""

    files: frozenset[str]
    """Every file of the site, as a relative POSIX path (index.html, static/console.css)."""
    exports: Mapping[str, str] = field(default_factory=dict)
    """A console path answered by one file whatever its query (/audit.json -> audit.json)."""
    client_params: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """A console path -> the query parameters its page reads in the browser (kept)."""
    known: dict[tuple[str, str], str | None] = field(default_factory=dict, compare=False)
    """(URL, page folder) -> its relative URL, as worked out before (pages share links)."""
    tags: dict[tuple[str, str], str] = field(default_factory=dict, compare=False)
    """(start tag or anchor's attributes, page folder) -> how it is rewritten there: the
    same navigation, buttons and links recur on many pages of a folder."""


def page_file(path: str, page: int = 1, *, as_json: bool = False) -> str:
    """The site file of a console path (no query): `/` -> index.html, `/audit`, page 2 ->
    audit/page-2.html, `/release/a/1.0.0` -> release/a/1.0.0.html (.json with `as_json`)."""
    stem = path.strip("/") or "index"
    if page > 1:
        stem += f"/page-{page}"
    return stem + (".json" if as_json else ".html")


def site_target(url: str, site: SiteMap) -> str | None:
    """The site file (with any query kept and fragment) a console URL maps to, relative to
    the site's root; None when the site has no counterpart. `url` starts with one '/'."""
    parts = urlsplit(url)
    path = unquote(parts.path)
    query = parse_qsl(parts.query, keep_blank_values=True)
    kept = ""
    if path in site.exports:
        target = site.exports[path]
    elif path.startswith("/static/"):
        target = path.removeprefix("/")
    else:
        as_json = path.endswith(".json")
        base = path.removesuffix(".json") if as_json else path
        base = "/" if base == "/index" else base
        params = dict(query)
        if len(params) != len(query):
            return None  # a repeated parameter: a filter the site cannot show
        raw_page = params.pop("page", "1")
        if not _PAGE.fullmatch(raw_page):
            return None
        allowed = frozenset() if as_json else site.client_params.get(base, frozenset())
        if not set(params) <= allowed:
            return None
        page = int(raw_page)
        if params:  # the browser filters the whole trail from the first page
            kept, page = urlencode(params), 1
        target = page_file(base, page, as_json=as_json)
    if target not in site.files:
        return None
    return target + (f"?{kept}" if kept else "") + (f"#{parts.fragment}" if parts.fragment else "")


def relative_url(url: str, page: str, site: SiteMap) -> str | None:
    """`url` as the page at site path `page` links to it: relative, to a file of the site.

    A URL that is not an absolute path (https://..., #x, mailto:, already relative) is
    returned as it is; None when an absolute path has no static counterpart.
    """
    if not url.startswith("/") or url.startswith("//"):
        return url
    key = (url, page.rpartition("/")[0])
    if key not in site.known:
        target = site_target(url, site)
        if target is None:
            site.known[key] = None
        else:
            file, mark, rest = target.partition("?") if "?" in target else target.partition("#")
            site.known[key] = quote(relative_path(file, page), safe="/") + mark + rest
    return site.known[key]


def relative_path(file: str, page: str) -> str:
    """The path from the page at site path `page` to the site file `file` (both relative
    to the site's root, normalised): audit/b.html from audit/a.html is b.html."""
    folder, parts = page.split("/")[:-1], file.split("/")
    common = 0
    while common < len(folder) and common < len(parts) - 1 and folder[common] == parts[common]:
        common += 1
    return "../" * (len(folder) - common) + "/".join(parts[common:])


TAGS_KEPT = 100_000
"""Rewritten tags a site map keeps (then it starts again: a bound on memory)."""


def rewrite_html(document: str, page: str, site: SiteMap) -> str:
    """A rendered console page as the static site's page at site path `page`: every href,
    src and action relative and resolving to a site file (or gone), no htmx attribute."""
    folder = page.rpartition("/")[0]
    tags = site.tags
    if len(tags) > TAGS_KEPT:
        tags.clear()

    def anchor(match: re.Match[str]) -> str:
        attributes = match.group(1) or ""
        key = (attributes, folder)
        span = tags.get(key)
        if span is None:
            href = _LINK_ATTRIBUTE.search(attributes)
            if href is None or relative_url(_value(href.group(2)), page, site) is not None:
                span = ""  # a link the site has: the second pass rewrites it
            else:
                span = f"<span{_LINK_ATTRIBUTE.sub('', attributes)}>"
            tags[key] = span
        return f"{span}{match.group(2)}</span>" if span else match.group(0)

    def start_tag(match: re.Match[str]) -> str:
        key = (match.group(0), folder)
        rewritten = tags.get(key)
        if rewritten is None:
            tag = _HTMX_ATTRIBUTE.sub("", match.group(0))
            rewritten = tags[key] = _LINK_ATTRIBUTE.sub(attribute, tag)
        return rewritten

    def attribute(match: re.Match[str]) -> str:
        value = relative_url(_value(match.group(2)), page, site)
        if value is None:
            return ""  # an asset or form target the site does not have: dropped
        return f'{match.group(1)}"{html.escape(value, quote=True)}"'

    return _START_TAG.sub(start_tag, _ANCHOR.sub(anchor, document))


def _value(quoted: str) -> str:
    """An attribute's value without its quotes, character references resolved."""
    return html.unescape(quoted[1:-1]).strip()


def root_prefix(page: str) -> str:
    """The relative path from the page at site path `page` to the site's root ("" or ../)."""
    return "../" * page.count("/")
