"""Benchmark the Marketplace catalog: `catalog sync` and `px-market search` at 10,000 listings.

The repo (generated once, reused when its parameters match) holds N listings (default
10,000), each with a signed release (key mode) and an approved review record; every fifth
plugin also has a 2.0.0 that needs a newer host (an upgrade path). Listing text comes from
a fixed pseudo-word vocabulary, so queries find tens to hundreds of hits.

Figures, each against a same-run baseline, interleaved A B A B:

1. the first build (`plan_catalog` at the commit of the sources, before any catalog: parse,
   verify every signature, render every page; a freshly opened repo, no signer index and
   no memo of resolved YAML scalars each time) vs reading every source blob it needs,
   unparsed; target: under 5 s; every round must write the same files (their sha256 is
   printed; `--expect` checks it against one from another build, e.g. before a change);
1b. a rebuild of every page (`--all`) with the signer index the first build left, vs the
   same baseline; the same files;
2. sync after one approval (the catalog committed, one new version approved) vs loading
   catalog/index.json with `json.loads`;
3. the search index built from the catalog (in memory) vs loading the catalog it indexes;
4. a query in-process after load (a mix: words, prefixes, filters, host versions, typos)
   vs a plain `LIKE '%word%'` scan of the same table; target: under 10 ms per query.

    .venv/bin/python bench/market_catalog_bench.py [--listings N] [--runs N] [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from benchrepo import PROJECT, digest_of, ensure_repo, machine, release_yaml, signed_bundle
from benchrepo import signing_policy as signing_policy_yaml
from timing import Step, interleaved

from pipeline.gitrepo import GitRepo, init_repository
from pipeline.market.catalog import CatalogPlan, plan_catalog
from pipeline.market.catalog_build import INDEX_PATH
from pipeline.market.catalog_files import read_index
from pipeline.market.catalog_signers import index_path
from pipeline.market.search import SearchIndex, SearchQuery, catalog_texts
from pipeline.models.catalog import CatalogIndex
from pipeline.models.listing import CATEGORIES
from pipeline.snapshot import Snapshot
from pipeline.yamlfast import forget_resolved

NOW = datetime(2026, 12, 1, tzinfo=UTC)
SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "dor", "len", "mar"]


@dataclass(frozen=True)
class CatalogSpec:
    """The parameters of the generated repo."""

    listings: int
    vocabulary: int = 3000
    seed: int = 14

    @property
    def name(self) -> str:
        return f"market-catalog-{self.listings}"


def vocabulary(spec: CatalogSpec) -> list[str]:
    """Pseudo-words, deterministic."""
    rng = random.Random(spec.seed)
    words: set[str] = set()
    while len(words) < spec.vocabulary:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def listing_yaml(plugin: str, rng: random.Random, words: list[str], index: int) -> bytes:
    def text(count: int) -> str:
        return " ".join(rng.choice(words) for _ in range(count))

    categories = list(CATEGORIES)
    data = {
        "apiVersion": "powerx.io/v1alpha1",
        "kind": "Listing",
        "plugin": plugin,
        "title": text(2).title()[:60],
        "summary": (text(8) + " for every tenant")[:160],
        "description": text(120),
        "highlights": [text(4), text(4)],
        "categories": [categories[index % len(categories)]],
        "tags": sorted({rng.choice(words)[:20] for _ in range(3)}),
        "pricing": {"model": "free"}
        if index % 3
        else {
            "model": "paid",
            "trialDays": 14,
            "plans": [{"name": "Team", "price": "9.90", "currency": "EUR"}],
        },
        "screenshots": [{"file": "listing/main.png", "caption": "The main page"}],
        "support": {
            "contact": "help@example.com",
            "responseTime": "2 business days",
            "url": "https://example.com/support",
        },
        "documentation": "https://example.com/docs",
        "vendor": {"name": f"Vendor {index % 97}"},
        "promotion": ["verified-vendor"] if index % 7 == 0 else [],
    }
    return json.dumps(data).encode()  # JSON is YAML: the listing parses as written


def review_yaml(plugin: str, version: str) -> bytes:
    return (
        "apiVersion: powerx.io/v1alpha1\nkind: Review\n"
        f"plugin: {plugin}\nversion: {version}\nartifactSha256: {digest_of(plugin, version)}\n"
        "history:\n"
        "  - {state: submitted, at: '2026-11-28T10:00:00Z', by: vendor}\n"
        "  - {state: in-review, at: '2026-11-29T10:00:00Z', by: rita}\n"
        "  - {state: approved, at: '2026-11-30T10:00:00Z', by: rita, reason: all rules pass}\n"
    ).encode()


def versions_of(index: int) -> list[str]:
    return ["1.0.0", "2.0.0"] if index % 5 == 0 else ["1.0.0"]


def release_files(plugin: str, version: str) -> dict[str, bytes]:
    folder = f"releases/{plugin}/{version}"
    manifest = release_yaml(plugin, version, signed=True)
    if version.startswith("2."):
        manifest = manifest.replace(b'powerx: ">=2.4,<3"', b'powerx: ">=3,<4"')
    return {
        f"{folder}/release.yaml": manifest,
        f"{folder}/{plugin}-{version}.pxp.sigstore.json": signed_bundle(plugin, version),
        f"market/reviews/{plugin}/{version}.yaml": review_yaml(plugin, version),
    }


def generate(spec: CatalogSpec, path: Path) -> None:
    """The repo: policies, then every listing with its releases, in one commit."""
    path.mkdir(parents=True, exist_ok=True)
    init_repository(path)
    rng = random.Random(spec.seed)
    words = vocabulary(spec)
    files: dict[str, bytes | None] = {"policies/signing.yaml": signing_policy_yaml()}
    for index in range(spec.listings):
        plugin = f"plugin-{index:05d}"
        files[f"releases/{plugin}/listing.yaml"] = listing_yaml(plugin, rng, words, index)
        for version in versions_of(index):
            files.update(release_files(plugin, version))
    GitRepo(path).commit("main", files, "the catalog's sources")


def sources(repo: Path, commit: str) -> int:
    """Read every blob a full build reads, unparsed (the baseline of figure 1)."""
    git = GitRepo(repo)
    snapshot = Snapshot(git, git.resolve(commit))
    total = 0
    for folder in ("releases", "market/reviews"):
        for path in git.files(snapshot.commit, folder):
            found = snapshot.read(path, max_bytes=1 << 24)
            total += len(found or b"")
    return total


def files_digest(plan: CatalogPlan) -> str:
    """The sha256 of the files a plan writes (path and bytes, by path)."""
    digest = hashlib.sha256()
    for path in sorted(plan.files):
        digest.update(path.encode() + b"\0" + (plan.files[path] or b"") + b"\0")
    return digest.hexdigest()


def children_cpu() -> float:
    """CPU seconds of this process's ended children (the build's worker processes)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def load_average() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


def queries(spec: CatalogSpec) -> list[SearchQuery]:
    """A fixed mix of queries over the vocabulary."""
    rng = random.Random(spec.seed + 1)
    words = vocabulary(spec)
    mix: list[SearchQuery] = []
    categories = list(CATEGORIES)
    for number in range(40):
        word = rng.choice(words)
        kind = number % 8
        if kind == 0:
            mix.append(SearchQuery(word))
        elif kind == 1:
            mix.append(SearchQuery(f"{word} {rng.choice(words)}"))
        elif kind == 2:
            mix.append(SearchQuery(word[:3]))  # a prefix: many hits
        elif kind == 3:
            mix.append(SearchQuery(word, category=categories[number % len(categories)]))
        elif kind == 4:
            mix.append(SearchQuery(word, compatible_with="2.5.0"))
        elif kind == 5:
            mix.append(SearchQuery(word, verified=True))
        elif kind == 6:
            mix.append(SearchQuery(word[:-1] + "q"))  # a typo: did you mean
        else:
            mix.append(SearchQuery(word, pricing="paid", limit=50))
    return mix


def like_scan(index: SearchIndex, mix: list[SearchQuery]) -> int:
    """The baseline of figure 4: a plain LIKE scan for each query's first word."""
    found = 0
    for query in mix:
        word = (query.text.split() or [""])[0]
        pattern = f"%{word}%"
        found += index.db.execute(
            "SELECT count(*) FROM doc WHERE title LIKE ?1 OR tags LIKE ?1 OR summary LIKE ?1 "
            "OR description LIKE ?1",
            (pattern,),
        ).fetchone()[0]
    return found


def pack(repo: Path) -> None:
    """Pack the generated repo's objects, as a clone (the runner's checkout) has them; the
    generator leaves ~9 loose objects a listing, each read costing 3x a packed one."""
    loose = subprocess.run(
        ["git", "-C", str(repo), "count-objects"], capture_output=True, text=True, check=True
    ).stdout
    if not loose.startswith("0 objects"):
        print(f"packing {repo} ({loose.split(',')[0]} loose) ...", flush=True)
        subprocess.run(["git", "-C", str(repo), "repack", "-a", "-d", "-q"], check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listings", type=int, help="listings [10000; quick: 1000]")
    parser.add_argument("--runs", type=int, help="timed rounds per figure [5; quick: 3]")
    parser.add_argument("--out", type=Path, default=PROJECT / "bench" / "out", help="work dir")
    parser.add_argument("--quick", action="store_true", help="a small, fast run")
    parser.add_argument("--expect", help="the sha256 the first build's files must have")
    parser.add_argument(
        "--loose",
        action="store_true",
        help="keep the generated repo's objects loose (default: packed, as a clone has them)",
    )
    args = parser.parse_args(argv)
    spec = CatalogSpec(args.listings or (1000 if args.quick else 10_000))
    runs = args.runs or (3 if args.quick else 5)
    print(machine())
    print(f"load average {load_average()}")
    repo = ensure_repo(spec, args.out, lambda path: generate(spec, path))
    if not args.loose:
        pack(repo)

    # 1. the first build, cold (a freshly opened repo: no parse cache, no signer index)
    sources_commit = list(GitRepo(repo).first_parent_walk(GitRepo(repo).resolve("main")))[-1].id
    digests: set[str] = set()

    def forget_signers() -> None:
        index_path(GitRepo(repo)).unlink(missing_ok=True)
        forget_resolved()  # no YAML scalar resolved by an earlier round either

    cpu: dict[bool, list[float]] = {False: [], True: []}

    def full_build(rebuild: bool = False) -> CatalogPlan:
        """One build; its CPU seconds (this process and its workers) noted in `cpu`."""
        started = time.process_time(), children_cpu()
        git = GitRepo(repo)
        plan = plan_catalog(Snapshot(git, git.resolve(sources_commit)), now=NOW, rebuild=rebuild)
        cpu[rebuild].append(time.process_time() - started[0] + children_cpu() - started[1])
        return plan

    def built(plan: CatalogPlan) -> None:
        assert plan.listed == spec.listings, plan.listed
        assert not plan.problems, plan.problems
        digests.add(files_digest(plan))
        assert len(digests) == 1, f"the builds wrote different files: {digests}"
        assert args.expect in (None, *digests), f"files {digests}, expected {args.expect}"

    build = interleaved(
        Step(full_build, reset=forget_signers, check=built),
        lambda: sources(repo, sources_commit),
        runs,
    )
    # 1b. every page rebuilt (--all), the signers from the index the first build left
    rebuild = interleaved(
        Step(lambda: full_build(rebuild=True), check=built),
        lambda: sources(repo, sources_commit),
        runs,
    )

    # commit the catalog once, then approve one more version: the incremental sync
    git = GitRepo(repo)
    if git.read(git.resolve("main"), INDEX_PATH, max_bytes=1 << 30) is None:
        plan = plan_catalog(Snapshot(git, git.resolve("main")), now=NOW)
        git.commit("main", plan.files, "the catalog")
        git.commit("main", release_files("plugin-00001", "1.1.0"), "approve plugin-00001 1.1.0")

    def one_approval() -> object:
        fresh = GitRepo(repo)
        return plan_catalog(Snapshot(fresh, fresh.resolve("main")), now=NOW)

    def synced(plan: object) -> None:
        assert getattr(plan, "rebuilt", None) == ["plugin-00001"], getattr(plan, "rebuilt", None)

    def index_json() -> object:
        fresh = GitRepo(repo)
        raw = fresh.read(fresh.resolve("main"), INDEX_PATH, max_bytes=1 << 30)
        return json.loads(raw or b"{}")

    incremental = interleaved(Step(one_approval, check=synced), index_json, runs)

    # 3. the search index, built in memory from the catalog (committed above)
    snapshot = Snapshot(git, git.resolve("main~1"))
    catalog = read_index(snapshot)
    assert catalog is not None and len(catalog.listings) == spec.listings
    texts = catalog_texts(snapshot, catalog.listings)

    def load() -> tuple[CatalogIndex, dict[str, str]]:
        loaded = read_index(snapshot)
        assert loaded is not None
        return loaded, catalog_texts(snapshot, loaded.listings)

    index_build = interleaved(lambda: SearchIndex.build(*load()), load, runs)

    # 4. queries, in-process after load
    index = SearchIndex.build(catalog, texts)
    mix = queries(spec)
    index.search(SearchQuery("warm up"))
    answered = [index.search(query) for query in mix]
    hits = sorted(result.total for result in answered)
    suggestions = sum(1 for result in answered if result.did_you_mean)
    search = interleaved(
        lambda: [index.search(query) for query in mix], lambda: like_scan(index, mix), runs
    )
    per_query = search.subject.scaled(1 / len(mix))
    per_scan = search.baseline.scaled(1 / len(mix))

    print(f"\n{spec.listings:,} listings, {runs} rounds (min / median / max)")
    print("| figure | subject | baseline | ratio |")
    print("|---|---|---|---|")
    print(
        f"| first build (s) | {build.subject.cell(1, 2)} "
        f"| read sources {build.baseline.cell(1, 2)} | {build.ratio_cell()} |"
    )
    print(
        f"| rebuild --all, signer index (s) | {rebuild.subject.cell(1, 2)} "
        f"| read sources {rebuild.baseline.cell(1, 2)} | {rebuild.ratio_cell()} |"
    )
    print(
        f"| sync after one approval (ms) | {incremental.subject.cell()} | json.loads index "
        f"{incremental.baseline.cell()} | {incremental.ratio_cell()} |"
    )
    print(
        f"| search index build (ms) | {index_build.subject.cell()} | load catalog "
        f"{index_build.baseline.cell()} | {index_build.ratio_cell()} |"
    )
    print(
        f"| query, per query (ms) | {per_query.cell(1000, 2)} | LIKE scan {per_scan.cell(1000, 2)} "
        f"| {search.ratio_cell()} |"
    )
    print(
        f"\nCPU seconds per build (this process + workers), median: first "
        f"{sorted(cpu[False])[len(cpu[False]) // 2]:.2f}, rebuild --all "
        f"{sorted(cpu[True])[len(cpu[True]) // 2]:.2f}"
    )
    print(f"first build's files: sha256 {digests.pop()} (every round)")
    print(f"load average {load_average()}")
    print(
        f"queries: {len(mix)}, hits median {hits[len(hits) // 2]}, max {hits[-1]}, "
        f"{suggestions} with a did-you-mean"
    )
    ok = build.subject.median < 5.0 and per_query.median < 0.010
    print("targets (build < 5 s, query < 10 ms):", "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    started = time.perf_counter()
    code = main()
    print(f"bench ran {time.perf_counter() - started:.0f} s", file=sys.stderr)
    sys.exit(code)
