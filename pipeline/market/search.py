"""`px-market search`: the catalog in an SQLite FTS5 index (the standard library's sqlite3).

Built from `catalog/` at a revision: one row per listing, its text in an FTS5 table with
the columns title (with the plugin name), tags (with categories and vendor), summary and
description (with highlights), ranked by bm25 with the weights of `WEIGHTS` (title counts
most). Each query word matches as a prefix (`ledg` finds ledger). Deprecated listings come
after the others. Filters: category, pricing model, host version (`--compatible-with`: a
listed version's `powerx` range holds it; the hit names the newest such version), verified.

*Verified* means: the listing carries the `verified-vendor` promotion tag and the newest
listed version's signature verified under the repo's trust policy at catalog sync.

Visibility: public listings only, plus a `tenants` listing when the query names one of its
tenants (`--tenant T`); a `private` listing is never found (it is in `catalog/` for the
record, and served to nobody).

Facets count the hits (every filter applied) by category, pricing model and verified.
With fewer than `FEW_HITS` hits, a word that is not in the index's vocabulary (the FTS5
`fts5vocab` table) is replaced by the closest one (`pipeline.names.did_you_mean`) and the
corrected query is offered when it finds more.

The index is cached under the repo's git directory (`CACHE_FILE`), stamped with its format
and the catalog's tree id: a stale or damaged cache is rebuilt (into a new file, renamed
over the old one).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import FileSystemError, InputError
from pipeline.fsutil import make_dirs
from pipeline.market import CATALOG_DIR
from pipeline.market.catalog_files import read_index, read_page
from pipeline.market.catalog_hosts import host_version, interval, version_key
from pipeline.models.base import API_VERSION
from pipeline.models.catalog import CatalogIndex, IndexEntry
from pipeline.models.listing import CATEGORIES
from pipeline.models.semver import Version
from pipeline.names import did_you_mean
from pipeline.snapshot import Snapshot

SEARCH_FORMAT = "powerx-market-search/2"
"""Bump when the schema or what is indexed changes: older caches are rebuilt."""
CACHE_FILE = Path("powerx") / "market-search.sqlite"
WEIGHTS = (10.0, 5.0, 2.0, 1.0)
"""bm25 weights of the columns title, tags, summary, description."""
FEW_HITS = 3
"""Fewer hits than this: look for a "did you mean"."""
PRICING = ("free", "freemium", "paid")
_WORD = re.compile(r"\w+", re.UNICODE)
log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE listing(id INTEGER PRIMARY KEY, plugin TEXT UNIQUE NOT NULL, scope TEXT NOT NULL,
  verified INTEGER NOT NULL, deprecated INTEGER NOT NULL, pricing TEXT NOT NULL,
  categories TEXT NOT NULL);
CREATE TABLE entry(id INTEGER PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE category(listing INTEGER NOT NULL, name TEXT NOT NULL);
CREATE TABLE tenant(listing INTEGER NOT NULL, name TEXT NOT NULL);
CREATE TABLE host(id INTEGER PRIMARY KEY, listing INTEGER NOT NULL, version TEXT NOT NULL,
  vkey INTEGER NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL, deprecated INTEGER NOT NULL);
CREATE TABLE host_not(host INTEGER NOT NULL, key INTEGER NOT NULL);
CREATE VIRTUAL TABLE doc USING fts5(title, tags, summary, description,
  tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3');
CREATE VIRTUAL TABLE vocab USING fts5vocab(doc, 'row');
"""
_INDEXES = """
CREATE INDEX category_name ON category(name, listing);
CREATE INDEX tenant_name ON tenant(listing, name);
CREATE INDEX host_listing ON host(listing);
CREATE INDEX host_not_host ON host_not(host);
"""


@dataclass(frozen=True)
class SearchQuery:
    """What to look for; every filter is optional."""

    text: str = ""
    category: str | None = None
    pricing: str | None = None
    compatible_with: str | None = None
    """A host version (2.5.0, 2.5 or 2)."""
    verified: bool = False
    tenant: str | None = None
    limit: int = 20
    offset: int = 0


def visible_to(scope: str, tenants: list[str], tenant: str | None) -> bool:
    """A listing's visibility rule: public, or named tenants only (and `tenant` is one of
    them). `VISIBLE_SQL` is the same rule for the index's queries."""
    return scope == "public" or (scope == "tenants" and tenant is not None and tenant in tenants)


VISIBLE_SQL = (
    "(l.scope = 'public' OR (l.scope = 'tenants' AND EXISTS "
    "(SELECT 1 FROM tenant t WHERE t.listing = l.id AND t.name = :tenant)))"
)
"""`visible_to` as a condition on the index's `listing l` row, for the tenant `:tenant`."""


@dataclass(frozen=True)
class Hit:
    """One listing found, with the version to install (the newest that fits the filter)."""

    plugin: str
    title: str
    summary: str
    categories: list[str]
    tags: list[str]
    vendor: str
    pricing: str
    trial: bool
    verified: bool
    deprecated: bool
    visibility: str
    version: str
    latest: str
    score: float
    """bm25 relevance (higher is better; 0 for a query without words)."""


@dataclass(frozen=True)
class SearchResult:
    """The hits of one page, how many there are in all, facets, and a "did you mean"."""

    query: SearchQuery
    total: int
    hits: list[Hit]
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    did_you_mean: str | None = None
    suggestion_hits: int = 0

    def as_data(self) -> dict[str, Any]:
        """JSON-ready."""
        q = self.query
        return {
            "query": {
                "text": q.text,
                "category": q.category,
                "pricing": q.pricing,
                "compatibleWith": q.compatible_with,
                "verified": q.verified,
                "tenant": q.tenant,
                "limit": q.limit,
                "offset": q.offset,
            },
            "total": self.total,
            "hits": [hit.__dict__ for hit in self.hits],
            "facets": self.facets,
            "didYouMean": self.did_you_mean,
            "suggestionHits": self.suggestion_hits,
        }


def check_query(query: SearchQuery) -> int | None:
    """The host key of `--compatible-with`; InputError for a filter that cannot match."""
    if query.category is not None and query.category not in CATEGORIES:
        guess = did_you_mean(query.category, CATEGORIES)
        raise InputError(
            f"there is no category {query.category!r}"
            + (f" (did you mean {guess!r}?)" if guess else ""),
            hint=f"categories: {', '.join(CATEGORIES)}",
        )
    if query.pricing is not None and query.pricing not in PRICING:
        raise InputError(
            f"there is no pricing model {query.pricing!r}", hint=f"give {', '.join(PRICING)}"
        )
    if not 1 <= query.limit <= 1000 or query.offset < 0:
        raise InputError("the limit is 1 to 1000 hits, from offset 0 on")
    if query.compatible_with is None:
        return None
    try:
        return version_key(host_version(query.compatible_with))
    except ValueError as error:
        raise InputError(f"--compatible-with: {error}") from None


# The SQL below is put together from constant fragments only; every value is a bound
# parameter (hence the S608 waivers).


class SearchIndex:
    """An open index (read-only once built); `search` may be called from several threads."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.db = connection
        self._lock = threading.Lock()
        self._vocabulary: list[str] | None = None

    @classmethod
    def build(
        cls,
        index: CatalogIndex,
        descriptions: Mapping[str, str],
        *,
        path: Path | None = None,
        stamp: str = "",
    ) -> SearchIndex:
        """Index `index` (with each plugin's description text) in memory or at `path`."""
        db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False)
        db.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;" + _SCHEMA)
        with db:
            _fill(db, index.listings, descriptions)
            db.executescript(_INDEXES)
            db.executemany(
                "INSERT INTO meta VALUES (?, ?)", [("format", SEARCH_FORMAT), ("stamp", stamp)]
            )
        return cls(db)

    def search(self, query: SearchQuery) -> SearchResult:
        """The hits of `query`, best first, with facets and a "did you mean"."""
        key = check_query(query)
        words = [w.lower() for w in _WORD.findall(query.text)]
        with self._lock:
            total, facets = self._facets(words, query, key)
            hits = self._hits(words, query, key) if total > query.offset else []
            guess, guessed = None, 0
            if words and total < FEW_HITS:
                guess = self._suggest(words)
                if guess is not None:
                    guessed = self._facets(_WORD.findall(guess), query, key)[0]
                    if guessed <= total:
                        guess, guessed = None, 0
        return SearchResult(query, total, hits, facets, guess, guessed)

    def _where(
        self, words: list[str], query: SearchQuery, key: int | None
    ) -> tuple[str, str, dict[str, Any]]:
        """(FROM clause, WHERE clause, parameters) of the query's hits."""
        params: dict[str, Any] = {"tenant": query.tenant}
        source = "listing l"
        where = [VISIBLE_SQL]
        if words:
            source = "doc JOIN listing l ON l.id = doc.rowid"
            where.append("doc MATCH :match")
            params["match"] = " ".join(f'"{w}"*' for w in words)
        if query.category:
            where.append(
                "EXISTS (SELECT 1 FROM category c WHERE c.name = :category AND c.listing = l.id)"
            )
            params["category"] = query.category
        if query.pricing:
            where.append("l.pricing = :pricing")
            params["pricing"] = query.pricing
        if query.verified:
            where.append("l.verified = 1")
        if key is not None:
            where.append(f"EXISTS (SELECT 1 FROM host h WHERE {_FITS})")  # noqa: S608
            params["host"] = key
        return source, " AND ".join(where), params

    def _facets(
        self, words: list[str], query: SearchQuery, key: int | None
    ) -> tuple[int, dict[str, dict[str, int]]]:
        source, where, params = self._where(words, query, key)
        rows = self.db.execute(  # one pass, a few groups: the listing rows hold no text
            f"SELECT l.pricing, l.verified, l.categories, count(*) FROM {source} "  # noqa: S608
            f"WHERE {where} GROUP BY l.pricing, l.verified, l.categories",
            params,
        ).fetchall()
        facets: dict[str, dict[str, int]] = {"categories": {}, "pricing": {}, "verified": {}}
        total = 0
        for pricing, verified, categories, count in rows:
            total += count
            facets["pricing"][pricing] = facets["pricing"].get(pricing, 0) + count
            flag = "yes" if verified else "no"
            facets["verified"][flag] = facets["verified"].get(flag, 0) + count
            for category in categories.split(","):
                facets["categories"][category] = facets["categories"].get(category, 0) + count
        facets["pricing"] = dict(sorted(facets["pricing"].items()))
        facets["verified"] = dict(sorted(facets["verified"].items()))
        facets["categories"] = dict(
            sorted(facets["categories"].items(), key=lambda i: (-i[1], i[0]))
        )
        return total, facets

    def _hits(self, words: list[str], query: SearchQuery, key: int | None) -> list[Hit]:
        source, where, params = self._where(words, query, key)
        score = f"bm25(doc, {', '.join(map(str, WEIGHTS))})" if words else "0.0"
        best = (
            f"(SELECT h.version FROM host h WHERE {_FITS} ORDER BY h.deprecated, h.vkey DESC "  # noqa: S608
            "LIMIT 1)"
            if key is not None
            else "NULL"
        )
        rows = self.db.execute(
            f"SELECT (SELECT e.json FROM entry e WHERE e.id = l.id), {score} AS rank, {best} "  # noqa: S608
            f"FROM {source} WHERE {where} "
            "ORDER BY l.deprecated, rank, l.plugin LIMIT :limit OFFSET :offset",
            {**params, "limit": query.limit, "offset": query.offset},
        ).fetchall()
        return [_hit(json.loads(entry), rank, version) for entry, rank, version in rows]

    def vocabulary(self) -> list[str]:
        """Every word the index holds (the FTS5 vocabulary)."""
        if self._vocabulary is None:
            rows = self.db.execute("SELECT term FROM vocab").fetchall()
            self._vocabulary = [term for (term,) in rows if not term.isdigit()]
        return self._vocabulary

    def _suggest(self, words: list[str]) -> str | None:
        """The query with each word the index does not hold replaced by its closest word."""
        vocabulary = self.vocabulary()
        known = set(vocabulary)
        changed, out = False, []
        for word in words:
            if word in known or any(term.startswith(word) for term in vocabulary):
                out.append(word)
                continue
            near = [t for t in vocabulary if abs(len(t) - len(word)) <= 2]
            guess = did_you_mean(word, near, cutoff=0.7)
            changed |= guess is not None
            out.append(guess or word)
        return " ".join(out) if changed else None


_FITS = (
    "h.listing = l.id AND :host BETWEEN h.lo AND h.hi AND NOT EXISTS "
    "(SELECT 1 FROM host_not n WHERE n.host = h.id AND n.key = :host)"
)


def _hit(entry: dict[str, Any], rank: float, version: str | None) -> Hit:
    return Hit(
        plugin=entry["plugin"],
        title=entry["title"],
        summary=entry["summary"],
        categories=entry["categories"],
        tags=entry["tags"],
        vendor=entry["vendor"],
        pricing=entry["pricing"],
        trial=entry["trial"],
        verified=entry["verified"],
        deprecated=entry["deprecated"],
        visibility=entry["visibility"],
        version=version or entry["latest"],
        latest=entry["latest"],
        score=round(-rank, 6) if rank else 0.0,
    )


def _fill(db: sqlite3.Connection, entries: Iterable[IndexEntry], texts: Mapping[str, str]) -> None:
    listings, categories, tenants, docs, hosts, excluded, shown = [], [], [], [], [], [], []
    host_id = 0
    for number, entry in enumerate(entries, 1):
        plain = entry.model_dump(mode="json", by_alias=True)
        del plain["sourceDigest"], plain["page"]
        listings.append(
            (
                number,
                entry.plugin,
                entry.visibility,
                int(entry.verified),
                int(entry.deprecated),
                entry.pricing,
                ",".join(entry.categories),
            )
        )
        shown.append((number, json.dumps(plain, separators=(",", ":"))))
        categories += [(number, c) for c in entry.categories]
        tenants += [(number, t) for t in entry.tenants]
        tags = " ".join([*entry.tags, *entry.categories, entry.vendor])
        title = f"{entry.title} {entry.plugin}"
        docs.append((number, title, tags, entry.summary, texts.get(entry.plugin, "")))
        for row in entry.versions:
            try:
                hosts_of = interval(row.powerx)
            except ValueError:
                continue  # a range the model let through but no host can satisfy
            host_id += 1
            parsed = Version.parse(row.version)
            key = version_key(Version(parsed.major, parsed.minor, parsed.patch))
            hosts.append(
                (host_id, number, row.version, key, hosts_of.lo, hosts_of.hi, int(row.deprecated))
            )
            excluded += [(host_id, k) for k in hosts_of.excluded]
    db.executemany("INSERT INTO listing VALUES (?, ?, ?, ?, ?, ?, ?)", listings)
    db.executemany("INSERT INTO entry VALUES (?, ?)", shown)
    db.executemany("INSERT INTO category VALUES (?, ?)", categories)
    db.executemany("INSERT INTO tenant VALUES (?, ?)", tenants)
    db.executemany("INSERT INTO host VALUES (?, ?, ?, ?, ?, ?, ?)", hosts)
    db.executemany("INSERT INTO host_not VALUES (?, ?)", excluded)
    db.executemany(
        "INSERT INTO doc(rowid, title, tags, summary, description) VALUES (?, ?, ?, ?, ?)", docs
    )


# --- the index of a revision, cached ----------------------------------------------------


def catalog_texts(snapshot: Snapshot, entries: Iterable[IndexEntry]) -> dict[str, str]:
    """Each listed plugin's description and highlights (from its page)."""
    texts = {}
    for entry in entries:
        page = read_page(snapshot, entry.plugin)
        if page is not None:
            texts[entry.plugin] = "\n".join([page.description, *page.highlights])
    return texts


def cache_path(snapshot: Snapshot) -> Path:
    """Where the index of this repo is cached."""
    return Path(snapshot.git.repo.path) / CACHE_FILE


def stamp_of(snapshot: Snapshot) -> str:
    """What a cached index must say it was built from."""
    return snapshot.git.folder_id(snapshot.commit, CATALOG_DIR) or "none"


_open: dict[tuple[str, str], SearchIndex] = {}
_open_lock = threading.Lock()


def open_index(snapshot: Snapshot, *, cache: bool = True) -> SearchIndex:
    """The search index of the catalog at `snapshot`: this process's, the cached file's
    (when its stamp matches), or built now (and cached, with `cache`)."""
    stamp = stamp_of(snapshot)
    path = cache_path(snapshot)
    memo = (str(path), stamp)
    with _open_lock:
        found = _open.get(memo)
        if found is not None:
            return found
        found = _cached(path, stamp) if cache else None
        if found is None:
            found = _build(snapshot, stamp, path if cache else None)
        if len(_open) >= 8:
            _open.clear()
        _open[memo] = found
        return found


def _cached(path: Path, stamp: str) -> SearchIndex | None:
    """The cached index at `path` when it is of this format and stamp, else None."""
    if not path.is_file():
        return None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.DatabaseError:
        return None  # damaged or of another kind: rebuilt
    if meta.get("format") != SEARCH_FORMAT or meta.get("stamp") != stamp:
        db.close()
        return None
    return SearchIndex(db)


def _build(snapshot: Snapshot, stamp: str, path: Path | None) -> SearchIndex:
    """Build the index of the catalog at `snapshot` (into a new file renamed to `path`)."""
    index = read_index(snapshot) or CatalogIndex(api_version=API_VERSION, kind="CatalogIndex")
    texts = catalog_texts(snapshot, index.listings)
    if path is None:
        return SearchIndex.build(index, texts, stamp=stamp)
    try:
        make_dirs(path.parent)
        handle, scratch = tempfile.mkstemp(prefix=".market-search-", suffix=".tmp", dir=path.parent)
    except (OSError, FileSystemError) as error:  # a read-only repo: search it all the same
        log.warning("market search: no cache at %s (%s); the index is kept in memory", path, error)
        return SearchIndex.build(index, texts, stamp=stamp)
    os.close(handle)
    try:
        SearchIndex.build(index, texts, path=Path(scratch), stamp=stamp).db.close()
        Path(scratch).replace(path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
    cached = _cached(path, stamp)
    assert cached is not None, "a fresh index has the stamp it was built with"
    return cached
