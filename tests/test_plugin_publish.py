"""`px-plugin publish`: build, sign, validate, release request and listing pull request.

Against a real bare remote and the GitHub stub over loopback HTTP; the validator's report
is a real `ValidationReport` (the validator itself is tested with its own module).
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT, Repo, git
from factories import PASSPHRASE, signing_policy, yaml_text
from githubstub import TOKEN, serve_github
from test_market_review_support import REVIEWER, VENDOR, market_repo, report, with_remote
from test_market_submit import listing_data

from pipeline.cli.plugin import cli
from pipeline.gitrepo import GitRepo
from pipeline.market.review import Submission, TransitionRequest, transition
from pipeline.market.submit import ValidateInput
from pipeline.signing.artifact import write_keypair
from pipeline.signing.keys import public_key_id
from pipeline.workflows.market_publish import MarketPublishCommand, Signing, publish

NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "hello-world"
    shutil.copytree(
        PROJECT / "examples" / "hello-world",
        folder,
        ignore=shutil.ignore_patterns("build", "dist", "*.pxp"),
    )
    (folder / "listing.yaml").write_text(yaml_text(listing_data()))
    (folder / "listing").mkdir()
    (folder / "listing" / "main.png").write_bytes(PNG)
    return folder


@pytest.fixture
def key(tmp_path: Path) -> Path:
    files = write_keypair(tmp_path / "vendor", PASSPHRASE)
    return files.private


@pytest.fixture
def repo(release_repo: Repo, key: Path, tmp_path: Path) -> Repo:
    repo = market_repo(release_repo)
    public = key.with_suffix(".pub").read_bytes()
    trusted = signing_policy(keys=[{"id": public_key_id(public), "publicKey": public.decode()}])
    repo.commit({"policies/signing.yaml": yaml_text(trusted)}, "trust the vendor's key")
    with_remote(repo, tmp_path)
    return repo


def validator(kind: str) -> Any:
    def validate(given: ValidateInput) -> Any:
        assert given.package is not None and given.package.suffix == ".pxp"
        assert given.listing is not None and given.listing.name == "listing.yaml"
        assert given.snapshot.release(given.plugin, given.version) is not None
        return report(kind, given.plugin, given.version)

    return validate


def command(repo: Repo, plugin_dir: Path, key: Path, tmp_path: Path, **extra: Any) -> Any:
    return MarketPublishCommand(
        plugin_dir=plugin_dir,
        repo=repo.path,
        store=str(tmp_path / "store"),
        now=NOW,
        environ=extra.pop("environ", {}),
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
    outcome = publish(
        command(repo, plugin_dir, key, tmp_path, open_pull_request=False), validator("failed")
    )
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
            validator("advisory"),
        )
        assert outcome.exit_code == 0
        pulls = sorted((p["head"]["ref"], p["title"]) for p in github.pulls.values())
        assert pulls == [
            ("listing/hello-world-1.1.0", "Listing of hello-world 1.1.0"),
            ("release/hello-world-1.1.0", "Release hello-world@1.1.0"),
        ]
        assert outcome.listing_pull_request and outcome.release and outcome.release.pull_request
        again = publish(
            command(repo, plugin_dir, key, tmp_path, environ=environ, github_repo=github.repo),
            validator("passed"),
        )
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
    assert "validation (market-1:abc123): passed" in text
    assert "listing.links (advisory) documentation: http link" in text
    assert "    fix: use https (see docs/market-rules.md#listing-links)" in text
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
        publish(command(repo, plugin_dir, key, tmp_path), validator("passed"))
    (plugin_dir / "listing.yaml").unlink()
    with pytest.raises(InputError, match=r"listing\.yaml is missing"):
        publish(command(repo, plugin_dir, key, tmp_path, remote=None), validator("passed"))
    missing = run_cli(cli, "publish", str(plugin_dir), "--store", "s", "--no-push")
    assert missing.code == 2 and "listing.yaml is missing" in missing.err
    unsigned = run_cli(cli, "publish", str(plugin_dir), "--store", "s", "--key", str(key))
    assert unsigned.code == 2 and "go with --sign" in unsigned.err
    no_commit = run_cli(cli, "publish", str(plugin_dir), "--store", "s", "--sign")
    assert no_commit.code == 2 and "--source-commit" in no_commit.err


def test_a_local_publish_commits_the_listing_branch(
    repo: Repo, plugin_dir: Path, key: Path, tmp_path: Path
) -> None:
    outcome = publish(command(repo, plugin_dir, key, tmp_path, remote=None), validator("errored"))
    assert outcome.exit_code == 0  # a rule that could not run is not the vendor's fault
    assert "listing committed locally on listing/hello-world-1.1.0" in outcome.notes
    files = repo.git("ls-tree", "-r", "--name-only", "listing/hello-world-1.1.0").split()
    assert "releases/hello-world/listing/main.png" in files
    from pipeline.cli.plugin_publish import render_text

    assert "security.report could not run: scanner timed out" in render_text(outcome)


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
