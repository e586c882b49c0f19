"""`powerx publish create`: verify, store, commit, push and open the pull request."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT, REPORTS, Repo, git
from factories import session_key
from githubstub import TOKEN, serve_github

from pipeline.cli.powerx import cli
from pipeline.models.signing import ReleasePredicate
from pipeline.packaging import build_plugin, pack_plugin
from pipeline.signing.sign import sign_with_key

PASSING = REPORTS / "passing"


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """hello-world 1.1.0 built, packed and signed with the test key."""
    plugin = tmp_path / "hello-world"
    shutil.copytree(
        PROJECT / "examples" / "hello-world",
        plugin,
        ignore=shutil.ignore_patterns("build", "dist", "*.pxp"),
    )
    build_plugin(plugin)
    packed = pack_plugin(plugin, tmp_path / "out")
    predicate = ReleasePredicate.model_validate(
        {"plugin": "hello-world", "version": "1.1.0", "sourceCommit": "a" * 40, "builder": "tests"}
    )
    bundle = sign_with_key(packed.sha256, packed.path.name, predicate, session_key()[0])
    packed.path.with_name(packed.path.name + ".sigstore.json").write_bytes(bundle)
    return packed.path


@pytest.fixture
def remote(release_repo: Repo, tmp_path: Path) -> Path:
    release_repo.git("checkout", "-q", "main")
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    release_repo.git("remote", "add", "origin", str(bare))
    release_repo.git("push", "-q", "origin", "main")
    return bare


def publish_args(repo: Repo, package: Path, store: Path, *extra: str) -> list[str]:
    return [
        "publish",
        "create",
        "--artifact",
        str(package),
        "--repo",
        str(repo.path),
        "--store",
        str(store),
        "--contact",
        "Ada=ada@example.com",
        "--change",
        "PX-7=Greet in Welsh=https://example.com/PX-7",
        "--evidence",
        f"coverage={PASSING / 'coverage.json'}",
        "--evidence",
        f"tests={PASSING / 'junit.xml'}",
        "--evidence",
        f"scans={PASSING / 'bandit.sarif'}",
        "--env",
        "test",
        *extra,
    ]


def test_publish_opens_a_release_request_that_passes_check(
    run_cli: Any,
    release_repo: Repo,
    remote: Path,
    package: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with serve_github() as github:
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("GITHUB_API_URL", github.url)
        result = run_cli(
            cli,
            *publish_args(release_repo, package, tmp_path / "store", "--github-repo", github.repo),
        )
        assert result.code == 0, result.err
        assert TOKEN not in result.out + result.err
        assert "pull request: " in result.out
        pulls = list(github.pulls.values())
        assert [(p["head"]["ref"], p["base"]["ref"], p["title"]) for p in pulls] == [
            ("release/hello-world-1.1.0", "main", "Release hello-world@1.1.0")
        ]
        again = run_cli(
            cli,
            *publish_args(release_repo, package, tmp_path / "store", "--github-repo", github.repo),
        )
        assert again.code == 0 and "(already open)" in again.out and len(github.pulls) == 1
    stored = list((tmp_path / "store" / "sha256").rglob("*"))
    assert any(p.is_file() for p in stored)
    files = git(
        remote.parent,
        "--git-dir",
        str(remote),
        "ls-tree",
        "-r",
        "--name-only",
        "release/hello-world-1.1.0",
    ).split()
    assert "releases/hello-world/1.1.0/release.yaml" in files
    assert "environments/test/plugins/hello-world.yaml" in files
    assert "releases/hello-world/1.1.0/hello-world-1.1.0.pxp.sigstore.json" in files
    release_repo.git("fetch", "-q", "origin")
    check = run_cli(
        cli,
        "check",
        "--repo",
        str(release_repo.path),
        "--base",
        "origin/main",
        "--head",
        "origin/release/hello-world-1.1.0",
    )
    assert check.code == 0, check.out


def test_publish_refuses_what_it_cannot_trust(
    run_cli: Any, release_repo: Repo, remote: Path, package: Path, tmp_path: Path
) -> None:
    bundle = package.with_name(package.name + ".sigstore.json")
    data = bytearray(package.read_bytes())
    tampered = tmp_path / "tampered" / package.name
    tampered.parent.mkdir()
    tampered.write_bytes(package.read_bytes())
    shutil.copy(bundle, tampered.with_name(tampered.name + ".sigstore.json"))
    data[-40] ^= 1
    tampered.write_bytes(bytes(data))
    refused = run_cli(cli, *publish_args(release_repo, tampered, tmp_path / "store", "--no-pr"))
    assert refused.code in (1, 2)
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").rglob("*.pxp"))
    assert "release/hello-world-1.1.0" not in release_repo.git("branch", "-a")
    no_token = run_cli(
        cli, *publish_args(release_repo, package, tmp_path / "store", "--github-repo", "powerx/x")
    )
    assert no_token.code == 2 and "GITHUB_TOKEN" in no_token.err
    local = run_cli(cli, *publish_args(release_repo, package, tmp_path / "store", "--no-push"))
    assert local.code == 0
    assert "release/hello-world-1.1.0" in release_repo.git("branch")
