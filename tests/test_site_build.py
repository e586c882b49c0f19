"""`powerx site build`: the console's read views as a static site, every link relative.

The site is built from a real release repo (releases, promotions with the runner's
trailers, a canary, hand-made commits) through the real CLI, then crawled: every page's
every href/src/action is relative and names a file of the site.
"""

from __future__ import annotations

import json
import posixpath
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from conftest import Repo
from factories import API, bundle, digest_of, plugin_state, release, yaml_text
from test_promote import publish
from test_web_console import promote
from test_web_matrix import estate  # noqa: F401 (a fixture)

from pipeline.cli.powerx import cli
from pipeline.gitrepo import GitRepo
from pipeline.gitrepo.added import AddedFiles
from pipeline.policy.release_approvals import ORIGINS_FILE
from pipeline.promotion.audit import AuditQuery
from pipeline.promotion.audit_index import INDEX_FILE
from pipeline.web import sitebuild, sitelinks
from pipeline.web.app import STATIC_FILES, VIEWS, Console
from pipeline.web.release import ReleaseReads, release_data, release_page
from pipeline.web.site import (
    MANIFEST,
    PageCache,
    SiteContext,
    canary_pages,
    release_pages,
    released_plugins,
)
from pipeline.web.sitebuild import Job, Writer, build_site, chunked, dump, write_planned
from pipeline.web.sitelinks import SiteMap, relative_url, rewrite_html
from pipeline.web.views import Params, Source

HAND_EDITS = 60
"""Enough entries for a second page of the trail (50 a page)."""


class Links(HTMLParser):
    """Every href, src and action of a page, and its script elements' attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self.inline_script = False
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src", "action") and value is not None:
                self.urls.append(value)
            assert not name.startswith("hx-"), f"htmx attribute left: {name}"
            assert name != "style", "an inline style"
        if tag == "script":
            self.scripts.append(dict(attrs))
            self._in_script = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_script = True


def links_of(page: Path) -> Links:
    parser = Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def resolve(site: Path, page: Path, url: str) -> Path:
    """The file a relative link of `page` names (query and fragment left off)."""
    path = unquote(urlsplit(url).path)
    target = posixpath.normpath(posixpath.join(page.parent.relative_to(site).as_posix(), path))
    assert not target.startswith(".."), f"{url} leaves the site"
    return site / target


@pytest.fixture
def site_repo(estate: Repo, monkeypatch: pytest.MonkeyPatch) -> Repo:  # noqa: F811
    """The matrix's estate, then promotions with trailers and hand edits (2 trail pages)."""
    promote(estate, "extra-2", "0.2.0", "ada", "2026-01-10", monkeypatch)
    promote(estate, "extra-3", "0.3.0", "bob", "2026-02-10", monkeypatch)
    for number in range(HAND_EDITS):
        state = plugin_state("extra-1", f"0.{number}.0")
        estate.commit(
            {"environments/test/plugins/extra-1.yaml": yaml_text(state)}, f"hand edit {number}"
        )
    return estate


def build(run_cli: Any, repo: Repo, out: Path) -> Any:
    return run_cli(cli, "site", "build", "-o", str(out), "--repo", str(repo.path))


def test_every_link_of_the_built_site_resolves_to_a_file(
    site_repo: Repo, run_cli: Any, tmp_path: Path
) -> None:
    out = tmp_path / "site"
    result = build(run_cli, site_repo, out)
    assert result.code == 0, result.err
    assert "pages" in result.out and str(out) in result.out
    pages = sorted(out.rglob("*.html"))
    head = site_repo.head()
    trail = json.loads((out / "audit.json").read_text())["entries"]
    assert len(trail) >= HAND_EDITS + 5
    expected = {"index.html", "matrix.html", "audit.html", "audit/page-2.html"}
    expected |= {f"audit/{entry['commit']}.html" for entry in trail}
    assert expected <= {page.relative_to(out).as_posix() for page in pages}
    checked = 0
    for page in pages:
        links = links_of(page)
        assert not links.inline_script, f"{page}: an inline script"
        for url in links.urls:
            assert not url.startswith("/"), f"{page}: absolute link {url}"
            if urlsplit(url).scheme or url.startswith("#"):
                continue
            assert resolve(out, page, url).is_file(), f"{page}: {url} names no file"
            checked += 1
    assert checked > len(pages) * 5
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["head"] == head and manifest["pages"] == len(pages)
    entry = json.loads((out / "audit" / f"{head}.json").read_text())
    assert entry["entry"]["commit"] == head and entry["entry"]["permalink"] == f"/audit/{head}"


def test_the_audit_pages_carry_the_filter_script_and_the_whole_trail(
    site_repo: Repo, run_cli: Any, tmp_path: Path
) -> None:
    out = tmp_path / "site"
    assert build(run_cli, site_repo, out).code == 0
    for name in STATIC_FILES:
        assert (out / "static" / name).read_bytes()
    scripts = {
        "audit.html": ("static/site-audit-filter.js", "./"),
        "audit/page-2.html": ("../static/site-audit-filter.js", "../"),
    }
    for page, (src, root) in scripts.items():
        found = [s for s in links_of(out / page).scripts if s.get("src") == src]
        assert len(found) == 1 and found[0]["data-site-root"] == root and "defer" in found[0]
    assert "site-audit-filter" not in (out / "matrix.html").read_text()
    rows = []
    for page in ["audit.html", "audit/page-2.html"]:
        text = (out / page).read_text()
        rows += [line.split('"')[1] for line in text.splitlines() if line.startswith("<tr id=")]
    entries = json.loads((out / "audit.json").read_text())["entries"]
    assert rows == [entry["commit"] for entry in entries]  # every page, in order, no gap
    assert not (out / "audit" / "page-3.html").exists()
    # a plugin's audit link keeps its filter for the browser; the page is audit.html itself
    assert 'href="audit.html?plugin=hello"' in (out / "matrix.html").read_text()


def test_pages_rendered_by_worker_processes_are_the_same(site_repo: Repo, tmp_path: Path) -> None:
    serial = build_site(site_repo.path, tmp_path / "serial", workers=1)
    parallel = build_site(site_repo.path, tmp_path / "parallel", workers=2)
    assert serial.pages == parallel.pages and serial.files == parallel.files
    files = sorted(p.relative_to(tmp_path / "serial") for p in serial.output.rglob("*"))
    assert files == sorted(p.relative_to(tmp_path / "parallel") for p in parallel.output.rglob("*"))
    assert len([f for f in files if f.suffix == ".html"]) == serial.pages
    for file in files:
        if (serial.output / file).is_file():
            same = (serial.output / file).read_bytes() == (parallel.output / file).read_bytes()
            assert same, file


def test_a_planned_page_its_view_does_not_find_is_the_console_404_page(
    site_repo: Repo, tmp_path: Path
) -> None:
    console = Console(site_repo.path)
    views = {view.name: view for view in VIEWS}
    site = SiteMap(frozenset({"index.html", "audit.html"}))
    gone = Job("audit-entry", {"commit": "0" * 40}, None, "audit/gone.html")
    source = console.source()
    cache = PageCache(source, datetime.now(UTC))
    write_planned(console, source, Writer(tmp_path), site, views["audit-entry"], gone, cache)
    page = (tmp_path / "audit" / "gone.html").read_text()
    assert "404: not found" in page and "there is no commit 0000000000" in page
    assert 'href="../index.html"' in page and 'href="/' not in page
    assert json.loads((tmp_path / "audit" / "gone.json").read_text())["status"] == 404


def test_an_empty_output_folder_is_used(site_repo: Repo, run_cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    result = run_cli(
        cli, "site", "build", "-o", str(out), "--repo", str(site_repo.path), "--format", "json"
    )
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["head"] == site_repo.head() and report["output"] == str(out)
    assert (out / "index.html").is_file() and report["files"] > report["pages"]


def test_release_and_canary_pages_are_listed_from_the_repo(site_repo: Repo) -> None:
    git = GitRepo(site_repo.path)
    context = SiteContext(Source(git, git.resolve("HEAD")))
    releases = [page.params for page in release_pages(context)]
    assert sorted(map(tuple, (p.values() for p in releases))) == [
        ("hello", "1.0.0"),
        ("other", "1.0.0"),
        ("other", "2.0.0"),
    ]
    assert [page.params for page in released_plugins(context)] == [
        {"plugin": "hello"},
        {"plugin": "other"},
    ]
    canaries = [page.params for page in canary_pages(context)]
    assert canaries == [{"plugin": "other", "environment": "staging"}]


def test_a_rebuild_replaces_the_previous_site(
    site_repo: Repo, run_cli: Any, tmp_path: Path
) -> None:
    out = tmp_path / "site"
    assert build(run_cli, site_repo, out).code == 0
    (out / "left-over.html").write_text("from the first build")
    unfinished = tmp_path / ".site.building-x1"  # a build killed half-way
    (unfinished / "audit").mkdir(parents=True)
    first = json.loads((out / MANIFEST).read_text())["head"]
    site_repo.commit({"environments/prod/plugins/extra-2.yaml": "broken: ["}, "hand edit")
    assert build(run_cli, site_repo, out).code == 0
    assert not (out / "left-over.html").exists() and not unfinished.exists()
    second = json.loads((out / MANIFEST).read_text())["head"]
    assert first != second == site_repo.head()
    assert (out / "audit" / f"{second}.html").is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".site")] == []
    # the unreadable state file is a cell of the matrix, not a failed build
    assert "unreadable" in (out / "matrix.html").read_text()


def test_a_failed_build_leaves_the_previous_site(
    site_repo: Repo, run_cli: Any, tmp_path: Path
) -> None:
    out = tmp_path / "site"
    assert build(run_cli, site_repo, out).code == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    site_repo.commit({"policies/promotion.yaml": "order: [test, staging"}, "break the order")
    result = build(run_cli, site_repo, out)
    assert result.code == 2 and "promotion.yaml" in result.err, result.err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["release-repo", "site"]


@pytest.mark.parametrize("where", ["repo", "parent of repo", "file", "other folder"])
def test_an_output_that_is_not_a_site_is_refused(
    where: str, release_repo: Repo, run_cli: Any, tmp_path: Path
) -> None:
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    (tmp_path / "a-file").write_text("mine")
    out = {
        "repo": release_repo.path,
        "parent of repo": tmp_path,
        "file": tmp_path / "a-file",
        "other folder": other,
    }[where]
    result = build(run_cli, release_repo, out)
    assert result.code == 2 and result.out == ""
    message = {
        "repo": "is the release repo",
        "parent of repo": "holds the release repo",
        "file": "is a file",
        "other folder": f"not a site this command built (it has no {MANIFEST})",
    }[where]
    assert message in " ".join(result.err.split()), result.err
    assert (other / "keep.txt").read_text() == "mine"
    assert (tmp_path / "a-file").read_text() == "mine"
    assert release_repo.git("status", "--porcelain") == ""


def test_a_repo_that_is_not_one_is_refused(run_cli: Any, tmp_path: Path) -> None:
    result = run_cli(cli, "site", "build", "-o", str(tmp_path / "out"), "--repo", str(tmp_path))
    assert result.code == 2 and not (tmp_path / "out").exists()


SITE = SiteMap(
    frozenset(
        {
            "index.html",
            "matrix.html",
            "matrix/page-2.html",
            "matrix.json",
            "audit.html",
            "audit/page-2.html",
            "audit/abc123.html",
            "audit/abc123.json",
            "audit.json",
            "release/a/1.0.0.html",
            "release/a/1.0.0.json",
            "static/console.css",
        }
    ),
    {"/audit.json": "audit.json"},
    {"/audit": frozenset({"plugin", "environment"})},
)


@pytest.mark.parametrize(
    ("url", "page", "expected"),
    [
        ("/", "index.html", "index.html"),
        ("/", "release/a/1.0.0.html", "../../index.html"),
        ("/index.json", "index.html", None),  # not written in this site map
        ("/matrix", "audit/page-2.html", "../matrix.html"),
        ("/matrix?page=1", "index.html", "matrix.html"),
        ("/matrix?page=2", "index.html", "matrix/page-2.html"),
        ("/matrix?page=2", "matrix/page-2.html", "page-2.html"),
        ("/matrix?page=3", "index.html", None),
        ("/matrix?page=x", "index.html", None),
        ("/matrix?page=2&size=20", "index.html", None),
        ("/matrix?q=a", "index.html", None),
        ("/matrix.json", "matrix.html", "matrix.json"),
        ("/audit?page=2", "audit.html", "audit/page-2.html"),
        ("/audit?plugin=a&page=2", "audit/page-2.html", "../audit.html?plugin=a"),
        ("/audit?plugin=a&plugin=b", "audit.html", None),
        ("/audit?operator=a", "audit.html", None),
        ("/audit.json?page=2&plugin=a", "audit/page-2.html", "../audit.json"),
        ("/audit.csv", "audit.html", None),
        ("/audit/abc123", "audit/page-2.html", "abc123.html"),
        ("/audit/abc123.json", "index.html", "audit/abc123.json"),
        ("/audit/abc123#x", "index.html", "audit/abc123.html#x"),
        ("/audit/fff", "index.html", None),
        ("/release/a/1.0.0", "audit/abc123.html", "../release/a/1.0.0.html"),
        ("/release/a/1.0.0.json", "release/a/1.0.0.html", "1.0.0.json"),
        ("/static/console.css", "audit/abc123.html", "../static/console.css"),
        ("/static/other.js", "index.html", None),
        ("/actions/promote?plugin=a", "index.html", None),
        ("/login", "index.html", None),
        ("https://example.com/x", "index.html", "https://example.com/x"),
        ("#top", "audit.html", "#top"),
        ("//evil.example/x", "index.html", "//evil.example/x"),
        ("mailto:ada@example.com", "index.html", "mailto:ada@example.com"),
    ],
)
def test_relative_url(url: str, page: str, expected: str | None) -> None:
    assert relative_url(url, page, SITE) == expected


def test_rewrite_html_links_unlinks_and_drops() -> None:
    page = (
        '<link rel="stylesheet" href="/static/console.css">'
        '<script src="/static/gone.js" defer></script>'
        '<form method="get" action="/audit" hx-get="/audit" hx-target="#trail">'
        '<a href="/audit">clear</a></form>'
        '<p><a href="/audit?plugin=a&amp;environment=b" class="x">a in b</a> · '
        "<a href='/audit.csv?plugin=a'>CSV <code>all</code></a> · "
        '<a href="/login">log in</a> · <a href="https://example.com/?a=1&amp;b=2">out</a> · '
        '<a id="x">no href</a></p>'
    )
    assert rewrite_html(page, "audit/page-2.html", SITE) == (
        '<link rel="stylesheet" href="../static/console.css">'
        "<script defer></script>"
        '<form method="get" action="../audit.html">'
        '<a href="../audit.html">clear</a></form>'
        '<p><a href="../audit.html?plugin=a&amp;environment=b" class="x">a in b</a> · '
        "<span>CSV <code>all</code></span> · "
        '<span>log in</span> · <a href="https://example.com/?a=1&amp;b=2">out</a> · '
        '<a id="x">no href</a></p>'
    )


def test_a_rewritten_tag_is_kept_per_folder() -> None:
    """The second page of a folder reuses the first one's rewritten tags; another folder
    has its own relative links."""
    site = SiteMap(SITE.files, SITE.exports, SITE.client_params)
    page = '<a href="/matrix" class="nav">matrix</a> <a href="/login">in</a>'
    first = rewrite_html(page, "audit/page-2.html", site)
    assert first == '<a href="../matrix.html" class="nav">matrix</a> <span>in</span>'
    assert site.tags  # kept
    assert rewrite_html(page, "audit/abc123.html", site) == first
    assert rewrite_html(page, "index.html", site) == (
        '<a href="matrix.html" class="nav">matrix</a> <span>in</span>'
    )


def test_the_kept_tags_are_bounded() -> None:
    site = SiteMap(SITE.files, SITE.exports, SITE.client_params)
    site.tags.update({(f"<a{number}>", ""): "" for number in range(sitelinks.TAGS_KEPT + 1)})
    rewrite_html('<a href="/matrix">m</a>', "index.html", site)
    assert len(site.tags) == 2  # started again: the anchor and its start tag


def test_a_worker_reads_the_trail_from_the_saved_index(site_repo: Repo, tmp_path: Path) -> None:
    """A worker process's source has the console's audit index, loaded from the file the
    build saved: an audit page does not read the history again."""
    said: list[str] = []
    report = build_site(site_repo.path, tmp_path / "site", workers=1, say=said.append)
    cpu = next(line for line in said if line.startswith("CPU seconds: "))
    assert [part.rsplit(" ", 1)[0] for part in cpu.removeprefix("CPU seconds: ").split(", ")] == [
        "audit trail",
        "page list",
        "pages",
    ]
    index = Path(GitRepo(site_repo.path).repo.path) / INDEX_FILE
    saved = index.stat().st_ino
    sitebuild._start_worker(site_repo.path, report.head, SITE, tmp_path / "out", datetime.now(UTC))
    assert sitebuild._worker is not None
    source = sitebuild._worker[1]
    assert source.head.id == report.head and source.audit is not None
    entries = list(source.audit.trail(source.head, AuditQuery()))
    assert len(entries) > HAND_EDITS
    assert index.stat().st_ino == saved  # loaded, not built and saved again


def test_release_pages_built_from_shared_reads_are_the_consoles(
    site_repo: Repo, tmp_path: Path
) -> None:
    """A plugin's versions share its plan and the head's policies, worked out once per
    process: every release page holds what the console answers for it on its own, a
    refused, a corrupt and a missing signature bundle included."""
    folder = "releases/hello/{}"
    for version in ("2.0.0", "2.1.0", "2.2.0", "2.3.0"):
        publish(site_repo, version)
    unbundled = release("hello", "2.2.0")
    unbundled["artifact"]["signature"] = "missing.sigstore.json"
    site_repo.commit(
        {
            f"{folder.format('2.0.0')}/hello-2.0.0.pxp.sigstore.json": b"[]",
            f"{folder.format('2.1.0')}/hello-2.1.0.pxp.sigstore.json": bundle(
                "hello", "2.1.0", digest=digest_of("hello", "9.9.9")
            ),
            f"{folder.format('2.2.0')}/release.yaml": yaml_text(unbundled),
        },
        "odd signatures",
    )
    report = build_site(site_repo.path, tmp_path / "site", workers=2)
    git = GitRepo(site_repo.path)
    source = Source(git, git.resolve("HEAD"))
    pages = [page.params for page in release_pages(SiteContext(source))]
    assert {"plugin": "hello", "version": "2.3.0"} in pages and len(pages) >= 7
    for params in pages:
        built = report.output / "release" / params["plugin"] / f"{params['version']}.json"
        assert json.loads(built.read_text()) == json.loads(
            dump(release_data(source, Params(params)))
        )
    refusals = {
        version: json.loads((report.output / "release" / "hello" / f"{version}.json").read_text())[
            "signature"
        ]["refusal"]
        for version in ("2.0.0", "2.1.0", "2.3.0")
    }
    assert refusals["2.0.0"].startswith("releases/hello/2.0.0/hello-2.0.0.pxp.sigstore.json")
    assert refusals["2.1.0"] and refusals["2.3.0"] is None


def test_the_reads_work_out_a_plugins_plan_once(site_repo: Repo) -> None:
    git = GitRepo(site_repo.path)
    head = git.resolve("HEAD")
    reads = ReleaseReads(git, head, datetime.now(UTC))
    plan = reads.plan("hello")
    assert reads.plan("hello") is plan and plan["where"] and reads.plan("other") is not plan
    assert reads.policies is reads.policies
    with pytest.raises(ValueError, match="reads of"):
        source = Source(git, git.resolve("HEAD~1"))
        release_page(source, Params({"plugin": "hello", "version": "1.0.0"}), reads)


def test_a_plugins_release_pages_go_to_one_chunk() -> None:
    jobs = [Job("matrix", {"page": str(n)}, None, f"matrix/page-{n}.html") for n in range(3)]
    for plugin in ("a", "b", "c", "d", "e"):
        jobs += [Job("release", {"plugin": plugin, "version": v}, None, "x") for v in "123"]
    chunks = chunked(jobs, 4)
    assert sorted(id(job) for chunk in chunks for job in chunk) == sorted(map(id, jobs))
    for chunk in chunks:
        plugins = {job.params["plugin"] for job in chunk if job.view == "release"}
        assert sum(job.view == "release" for job in chunk) == 3 * len(plugins)
    # dealt in turn: matrix 1, 2, 3 and a's pages, then b, c, d and e's pages
    assert [len(chunk) for chunk in chunks] == [4, 4, 4, 6]


def test_the_release_origins_are_read_before_the_workers_when_approvals_are_required(
    site_repo: Repo, tmp_path: Path
) -> None:
    """Every release page then asks which commit added its manifest: the index is read
    once by the build, not by every worker."""
    origins = Path(GitRepo(site_repo.path).repo.path) / ORIGINS_FILE
    none = {"apiVersion": API, "kind": "ApprovalPolicy", "environments": {}}
    site_repo.commit({"policies/approvals.yaml": yaml_text(none)}, "no approvals anywhere")
    plain = build_site(site_repo.path, tmp_path / "plain", workers=2)
    assert plain.pages > 0 and not origins.exists()  # no approvals: nothing to ask
    policy = {**none, "environments": {"prod": {"required": 1}}}
    site_repo.commit({"policies/approvals.yaml": yaml_text(policy)}, "prod needs an approval")
    git = GitRepo(site_repo.path)
    assert sitebuild._asks_for_approvals(Source(git, git.resolve("HEAD")))
    report = build_site(site_repo.path, tmp_path / "approved", workers=2)
    assert origins.is_file()
    saved = origins.stat().st_ino
    index = AddedFiles(git, "releases", "release.yaml", origins)
    index.read_all(git.resolve(report.head))  # all there already: nothing read, nothing saved
    assert origins.stat().st_ino == saved
