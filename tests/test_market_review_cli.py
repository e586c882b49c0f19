"""`px-market review ...`, `status`, `remind`, `submit --offline` refusals, through the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import Repo, git
from factories import digest_of
from githubstub import TOKEN, serve_github
from test_market_events import Receiver
from test_market_review_support import (
    OTHER_REVIEWER,
    REVIEWER,
    STRANGER,
    VENDOR,
    market_repo,
    report,
    with_remote,
)

from pipeline.cli.market import cli
from pipeline.cli.market_review import upload_log_path
from pipeline.gitrepo import GitRepo
from pipeline.market.review import Submission, TransitionRequest, transition
from pipeline.market.upload_log import read_uploads

WHEN = datetime.now(UTC)


@pytest.fixture
def repo(release_repo: Repo) -> Repo:
    repo = market_repo(release_repo)
    submit(repo, WHEN)
    return repo


def submit(repo: Repo, when: datetime, kind: str = "failed") -> None:
    transition(
        GitRepo(repo.path),
        TransitionRequest(
            "submit",
            "hello",
            "1.0.0",
            VENDOR,
            when,
            validation=report(kind),
            submission=Submission("online", digest_of("hello", "1.0.0")),
        ),
    )


def review(run_cli: Any, repo: Repo, *args: str) -> Any:
    return run_cli(cli, "review", *args, "--repo", str(repo.path), "--no-push")


def ask_for_a_png(run_cli: Any, repo: Repo, *args: str) -> Any:
    """The reviewer asks the vendor of hello@1.0.0 to replace its SVG screenshot."""
    reason = ("--reason", "Replace the SVG screenshot with a PNG", "--category", "screenshots")
    return review(run_cli, repo, "request-changes", "hello@1.0.0", "--as", REVIEWER, *reason, *args)


def test_review_steps_and_their_exit_codes(run_cli: Any, repo: Repo) -> None:
    stranger = review(run_cli, repo, "start", "hello@1.0.0", "--as", STRANGER)
    assert stranger.code == 1 and "sam is not a Marketplace reviewer" in stranger.err
    own = review(run_cli, repo, "start", "hello@1.0.0", "--as", VENDOR)
    assert own.code == 1
    started = review(run_cli, repo, "start", "hello@1.0.0", "--as", REVIEWER)
    assert started.code == 0, started.err
    assert started.out.startswith("start: hello@1.0.0 is in-review (commit ")
    gated = review(run_cli, repo, "approve", "hello@1.0.0", "--as", REVIEWER)
    assert gated.code == 1 and "enforced rules fail (listing.screenshots)" in gated.err
    no_reason = review(run_cli, repo, "reject", "hello@1.0.0", "--as", REVIEWER)
    assert no_reason.code == 2 and "--reason" in no_reason.err
    blank = review(
        run_cli,
        repo,
        "reject",
        "hello@1.0.0",
        "--as",
        REVIEWER,
        "--reason",
        " ",
        "--category",
        "security",
    )
    assert blank.code == 2 and "reject needs a reason" in blank.err
    asked = ask_for_a_png(run_cli, repo, "--format", "json")
    assert asked.code == 0, asked.err
    data = json.loads(asked.out)
    assert data["state"] == "changes-requested"
    assert data["history"][-1]["category"] == "screenshots"
    assert data["validation"]["failed"] == ["listing.screenshots"]
    assert data["next"].startswith("fix what the reviewer asked for")
    not_allowed = review(run_cli, repo, "approve", "hello@1.0.0", "--as", REVIEWER)
    assert not_allowed.code == 2 and "its review is changes-requested" in not_allowed.err
    retry = review(run_cli, repo, "retry", "hello@1.0.0", "--as", REVIEWER, "--store", "s")
    assert (
        retry.code == 2 and "cannot retry hello@1.0.0: its review is changes-requested" in retry.err
    )
    bad_ref = review(run_cli, repo, "start", "hello", "--as", REVIEWER)
    assert bad_ref.code == 2
    odd = review(
        run_cli,
        repo,
        "reject",
        "hello@1.0.0",
        "--as",
        REVIEWER,
        "--reason",
        "No",
        "--category",
        "vibes",
    )
    assert odd.code == 2 and "unknown reason category 'vibes'" in odd.err


def test_status_tells_the_vendor_the_reasons_and_what_to_fix(run_cli: Any, repo: Repo) -> None:
    review(run_cli, repo, "start", "hello@1.0.0", "--as", REVIEWER)
    ask_for_a_png(run_cli, repo)
    shown = run_cli(cli, "status", "hello@1.0.0", "--repo", str(repo.path))
    assert shown.code == 0
    lines = shown.out.splitlines()
    assert lines[0] == "hello@1.0.0: changes-requested (online)"
    assert any(
        "changes-requested by rita [screenshots]: Replace the SVG screenshot with a PNG" in line
        for line in lines
    )
    assert (
        "  - listing.screenshots fails (blocks approval): see "
        "docs/market-rules.md#listing-screenshots" in lines
    )
    assert "  - listing.links fails (advisory): see docs/market-rules.md#listing-links" in lines
    assert lines[-1].startswith("  next: fix what the reviewer asked for, then submit again")
    every = run_cli(cli, "status", "--repo", str(repo.path), "--format", "json")
    assert [r["state"] for r in json.loads(every.out)["reviews"]] == ["changes-requested"]
    one_plugin = run_cli(cli, "status", "hello", "--repo", str(repo.path))
    assert one_plugin.out == shown.out
    missing = run_cli(cli, "status", "hello@9.9.9", "--repo", str(repo.path))
    assert missing.code == 2 and "never submitted" in missing.err


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def test_remind_lists_overdue_reviews_and_posts_them(
    run_cli: Any, release_repo: Repo, receiver: Receiver
) -> None:
    repo = market_repo(release_repo)
    url = receiver.url("/hook")
    assert run_cli(cli, "remind", "--repo", str(repo.path)).out == "no review is waiting\n"
    submit(repo, WHEN)
    fresh = run_cli(cli, "remind", "--repo", str(repo.path), "--webhook", url)
    assert fresh.code == 0 and fresh.out.startswith("waiting  hello@1.0.0 (online, submitted)")
    assert receiver.received == []
    submit(repo, WHEN - timedelta(days=10))  # resubmitted: the clock starts at the latest
    assert run_cli(cli, "remind", "--repo", str(repo.path)).code == 1
    late = run_cli(cli, "remind", "--repo", str(repo.path), "--webhook", url, "--format", "json")
    assert late.code == 1
    data = json.loads(late.out)
    assert data["overdue"] and data["reviews"][0]["allowedDays"] == 2
    [posted] = [received.event for received in receiver.received]
    assert posted["type"] == "io.powerx.market.overdue"
    assert posted["data"]["overdue"][0]["plugin"] == "hello"


def test_a_pull_request_review_drives_the_transition(
    run_cli: Any, repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve_github() as github:
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("GITHUB_API_URL", github.url)
        number = github.open_pull("listing/hello-1.0.0")

        def sync(*extra: str) -> Any:
            return run_cli(
                cli,
                "review",
                "sync",
                "hello@1.0.0",
                "--pull-request",
                str(number),
                "--github-repo",
                github.repo,
                "--repo",
                str(repo.path),
                "--no-push",
                *extra,
            )

        assert sync().out == f"#{number}: no Marketplace reviewer has decided yet\n"
        github.review(number, VENDOR, "APPROVED")  # the vendor's own approval does not count
        github.review(number, STRANGER, "APPROVED")
        assert "no Marketplace reviewer" in sync().out
        github.review(number, REVIEWER, "CHANGES_REQUESTED")
        github.review(number, OTHER_REVIEWER, "APPROVED")
        asked = sync("--format", "json")
        assert asked.code == 0, asked.err
        data = json.loads(asked.out)
        assert data["decision"] == "request-changes" and data["reviewer"] == REVIEWER
        assert [s["state"] for s in data["steps"]] == ["in-review", "changes-requested"]
        again = sync()
        assert again.out == f"#{number}: already changes-requested\n"
        submit(repo, WHEN, "passed")  # the vendor fixed it and submitted again
        github.review(number, REVIEWER, "APPROVED")
        approved = sync("--format", "json")
        assert approved.code == 0, approved.err
        assert [s["state"] for s in json.loads(approved.out)["steps"]] == ["in-review", "approved"]
        assert json.loads(approved.out)["reviewer"] == REVIEWER
    message = repo.git("log", "-1", "--format=%B", "main~3")
    pull_url = f"https://github.com/{github.repo}/pull/{number}"
    assert f"PowerX-Review-Source: {pull_url}" in message
    assert f"reason: changes requested in pull request #{number} by {REVIEWER}" in message


def test_sync_needs_a_github_repo(run_cli: Any, repo: Repo) -> None:
    missing = run_cli(
        cli, "review", "sync", "hello@1.0.0", "--pull-request", "1", "--repo", str(repo.path)
    )
    assert missing.code == 2 and "--github-repo" in missing.err


def test_steps_push_to_the_remote(run_cli: Any, repo: Repo, tmp_path: Path) -> None:
    bare = with_remote(repo, tmp_path)
    pushed = run_cli(
        cli, "review", "start", "hello@1.0.0", "--as", REVIEWER, "--repo", str(repo.path)
    )
    assert pushed.code == 0, pushed.err
    subject = git(tmp_path, "--git-dir", str(bare), "log", "-1", "--format=%s", "main")
    assert subject == "Marketplace review of hello 1.0.0: in-review"


def test_an_unsigned_offline_upload_is_refused_and_logged(
    run_cli: Any, repo: Repo, tmp_path: Path
) -> None:
    package = tmp_path / "hello-1.0.0.pxp"
    package.write_bytes(b"not a package")
    refused = run_cli(
        cli,
        "submit",
        "--offline",
        str(package),
        "--store",
        str(tmp_path / "store"),
        "--as",
        VENDOR,
        "--repo",
        str(repo.path),
        "--no-push",
    )
    assert refused.code == 2, refused.err
    [line] = read_uploads(tmp_path / "store" / "incoming" / "market-uploads.jsonl")
    assert line.outcome == "refused" and line.by == VENDOR
    not_a_file = run_cli(cli, "submit", "--offline", "nothing.pxp", "--store", "s", "--as", "x")
    assert not_a_file.code == 2 and "nothing.pxp is not a file" in not_a_file.err
    stray = run_cli(
        cli, "submit", "hello@1.0.0", "--listing", str(package), "--store", "s", "--as", "x"
    )
    assert stray.code == 2 and "go with --offline" in stray.err
    neither = run_cli(cli, "submit", "--store", "s", "--as", "x")
    assert neither.code == 2
    assert upload_log_path("https://store.example/x").name == "market-uploads.jsonl"
    assert upload_log_path(f"file://{tmp_path}") == tmp_path / "incoming" / "market-uploads.jsonl"


def test_reviewer_teams_mirrored_from_github_count_with_a_github_repo(
    run_cli: Any, repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    from factories import API, yaml_text

    mirrored = {
        "apiVersion": API,
        "kind": "Teams",
        "teams": {"market-reviewers": {"github": "powerx/market-reviewers"}},
    }
    repo.commit({"policies/teams.yaml": yaml_text(mirrored)}, "reviewers from GitHub")
    offline = review(run_cli, repo, "start", "hello@1.0.0", "--as", "gina")
    assert offline.code == 1 and "gina is not a Marketplace reviewer" in offline.err
    with serve_github() as github:
        github.add_team("powerx", "market-reviewers", ["gina"])
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("GITHUB_API_URL", github.url)
        started = review(
            run_cli, repo, "start", "hello@1.0.0", "--as", "gina", "--github-repo", github.repo
        )
    assert started.code == 0, started.err
    assert "in-review by gina" in started.out
