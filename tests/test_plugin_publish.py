"""`px-plugin publish`: build, sign, validate, release request and listing pull request.

Against a real bare remote and the GitHub stub over loopback HTTP, with the real
Marketplace validator judging real packages and listings (screenshots, notes, changelog
and security report as tests/test_market_submit.py makes them).
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT, Repo, git
from factories import PASSPHRASE, session_key, signing_policy, yaml_text
from githubstub import TOKEN, serve_github
from test_market_review_support import (
    REVIEWER,
    VENDOR,
    market_repo,
    market_yaml,
    report,
    with_remote,
)
from test_market_submit import PASSING, listing_data, make_package, write_release_notes
from test_market_validate import png

from pipeline.cli.plugin import cli
from pipeline.gitrepo import GitRepo
from pipeline.market.review import Submission, TransitionRequest, transition
from pipeline.market.submit import Target, run_validator, submit_offline
from pipeline.market.upload import OfflineUpload
from pipeline.signing.artifact import write_keypair
from pipeline.signing.keys import public_key_id
from pipeline.store import ContentAddressedDirectory
from pipeline.workflows.market_publish import MarketPublishCommand, Signing, publish

NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
SCANS = ("scans", PASSING / "bandit.sarif")
HTTP_DOCS = "http://vendor.example/docs"


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "hello-world"
    shutil.copytree(
        PROJECT / "examples" / "hello-world",
        folder,
        ignore=shutil.ignore_patterns("build", "dist", "*.pxp"),
    )
    write_release_notes(folder, "1.1.0")
    (folder / "listing.yaml").write_text(yaml_text(listing_data()))
    (folder / "listing").mkdir()
    (folder / "listing" / "main.png").write_bytes(png())
    return folder


def document_over_http(plugin_dir: Path) -> None:
    """The listing links its documentation over plain http (rule listing.links)."""
    (plugin_dir / "listing.yaml").write_text(yaml_text(listing_data(documentation=HTTP_DOCS)))


@pytest.fixture
def key(tmp_path: Path) -> Path:
    files = write_keypair(tmp_path / "vendor", PASSPHRASE)
    return files.private


@pytest.fixture
def repo(release_repo: Repo, key: Path, tmp_path: Path) -> Repo:
    repo = market_repo(release_repo)
    public = key.with_suffix(".pub").read_bytes()
    test_key = session_key()[1]
    trusted = signing_policy(
        keys=[
            {"id": public_key_id(key_pem), "publicKey": key_pem.decode()}
            for key_pem in (public, test_key)
        ]
    )
    repo.commit({"policies/signing.yaml": yaml_text(trusted)}, "trust the vendor's key")
    with_remote(repo, tmp_path)
    return repo


def command(repo: Repo, plugin_dir: Path, key: Path, tmp_path: Path, **extra: Any) -> Any:
    return MarketPublishCommand(
        plugin_dir=plugin_dir,
        repo=repo.path,
        store=str(tmp_path / "store"),
        now=NOW,
        environ=extra.pop("environ", {}),
        evidence=(SCANS,),
        signing=Signing("a" * 40, key, PASSPHRASE),
        operator=VENDOR,
        **extra,
    )


def remote_files(tmp_path: Path, branch: str) -> list[str]:
    bare = tmp_path / "remote.git"
    return git(tmp_path, "--git-dir", str(bare), "ls-tree", "-r", "--name-only", branch).split()


def test_a_failing_enforced_rule_stops_before_anything_is_opened(
    repo: Repo, plugin_dir: Path, key: Path, tmp_path: Path
) -> None:
    document_over_http(plugin_dir)
    outcome = publish(
        command(repo, plugin_dir, key, tmp_path, open_pull_request=False), run_validator
    )
    assert outcome.report.verdict == "failed"
    [links] = [r for r in outcome.report.results if r.outcome == "failed"]
    assert (links.rule, links.mode) == ("listing.links", "enforced")
    assert outcome.exit_code == 1
    assert outcome.release is None and outcome.listing_branch is None
    assert "fix the findings above" in outcome.notes[0]
    assert outcome.package.with_name(outcome.package.name + ".sigstore.json").is_file()
    bare = str(tmp_path / "remote.git")
    branches = git(tmp_path, "--git-dir", bare, "for-each-ref", "--format=%(refname)")
    assert branches.split() == ["refs/heads/main"]


def test_publish_opens_the_release_request_and_the_listing_pull_request(
    repo: Repo, plugin_dir: Path, key: Path, tmp_path: Path
) -> None:
    advisory_links = market_yaml(rules={"listing.links": "advisory"})
    repo.commit({"policies/market.yaml": advisory_links}, "listing.links is advisory")
    repo.git("push", "-q", "origin", "main")
    document_over_http(plugin_dir)
    git_repo = GitRepo(repo.path)
    for request in (
        TransitionRequest(
            "submit",
            "hello-world",
            "1.1.0",
            VENDOR,
            NOW,
            validation=report("failed", "hello-world", "1.1.0"),
            submission=Submission("offline", "b" * 64),
        ),
        TransitionRequest("start", "hello-world", "1.1.0", REVIEWER, NOW),
        TransitionRequest(
            "request-changes",
            "hello-world",
            "1.1.0",
            REVIEWER,
            NOW,
            reason="The screenshot is an SVG",
            category="screenshots",
        ),
    ):
        transition(git_repo, request, remote="origin")
    with serve_github() as github:
        environ = {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": github.url}
        outcome = publish(
            command(repo, plugin_dir, key, tmp_path, environ=environ, github_repo=github.repo),
            run_validator,
        )
        assert outcome.exit_code == 0
        failing = [(r.rule, r.mode) for r in outcome.report.results if r.outcome != "passed"]
        assert failing == [("listing.links", "advisory")]
        (plugin_dir / "listing.yaml").write_text(yaml_text(listing_data()))
        pulls = sorted((p["head"]["ref"], p["title"]) for p in github.pulls.values())
        assert pulls == [
            ("listing/hello-world-1.1.0", "Listing of hello-world 1.1.0"),
            ("release/hello-world-1.1.0", "Release hello-world@1.1.0"),
        ]
        assert outcome.listing_pull_request and outcome.release and outcome.release.pull_request
        again = publish(
            command(repo, plugin_dir, key, tmp_path, environ=environ, github_repo=github.repo),
            run_validator,
        )
        assert again.report.verdict == "passed"
        assert {r.outcome for r in again.report.results} <= {"passed", "skipped"}
        assert "listing pull request already open" in again.notes
        assert len(github.pulls) == 2
    listing = remote_files(tmp_path, "listing/hello-world-1.1.0")
    assert "releases/hello-world/listing.yaml" in listing
    assert "releases/hello-world/listing/main.png" in listing
    release = remote_files(tmp_path, "release/hello-world-1.1.0")
    assert "releases/hello-world/1.1.0/release.yaml" in release
    assert outcome.earlier is not None
    assert outcome.earlier.review.state == "changes-requested"
    from pipeline.cli.plugin_publish import render_json, render_text

    text = render_text(outcome)
    assert f"validation ({outcome.report.ruleset}): passed" in text
    assert "- listing.links (advisory) " in text
    assert f"listing.yaml:21 (documentation): '{HTTP_DOCS}' is not an https link" in text
    assert "(see docs/market-rules.md#listing-links)" in text
    assert "[screenshots]: The screenshot is an SVG" in text
    data = render_json(outcome)
    assert data["ok"] and data["listingRequest"]["branch"] == "listing/hello-world-1.1.0"
    assert data["earlierReview"]["state"] == "changes-requested"


def test_publish_without_a_listing_or_a_forge_is_refused(
    run_cli: Any, repo: Repo, plugin_dir: Path, key: Path, tmp_path: Path
) -> None:
    from pipeline.errors import InputError
    from pipeline.workflows.common import FlagError

    with pytest.raises(FlagError, match="--github-repo"):
        publish(command(repo, plugin_dir, key, tmp_path), run_validator)
    (plugin_dir / "listing.yaml").unlink()
    with pytest.raises(InputError, match=r"listing\.yaml is missing"):
        publish(command(repo, plugin_dir, key, tmp_path, remote=None), run_validator)
    missing = run_cli(cli, "publish", str(plugin_dir), "--store", "s", "--no-push")
    assert missing.code == 2 and "listing.yaml is missing" in missing.err
    unsigned = run_cli(cli, "publish", str(plugin_dir), "--store", "s", "--key", str(key))
    assert unsigned.code == 2 and "go with --sign" in unsigned.err
    no_commit = run_cli(cli, "publish", str(plugin_dir), "--store", "s", "--sign")
    assert no_commit.code == 2 and "--source-commit" in no_commit.err


def test_a_local_publish_commits_the_listing_branch(
    repo: Repo, plugin_dir: Path, key: Path, tmp_path: Path
) -> None:
    listed_earlier(repo, plugin_dir, tmp_path)
    outcome = publish(command(repo, plugin_dir, key, tmp_path, remote=None), run_validator)
    assert outcome.report.verdict == "errored"
    assert outcome.exit_code == 0  # a rule that could not run is not the vendor's fault
    assert "listing committed locally on listing/hello-world-1.1.0" in outcome.notes
    files = repo.git("ls-tree", "-r", "--name-only", "listing/hello-world-1.1.0").split()
    assert "releases/hello-world/listing/main.png" in files
    from pipeline.cli.plugin_publish import render_text

    assert "permissions.widened could not run: the package of the listed" in render_text(outcome)


def listed_earlier(repo: Repo, plugin_dir: Path, tmp_path: Path) -> None:
    """hello-world 1.0.0 submitted offline and approved, its package in another store than
    the one publish is given: the validator cannot fetch it (permissions.widened errors)."""
    earlier = tmp_path / "earlier"
    shutil.copytree(plugin_dir / "listing", earlier / "listing")
    (earlier / "listing.yaml").write_text(yaml_text(listing_data(title="Hello World 1.0")))
    submit_offline(
        Target(GitRepo(repo.path)),
        OfflineUpload(
            make_package(tmp_path, "1.0.0"),
            VENDOR,
            NOW,
            listing=earlier / "listing.yaml",
            evidence=(SCANS,),
        ),
        store=ContentAddressedDirectory(tmp_path / "elsewhere"),
        validate=run_validator,
        log=tmp_path / "uploads.jsonl",
    )
    git_repo = GitRepo(repo.path)
    transition(git_repo, TransitionRequest("start", "hello-world", "1.0.0", REVIEWER, NOW))
    transition(git_repo, TransitionRequest("approve", "hello-world", "1.0.0", REVIEWER, NOW))


def test_listing_files_refuse_links(plugin_dir: Path) -> None:
    from pipeline.errors import InputError
    from pipeline.market.upload import listing_files

    files = listing_files(plugin_dir / "listing.yaml", "hello-world")
    assert sorted(files) == [
        "releases/hello-world/listing.yaml",
        "releases/hello-world/listing/main.png",
    ]
    (plugin_dir / "listing" / "evil.png").symlink_to("/etc/passwd")
    with pytest.raises(InputError, match="is a link"):
        listing_files(plugin_dir / "listing.yaml", "hello-world")
