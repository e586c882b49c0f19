"""The catalog sync on real git repos: approved review records, listings, signed releases."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import Repo, RunCli
from factories import API, bundle, release, session_key, yaml_text

from pipeline.cli.market import cli as market_cli
from pipeline.errors import InputError
from pipeline.gitrepo import GitRepo, read_trailers
from pipeline.market.catalog import SyncRequest, sync_catalog
from pipeline.market.catalog_build import INDEX_PATH, page_path
from pipeline.market.catalog_files import read_index, read_page
from pipeline.market.catalog_hosts import covers, host_version, interval, version_key
from pipeline.market.changes import CatalogChange
from pipeline.market.events import read_changes
from pipeline.models.market import Review
from pipeline.signing.keys import public_key_id
from pipeline.snapshot import Snapshot

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def listing(plugin: str = "hello", **overrides: Any) -> dict[str, Any]:
    """A complete, valid listing as data."""
    data: dict[str, Any] = {
        "apiVersion": API,
        "kind": "Listing",
        "plugin": plugin,
        "title": f"{plugin.replace('-', ' ').title()} plugin",
        "summary": f"The {plugin} plugin does useful things for every tenant.",
        "description": f"{plugin} " + "helps teams work with their PowerX data every day. " * 3,
        "highlights": ["Works offline", "Signed releases"],
        "categories": ["productivity"],
        "tags": ["greeting"],
        "pricing": {"model": "free"},
        "screenshots": [{"file": "listing/main.png", "caption": "The main page"}],
        "support": {
            "contact": "help@example.com",
            "responseTime": "2 business days",
            "url": "https://example.com/support",
        },
        "documentation": "https://example.com/docs",
        "vendor": {"name": "Example Ltd"},
    }
    data.update(overrides)
    return data


def review(
    plugin: str, version: str, state: str = "approved", widened: tuple[str, ...] = ()
) -> str:
    """A review record written through the model: submitted, in review, then `state`."""
    history: list[dict[str, Any]] = [
        {"state": "submitted", "at": NOW - timedelta(days=2), "by": "vendor"},
        {"state": "in-review", "at": NOW - timedelta(days=1), "by": "rita"},
    ]
    if state != "in-review":
        history.append({"state": state, "at": NOW, "by": "rita", "reason": "all rules pass"})
    model = Review.model_validate(
        {
            "apiVersion": API,
            "kind": "Review",
            "plugin": plugin,
            "version": version,
            "artifactSha256": release(plugin, version)["artifact"]["sha256"],
            "permissionsWidened": list(widened),
            "history": history,
        }
    )
    return yaml_text(model.model_dump(mode="json", by_alias=True, exclude_none=True))


def released(plugin: str, version: str, powerx: str = ">=2.4,<3") -> dict[str, str | bytes]:
    """The files of a signed release of plugin@version running on hosts `powerx`."""
    folder = f"releases/{plugin}/{version}"
    manifest = release(plugin, version, compatibility={"powerx": powerx})
    return {
        f"{folder}/release.yaml": yaml_text(manifest),
        f"{folder}/{plugin}-{version}.pxp.sigstore.json": bundle(plugin, version),
    }


def listed(
    plugin: str,
    version: str,
    *,
    powerx: str = ">=2.4,<3",
    state: str = "approved",
    widened: tuple[str, ...] = (),
    **listing_fields: Any,
) -> dict[str, str | bytes]:
    """A release, its listing and its review record in `state`."""
    return {
        **released(plugin, version, powerx),
        f"releases/{plugin}/listing.yaml": yaml_text(listing(plugin, **listing_fields)),
        f"market/reviews/{plugin}/{version}.yaml": review(plugin, version, state, widened),
    }


@pytest.fixture
def market(release_repo: Repo) -> Repo:
    """The release repo on main, with hello 1.0.0 approved and draft 0.1.0 still in review."""
    release_repo.git("checkout", "-q", "main")
    release_repo.git("merge", "-q", "feature")
    release_repo.commit(
        {**listed("hello", "1.0.0"), **listed("draft", "0.1.0", state="in-review")}, "reviews"
    )
    return release_repo


def sync(repo: Repo, **options: Any) -> Any:
    return sync_catalog(SyncRequest(GitRepo(repo.path), now=NOW, **options))


def snapshot(repo: Repo) -> Snapshot:
    git = GitRepo(repo.path)
    return Snapshot(git, git.resolve("HEAD"))


def commits(repo: Repo) -> int:
    return int(repo.git("rev-list", "--count", "HEAD"))


def test_sync_lists_approved_versions_in_one_commit_and_nothing_when_unchanged(
    market: Repo,
) -> None:
    before = commits(market)
    result = sync(market, operator="rita")
    assert result.commit == market.head() and commits(market) == before + 1
    assert [(c.event, c.plugin, c.version, c.commit) for c in result.changes] == [
        ("listing.created", "hello", "1.0.0", result.commit)
    ]
    trailers = read_trailers(market.git("log", "-1", "--format=%B"))
    assert trailers["Action"] == "catalog" and trailers["Operator"] == "rita"
    assert trailers["Plugin"] == "hello" and trailers["Version"] == "1.0.0"
    changed = market.git("show", "--name-only", "--format=", "HEAD").split()
    assert sorted(changed) == [INDEX_PATH, page_path("hello")]
    index = read_index(snapshot(market))
    assert index is not None and [e.plugin for e in index.listings] == ["hello"]  # no draft
    page = read_page(snapshot(market), "hello")
    assert page is not None
    version = page.versions[0]
    assert version.release.path == "releases/hello/1.0.0/release.yaml"
    assert version.release.commit == result.base
    assert market.git("show", f"{version.release.commit}:{version.release.path}")
    assert version.artifact_sha256 == release("hello", "1.0.0")["artifact"]["sha256"]
    assert version.signer.verified and version.signer.mode == "key"
    assert version.signer.identity == public_key_id(session_key()[1])
    assert version.compatibility == {"powerx": ">=2.4,<3"}
    assert page.availability.model == "free" and not page.availability.trial
    assert page.visibility.scope == "public" and not page.verified

    again = sync(market)
    assert again.commit is None and again.changes == [] and commits(market) == before + 1
    assert again.listed == 1


def test_new_versions_are_published_and_widened_permissions_said(market: Repo) -> None:
    first = sync(market)
    market.commit(
        {
            **listed("hello", "1.1.0", widened=("tenant-data:write",)),
            **listed(
                "ledger",
                "2.0.0",
                categories=["finance"],
                pricing={
                    "model": "paid",
                    "trialDays": 14,
                    "plans": [{"name": "Team", "price": "9.90", "currency": "EUR"}],
                },
                promotion=["verified-vendor"],
            ),
        },
        "approve hello 1.1.0 and ledger 2.0.0",
    )
    second = sync(market)
    assert second.commit is not None and second.commit != first.commit
    assert [(c.event, c.plugin, c.version) for c in second.changes] == [
        ("version.published", "hello", "1.1.0"),
        ("permissions.widened", "hello", "1.1.0"),
        ("listing.created", "ledger", "2.0.0"),
    ]
    assert second.changes[1].permissions_widened == ("tenant-data:write",)
    assert second.changes[2].categories == ("finance",)
    ledger = read_page(snapshot(market), "ledger")
    assert ledger is not None and ledger.verified
    assert ledger.availability.trial and ledger.availability.trial_days == 14
    assert ledger.availability.purchase and str(ledger.availability.plans[0].price) == "9.90"
    hello = read_page(snapshot(market), "hello")
    assert hello is not None and [v.version for v in hello.versions] == ["1.1.0", "1.0.0"]
    # the old version's record did not change: its link keeps the commit it was listed at
    assert hello.versions[1].release.commit == first.base
    assert hello.versions[0].release.commit == second.base


def test_a_version_conflict_keeps_earlier_versions_with_an_upgrade_path(market: Repo) -> None:
    market.commit(
        {**listed("hello", "1.1.0"), **listed("hello", "2.0.0", powerx=">=3,<4")},
        "hello 2 needs powerx 3",
    )
    sync(market)
    page = read_page(snapshot(market), "hello")
    assert page is not None
    rows = {v.version: v for v in page.versions}
    assert list(rows) == ["2.0.0", "1.1.0", "1.0.0"]
    assert rows["2.0.0"].upgrade == []
    path = [(s.to, s.requires, s.host_upgrade) for s in rows["1.0.0"].upgrade]
    assert path == [("1.1.0", ">=2.4,<3", False), ("2.0.0", ">=3,<4", True)]
    assert [s.to for s in rows["1.1.0"].upgrade] == ["2.0.0"]
    index = read_index(snapshot(market))
    assert index is not None
    entry = index.listings[0]
    assert entry.latest == "2.0.0"
    assert [(v.version, v.powerx) for v in entry.versions] == [
        ("2.0.0", ">=3,<4"),
        ("1.1.0", ">=2.4,<3"),
        ("1.0.0", ">=2.4,<3"),
    ]


def test_deprecation_visibility_and_an_unverified_signature(market: Repo) -> None:
    market.commit(
        {
            **listed("hello", "2.0.0"),
            "releases/hello/listing.yaml": yaml_text(
                listing(
                    "hello",
                    deprecated={"versions": "<2", "reason": "1.x talks to the old host API"},
                    visibility={"scope": "tenants", "tenants": ["acme"]},
                )
            ),
            "releases/hello/2.0.0/hello-2.0.0.pxp.sigstore.json": bundle("hello", "1.0.0"),
        },
        "hello 2, 1.x deprecated, for acme only, signed for another digest",
    )
    sync(market)
    page = read_page(snapshot(market), "hello")
    assert page is not None and page.deprecation is not None
    assert [(v.version, v.deprecated) for v in page.versions] == [
        ("2.0.0", False),
        ("1.0.0", True),
    ]
    signer = page.versions[0].signer
    assert not signer.verified and signer.refusal and signer.identity is None
    assert page.visibility.tenants == ["acme"]
    index = read_index(snapshot(market))
    assert index is not None and index.listings[0].visibility == "tenants"
    assert not index.listings[0].deprecated


def test_a_plugin_whose_files_break_keeps_its_page_and_is_reported(market: Repo) -> None:
    sync(market)
    kept = market.git("show", f"HEAD:{page_path('hello')}")
    market.commit(
        {
            **listed("hello", "1.1.0"),
            "releases/hello/listing.yaml": "kind: Listing\n",
            **listed("other", "1.0.0"),
        },
        "a broken listing",
    )
    result = sync(market)
    assert any(p.startswith("hello:") and "listing.yaml" in p for p in result.problems)
    assert [c.plugin for c in result.changes] == ["other"]
    assert market.git("show", f"HEAD:{page_path('hello')}") == kept
    index = read_index(snapshot(market))
    assert index is not None and [e.plugin for e in index.listings] == ["hello", "other"]


def test_a_damaged_catalog_file_is_refused_by_readers_and_rebuilt_by_sync(
    market: Repo,
) -> None:
    sync(market)
    market.commit({INDEX_PATH: '{"kind": "CatalogIndex"}\n', page_path("hello"): "{}\n"}, "damage")
    with pytest.raises(InputError, match=r"catalog/index.json at \w+ is not a valid catalog file"):
        read_index(snapshot(market))
    with pytest.raises(InputError, match="apiVersion: Field required") as refused:
        read_page(snapshot(market), "hello")
    assert refused.value.hint == "the catalog is generated: run px-market catalog sync --all"
    result = sync(market)
    assert any("every page is rebuilt" in p for p in result.problems)
    assert result.commit is not None and [c.event for c in result.changes] == ["listing.created"]
    page = read_page(snapshot(market), "hello")
    assert page is not None and page.versions[0].version == "1.0.0"


def test_an_approved_version_without_a_listing_is_a_problem_not_a_listing(
    market: Repo,
) -> None:
    market.commit(
        {
            **released("orphan", "1.0.0"),
            "market/reviews/orphan/1.0.0.yaml": review("orphan", "1.0.0"),
        },
        "orphan",
    )
    result = sync(market)
    assert any("orphan" in p and "no releases/orphan/listing.yaml" in p for p in result.problems)
    assert [c.plugin for c in result.changes] == ["hello"]


def test_sync_pushes_to_a_remote(market: Repo, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    market.git("clone", "-q", "--bare", str(market.path), str(remote))
    market.git("remote", "add", "origin", str(remote))
    result = sync(market, remote="origin")
    assert result.commit is not None
    assert market.git("--git-dir", str(remote), "rev-parse", "main") == result.commit
    assert sync(market, remote="origin").commit is None


def test_rebuild_rewrites_nothing_when_the_pages_are_current(market: Repo) -> None:
    sync(market)
    assert sync(market, rebuild=True).commit is None


def test_a_page_that_shrinks_is_rewritten(market: Repo) -> None:
    sync(market)
    short = listing("hello", description="hello " + "says hello to every tenant, every day. " * 2)
    market.commit({"releases/hello/listing.yaml": yaml_text(short)}, "a shorter description")
    result = sync(market)
    assert result.commit is not None and result.rebuilt == ["hello"] and result.changes == []
    page = read_page(snapshot(market), "hello")
    assert page is not None and page.description == short["description"]


def test_cli_sync_prints_the_changes_and_json(
    market: Repo, run_cli: RunCli, tmp_path: Path
) -> None:
    done = run_cli(market_cli, "catalog", "sync", "--repo", str(market.path), "--format", "json")
    assert done.code == 0, done.err
    data = json.loads(done.out)
    assert data["changes"][0]["event"] == "listing.created" and data["commit"]
    changes = tmp_path / "changes.json"  # what px-market notify --changes reads
    changes.write_text(json.dumps(data["changes"]))
    assert read_changes(changes) == [
        CatalogChange("listing.created", "hello", "1.0.0", ("productivity",), (), data["commit"])
    ]
    again = run_cli(market_cli, "catalog", "sync", "--repo", str(market.path))
    assert again.code == 0 and "up to date" in again.out
    missing = run_cli(market_cli, "catalog", "sync", "--repo", str(market.path), "--branch", "nope")
    assert missing.code == 2 and "no branch 'nope'" in missing.err


def test_host_ranges_as_intervals() -> None:
    assert covers(">=2,<4", ">=2.4,<3") and not covers(">=2.4,<3", ">=2,<4")
    assert covers(None, ">=1") and not covers(">=1", None)
    assert not covers(">=2,!=2.5.0", ">=2.4,<3") and covers(">=2,!=2.5.0", ">=2.6,<3")
    assert covers(">=1", ">=3,<2") and not covers("bad range", ">=1")
    assert interval("<3.0.0-rc.1").contains(version_key(host_version("2.9")))
    assert not interval("<3.0.0-rc.1").contains(version_key(host_version("3")))
    assert interval(">=3.0.0-rc.1").contains(version_key(host_version("3")))
    assert interval("=3.0.0-rc.1").empty
    assert interval("^2.4").contains(version_key(host_version("2.9.1")))
    with pytest.raises(ValueError, match="not a host version"):
        host_version("2.x")
