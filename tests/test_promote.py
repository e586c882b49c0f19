"""`powerx promote`: gates, order, soak time and approvals, on real repositories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import REPORTS, Repo, git
from factories import bundle, plugin_state, release, yaml_text
from githubstub import TOKEN, serve_github
from test_approvals import NOW, key, teams_data

from pipeline.cli.powerx import cli
from pipeline.errors import InputError
from pipeline.gitrepo import GitRepo, read_trailers
from pipeline.policy.signed_approvals import ApproveRequest, record_approval
from pipeline.promotion.promote import PromoteRequest, promote

PASSING = REPORTS / "passing"
FAILING = REPORTS / "failing"


def publish(repo: Repo, version: str, reports: Any = PASSING, plugin: str = "hello") -> None:
    folder = f"releases/{plugin}/{version}"
    repo.commit(
        {
            f"{folder}/release.yaml": yaml_text(release(plugin, version)),
            f"{folder}/{plugin}-{version}.pxp.sigstore.json": bundle(plugin, version),
            f"{folder}/evidence/coverage.json": (reports / "coverage.json").read_bytes(),
            f"{folder}/evidence/junit.xml": (reports / "junit.xml").read_bytes(),
            f"{folder}/evidence/bandit.sarif": (reports / "bandit.sarif").read_bytes(),
        },
        f"Publish {plugin} {version}\n\nPowerX-Action: publish\nPowerX-Operator: ada",
    )


@pytest.fixture
def repo(release_repo: Repo) -> Repo:
    release_repo.git("checkout", "-q", "main")
    release_repo.commit({"policies/teams.yaml": yaml_text(teams_data())}, "teams")
    publish(release_repo, "1.0.0")
    return release_repo


def run(repo: Repo, when: datetime = NOW, **fields: Any) -> Any:
    request = PromoteRequest(now=when, operator="robot", **fields)
    return promote(GitRepo(repo.path), request, branch="main", when=when.timestamp())


def approve(repo: Repo, who: str, env: str, version: str = "1.0.0") -> None:
    record_approval(
        GitRepo(repo.path),
        ApproveRequest("hello", version, env, who, key(who)[0], NOW),
        branch="main",
    )


def state(repo: Repo, env: str) -> str:
    text = repo.git("show", f"main:environments/{env}/plugins/hello.yaml")
    return next(line.split(": ")[1] for line in text.splitlines() if line.startswith("version:"))


def test_a_release_walks_the_order_with_its_approvals(repo: Repo) -> None:
    first = run(repo, plugin="hello", version="1.0.0", to="test")
    assert [(p.target, p.version) for p, _ in first.landed] == [("test", "1.0.0")]
    message = repo.git("log", "-1", "--format=%B")
    assert message.startswith(
        "Promote hello 1.0.0 to test\n\ntest: (not deployed) -> 1.0.0\ndigest: sha256:"
    )
    assert "- PX-1: Greet people" in message
    assert read_trailers(message) == {
        "Action": "promote",
        "Plugin": "hello",
        "Version": "1.0.0",
        "Environment": "test",
        "Operator": "robot",
        "From": "release",
    }
    held = run(repo)
    assert held.landed == [] and held.held == [("hello", "0/1 approval(s) for staging (nobody)")]
    approve(repo, "ada", "staging")  # the author of the release: does not count
    assert "an author never approves their own release" in run(repo).held[0][1]
    approve(repo, "quinn", "staging")
    moved = run(repo)
    assert [(p.source, p.target) for p, _ in moved.landed] == [("test", "staging")]
    assert state(repo, "staging") == "1.0.0"
    approve(repo, "quinn", "prod")
    approve(repo, "rita", "prod")
    assert [p.target for p, _ in run(repo).landed] == ["prod"]
    assert run(repo).held == [
        ("hello", "every environment already runs what the one before it runs for hello")
    ]


def test_order_gates_and_soak_hold_releases_back(repo: Repo) -> None:
    run(repo, plugin="hello", version="1.0.0", to="test")
    skip = run(repo, plugin="hello", version="1.0.0", to="prod")
    assert skip.held == [("hello", "hello is not deployed in staging: promote it there first")]
    publish(repo, "2.0.0", FAILING)
    bad = run(repo, plugin="hello", version="2.0.0", to="test")
    assert bad.landed == [] and "hello@2.0.0 fails its gates: coverage" in bad.held[0][1]
    assert state(repo, "test") == "1.0.0"
    wrong = run(repo, plugin="hello", version="2.0.0", to="staging")
    assert "test runs hello@1.0.0, not 2.0.0: environments cannot be skipped" in wrong.held[0][1]
    promotion = (repo.path / "policies/promotion.yaml").read_text() + "soakMinutes:\n  test: 60\n"
    repo.commit({"policies/promotion.yaml": promotion}, "soak an hour in test")
    approve(repo, "quinn", "staging")
    arrived = datetime.fromtimestamp(
        int(repo.git("log", "-1", "--format=%ct", "--", "environments/test/plugins/hello.yaml")),
        UTC,
    )
    early = run(repo, when=arrived + timedelta(minutes=30))
    assert early.held == [("hello", "hello@1.0.0 has soaked 30 of 60 minute(s) in test")]
    assert [p.target for p, _ in run(repo, when=arrived + timedelta(minutes=61)).landed] == [
        "staging"
    ]


def test_cli_promote(run_cli: Any, repo: Repo) -> None:
    result = run_cli(
        cli, "promote", "hello@1.0.0", "--to", "test", "--repo", str(repo.path), "--operator", "ada"
    )
    assert result.code == 0, result.err
    assert result.out.startswith("promoted hello@1.0.0: release -> test (commit ")
    held = run_cli(cli, "promote", "hello", "--repo", str(repo.path))
    assert held.code == 1 and held.out.startswith("held hello: 0/1 approval(s) for staging")
    unknown = run_cli(cli, "promote", "--to", "qa", "--repo", str(repo.path))
    assert unknown.code == 2 and "not in the promotion order" in unknown.err
    assert run_cli(cli, "promote", "--repo", str(repo.path)).code == 0


def test_promote_pushes_to_a_remote(repo: Repo, tmp_path: Any) -> None:
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    repo.git("remote", "add", "origin", str(bare))
    repo.git("push", "-q", "origin", "main")
    request = PromoteRequest(now=NOW, plugin="hello", version="1.0.0", to="test")
    result = promote(GitRepo(repo.path), request, branch="main", remote="origin")
    assert git(tmp_path, "--git-dir", str(bare), "rev-parse", "main") == result.landed[0][1]


def test_freezes_and_windows_need_a_recorded_emergency(repo: Repo) -> None:
    windows = {
        "apiVersion": "powerx.io/v1alpha1",
        "kind": "ChangeWindows",
        "timezone": "Europe/Berlin",
        "environments": {
            "test": {
                "windows": [
                    {"days": ["mon", "tue", "wed", "thu"], "start": "09:00", "end": "16:00"}
                ],
                "freezes": [
                    {
                        "from": "2026-12-20T00:00:00Z",
                        "to": "2027-01-04T00:00:00Z",
                        "reason": "year-end freeze",
                    }
                ],
            }
        },
    }
    repo.commit({"policies/windows.yaml": yaml_text(windows)}, "windows")
    tuesday_morning = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)  # 10:30 in Berlin
    saturday = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    christmas = datetime(2026, 12, 22, 10, 0, tzinfo=UTC)
    assert run(repo, when=saturday, plugin="hello", version="1.0.0", to="test").held == [
        (
            "hello",
            "test is outside its go-live windows (Sat 13:00 Europe/Berlin) (an emergency override needs --emergency REASON)",
        )
    ]
    frozen = run(repo, when=christmas, plugin="hello", version="1.0.0", to="test").held[0][1]
    assert frozen.startswith("test is frozen until 2027-01-04T00:00:00+00:00: year-end freeze")
    forced = run(
        repo, when=christmas, plugin="hello", version="1.0.0", to="test", emergency="INC-42 hotfix"
    )
    assert len(forced.landed) == 1
    assert read_trailers(repo.git("log", "-1", "--format=%B"))["Emergency"] == "INC-42 hotfix"
    publish(repo, "1.0.1")
    assert (
        len(run(repo, when=tuesday_morning, plugin="hello", version="1.0.1", to="test").landed) == 1
    )


def test_windows_are_validated() -> None:
    from pydantic import ValidationError

    from pipeline.models.windows import ChangeWindows

    base = {"apiVersion": "powerx.io/v1alpha1", "kind": "ChangeWindows"}
    with pytest.raises(ValidationError, match="unknown time zone"):
        ChangeWindows.model_validate({**base, "timezone": "Mars/Olympus"})
    with pytest.raises(ValidationError, match="end must be later than start"):
        ChangeWindows.model_validate(
            {
                **base,
                "environments": {
                    "prod": {"windows": [{"days": ["mon"], "start": "17:00", "end": "09:00"}]}
                },
            }
        )
    with pytest.raises(ValidationError, match="'to' must be later than 'from'"):
        ChangeWindows.model_validate(
            {
                **base,
                "environments": {
                    "prod": {
                        "freezes": [
                            {
                                "from": "2027-01-02T00:00:00Z",
                                "to": "2027-01-01T00:00:00Z",
                                "reason": "x",
                            }
                        ]
                    }
                },
            }
        )


def test_plan_renders_and_locks_the_version(run_cli: Any, repo: Repo, tmp_path: Any) -> None:
    held = run_cli(cli, "plan", "hello@1.0.0", "--repo", str(repo.path), "--lock")
    assert held.code == 2 and "cannot be locked" in held.err
    approve(repo, "quinn", "prod")
    approve(repo, "rita", "prod")
    result = run_cli(cli, "plan", "hello@1.0.0", "--repo", str(repo.path), "--lock")
    assert result.code == 0, result.err
    text = result.out
    assert text.startswith("# Release plan: hello 1.0.0")
    assert "- **PX-1**: Greet people (https://example.com/PX-1)" in text
    assert "| coverage | pass | &gt;= 90% | 100.00% (coverage.py-json) |" in text
    assert "2/2 approval(s) for prod (" in text
    assert "- prod: not deployed" in text and "prod is open now" in text
    assert "locked hello@1.0.0: tag hello/v1.0.0" in text
    tag_message = repo.git("tag", "-l", "--format=%(contents)", "hello/v1.0.0")
    assert tag_message.startswith("# Release plan: hello 1.0.0")
    published = repo.git(
        "log", "--format=%H", "--diff-filter=A", "--", "releases/hello/1.0.0/release.yaml"
    )
    assert repo.git("rev-list", "-n", "1", "hello/v1.0.0") == published
    again = run_cli(cli, "plan", "hello@1.0.0", "--repo", str(repo.path), "--lock")
    assert again.code == 2 and "already locked" in again.err
    written = run_cli(
        cli, "plan", "hello@1.0.0", "--repo", str(repo.path), "-o", str(tmp_path / "plan.md")
    )
    assert written.code == 0 and (tmp_path / "plan.md").read_text().startswith("# Release plan")
    # A locked version: even notes may no longer change.
    repo.git("checkout", "-q", "-b", "edit")
    repo.commit(
        {
            "releases/hello/1.0.0/release.yaml": yaml_text(
                release("hello", "1.0.0", notes="Sneaky edit.")
            )
        }
    )
    check = run_cli(cli, "check", "--repo", str(repo.path), "--base", "main", "--format", "json")
    assert check.code == 1
    assert '"found": "changed"' in check.out and "locked by its approved plan" in check.out


def test_remind_lists_overdue_requests_and_notifies(
    run_cli: Any, repo: Repo, tmp_path: Any
) -> None:
    import json as jsonlib
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(jsonlib.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    assert (
        run_cli(cli, "remind", "--repo", str(repo.path)).out
        == "no release request is waiting for approvals\n"
    )
    repo.git("checkout", "-q", "-b", "release/hello-2.0.0")
    publish(repo, "2.0.0")
    repo.commit(
        {"environments/staging/plugins/hello.yaml": yaml_text(plugin_state("hello", "2.0.0"))},
        "ask for staging",
    )
    repo.git("checkout", "-q", "main")
    fresh = run_cli(cli, "remind", "--repo", str(repo.path))
    assert fresh.code == 0
    assert fresh.out.startswith(
        "waiting  hello@2.0.0 (release/hello-2.0.0) 0.0 h: 0/1 approval(s) for staging"
    )
    approvals = repo.path / "policies/approvals.yaml"
    approvals.write_text(
        "apiVersion: powerx.io/v1alpha1\nkind: ApprovalPolicy\nslaHours: 0.000000001\nenvironments:\n  staging: {required: 1}\n"
    )
    repo.commit({}, "a tight SLA")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        overdue = run_cli(cli, "remind", "--repo", str(repo.path), "--webhook", url)
    finally:
        server.shutdown()
        server.server_close()
    assert overdue.code == 1 and overdue.out.startswith("OVERDUE  hello@2.0.0")
    event = received[0]
    assert (event["specversion"], event["type"]) == ("1.0", "io.powerx.approvals.overdue")
    assert event["source"] == "urn:powerx:release:approvals"
    assert event["subject"] == "hello@2.0.0"
    assert event["data"]["overdue"][0]["release"] == "hello@2.0.0"
    assert "past their approval SLA" in event["data"]["text"]
    with serve_github() as github:
        github.open_pull("release/hello-2.0.0")
        github.open_pull("release/other-1.0.0")
        env = {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": github.url}
        args = ["remind", "--repo", str(repo.path), "--comment", "--github-repo", github.repo]
        with pytest.MonkeyPatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            first = run_cli(cli, *args)
            second = run_cli(cli, *args)
    assert first.code == 1 and "reminded: " in first.out
    assert [c["body"].splitlines()[1] for c in github.comments[1]] == [
        "**hello@2.0.0** has waited 0.0 h for its approvals to staging, past the SLA."
    ]
    assert github.comments[2] == []  # no overdue request on that branch
    assert second.code == 1 and "reminded" not in second.out  # once a day
    assert TOKEN not in first.out + first.err + second.out + second.err


def test_a_rolled_back_version_is_not_promoted_back(repo: Repo) -> None:
    from pipeline.promotion.rollback import RollbackRequest, rollback

    run(repo, plugin="hello", version="1.0.0", to="test")
    publish(repo, "1.1.0")
    assert len(run(repo, plugin="hello", version="1.1.0", to="test").landed) == 1
    rollback(GitRepo(repo.path), RollbackRequest("hello", "test", "broken"), branch="main")
    again = run(repo, plugin="hello", version="1.1.0", to="test")
    assert again.landed == []
    assert again.held[0][1].startswith("hello@1.1.0 was rolled back from test (commit ")
    with pytest.raises(InputError, match="there is no plugin 'nope'"):
        run(repo, plugin="nope")


def test_a_concurrent_rollback_is_not_overwritten(repo: Repo, tmp_path: Any) -> None:

    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    repo.git("remote", "add", "origin", str(bare))
    run(repo, plugin="hello", version="1.0.0", to="test")
    approve(repo, "quinn", "staging")
    repo.git("push", "-q", "origin", "main")
    other = Repo(tmp_path / "other")
    git(tmp_path, "clone", "-q", str(bare), str(other.path))
    gitrepo = GitRepo(repo.path)
    attempts: list[str] = []
    real = gitrepo.fetch

    def fetch_then_race(remote: str, branch: str) -> Any:
        tip = real(remote, branch)
        if not attempts:  # another runner removes hello from test before our push
            other.git("pull", "-q")
            other.commit({"environments/test/plugins/hello.yaml": None}, "test: remove hello")
            other.git("push", "-q", "origin", "main")
        attempts.append(str(tip.id) if tip else "")
        return tip

    gitrepo.fetch = fetch_then_race  # type: ignore[method-assign]
    with pytest.raises(Exception, match="no longer holds after a concurrent change"):
        promote(gitrepo, PromoteRequest(now=NOW, plugin="hello"), branch="main", remote="origin")
    assert "environments/staging/plugins/hello.yaml" not in git(
        tmp_path, "--git-dir", str(bare), "ls-tree", "-r", "--name-only", "main"
    )


def test_concurrent_runners_promote_different_plugins_exactly_once(
    repo: Repo, tmp_path: Any
) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    plugins = [f"p{index}" for index in range(8)]
    for plugin in plugins:
        publish(repo, "1.0.0", plugin=plugin)
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    repo.git("remote", "add", "origin", str(bare))
    repo.git("push", "-q", "origin", "main")
    clones = []
    for plugin in plugins:
        clone = tmp_path / f"runner-{plugin}"
        git(tmp_path, "clone", "-q", str(bare), str(clone))
        clones.append(clone)
    powerx = Path(sys.executable).parent / "powerx"
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "GIT_AUTHOR_NAME": "runner",
        "GIT_AUTHOR_EMAIL": "r@x",
    }
    processes = [
        subprocess.Popen(
            [
                str(powerx),
                "promote",
                f"{plugin}@1.0.0",
                "--to",
                "test",
                "--repo",
                str(clone),
                "--push",
                "origin",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for plugin, clone in zip(plugins, clones, strict=True)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in processes]
    assert [p.returncode for p in processes] == [0] * len(plugins), outputs
    files = git(
        tmp_path,
        "--git-dir",
        str(bare),
        "ls-tree",
        "-r",
        "--name-only",
        "main",
        "environments/test/plugins",
    ).split()
    assert sorted(files) == sorted(f"environments/test/plugins/{plugin}.yaml" for plugin in plugins)
    subjects = git(tmp_path, "--git-dir", str(bare), "log", "--format=%s", "main").splitlines()
    assert sorted(s for s in subjects if s.startswith("Promote")) == sorted(
        f"Promote {p} 1.0.0 to test" for p in plugins
    )


def test_plan_lock_pushes_the_tag_to_the_remote(run_cli: Any, repo: Repo, tmp_path: Any) -> None:
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    repo.git("remote", "add", "origin", str(bare))
    repo.git("push", "-q", "origin", "main")
    approve(repo, "quinn", "prod")
    approve(repo, "rita", "prod")
    args = ["plan", "hello@1.0.0", "--repo", str(repo.path)]
    misuse = run_cli(cli, *args, "--push")
    assert misuse.code == 2 and "needs --lock" in misuse.err
    result = run_cli(cli, *args, "--lock", "--push")
    assert result.code == 0, result.err
    assert "tag pushed to origin" in result.out
    assert git(bare, "cat-file", "-t", "hello/v1.0.0") == "tag"
    assert git(bare, "rev-list", "-n", "1", "hello/v1.0.0") == repo.git(
        "rev-list", "-n", "1", "hello/v1.0.0"
    )
    assert git(bare, "tag", "-l", "--format=%(contents)", "hello/v1.0.0").startswith(
        "# Release plan: hello 1.0.0"
    )
    # A second lock elsewhere cannot move the tag on the remote.
    repo.git("tag", "-d", "hello/v1.0.0")
    again = run_cli(cli, *args, "--lock", "--push")
    assert again.code == 0 and "tag already on origin" in again.out
