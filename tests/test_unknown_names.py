"""Names a repository does not define are refused with "did you mean", before any write.

Every command that takes an environment, plugin, version, tenant group or tenant runs
through the real CLI on a real repository; each refusal is exit 2, suggests the close
name, and leaves HEAD, every ref and the work tree (no new folder) as they were.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Repo
from factories import bundle, plugin_state, release, yaml_text
from test_approvals import PASS, key, teams_data

from pipeline.cli.powerx import cli

ENV_FILE = """apiVersion: powerx.io/v1alpha1
kind: Environment
name: {name}
position: {position}
tenants: [{{id: acme}}, {{id: globex}}]
groups: {{canary: [acme]}}
"""


@pytest.fixture
def repo(release_repo: Repo) -> Repo:
    """hello 1.0.0 and 1.1.0 released, 1.0.0 in test and prod; qa defined but not ordered."""
    release_repo.git("checkout", "-q", "main")
    release_repo.commit(
        {
            "policies/teams.yaml": yaml_text(teams_data()),
            "environments/prod/environment.yaml": ENV_FILE.format(name="prod", position=2),
            "environments/qa/environment.yaml": ENV_FILE.format(name="qa", position=3),
            "releases/hello/1.0.0/release.yaml": yaml_text(release("hello", "1.0.0")),
            "releases/hello/1.1.0/release.yaml": yaml_text(release("hello", "1.1.0", evidence={})),
            "releases/hello/1.1.0/hello-1.1.0.pxp.sigstore.json": bundle("hello", "1.1.0"),
            "environments/test/plugins/hello.yaml": yaml_text(plugin_state("hello", "1.0.0")),
            "environments/prod/plugins/hello.yaml": yaml_text(plugin_state("hello", "1.0.0")),
        },
        "hello released and deployed",
    )
    return release_repo


def _tree(path: Path) -> list[str]:
    """Every file and folder of the work tree (outside .git)."""
    found = []
    for root, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if d != ".git"]
        rel = Path(root).relative_to(path)
        found += [str(rel / name) + "/" for name in dirs] + [str(rel / name) for name in files]
    return sorted(found)


def _state(repo: Repo) -> tuple[str, str, str, list[str]]:
    refs = repo.git("for-each-ref", "--format=%(refname) %(objectname)")
    return repo.head(), refs, repo.git("status", "--porcelain", "--ignored"), _tree(repo.path)


@pytest.fixture
def refuse(run_cli: Any, repo: Repo) -> Iterator[Any]:
    """Run a command that must be refused: exit 2, "did you mean <guess>", nothing changed."""

    def check(argv: list[str], guess: str | None, *also: str, command: Any = cli) -> str:
        before = _state(repo)
        result = run_cli(command, *argv, "--repo", str(repo.path))
        assert result.code == 2, (argv, result.out, result.err)
        if guess is not None:
            assert f"did you mean {guess!r}?" in result.err, result.err
        for text in also:
            assert text in result.err, result.err
        assert "Traceback" not in result.err
        assert _state(repo) == before, argv
        return str(result.err)

    yield check


def test_promote(refuse: Any) -> None:
    refuse(["promote", "helo@1.0.0", "--to", "test"], "hello", "there is no plugin 'helo'")
    refuse(["promote", "hello@1.0.0", "--to", "tset"], "test", "'tset' is not in the promotion")
    refuse(["promote", "hello", "--to", "stagin"], "staging")
    err = refuse(["promote", "hello@1.1.1", "--to", "test"], "1.1.0")
    assert "there is no version '1.1.1' of hello" in err
    err = refuse(["promote", "hello@9.9.9"], None, "there is no version '9.9.9' of hello")
    assert "cannot be skipped" not in err and "released versions of hello: 1.1.0, 1.0.0" in err


def test_plan(refuse: Any) -> None:
    refuse(["plan", "hello@1.0.0", "--env", "prdo"], "prod", "there is no environment 'prdo'")
    refuse(["plan", "helo@1.0.0"], "hello")
    refuse(["plan", "hello@1.0.1"], "1.0.0", "hello@1.0.1 has no release manifest")


def test_rollback(refuse: Any) -> None:
    refuse(["rollback", "hello", "--env", "tset", "--reason", "x"], "test")
    refuse(["rollback", "helo", "--env", "test", "--reason", "x"], "hello")


def test_audit(refuse: Any) -> None:
    refuse(["audit", "--plugin", "helo"], "hello")
    refuse(["audit", "--env", "stagign"], "staging")


def test_approve(refuse: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "rita.key"
    key_file.write_bytes(key("rita")[1])
    monkeypatch.setenv("PX_PASSPHRASE", PASS.decode())
    who = ["--key", str(key_file), "--as", "rita"]
    refuse(["approve", "hello@1.0.0", "--env", "prdo", *who], "prod")
    refuse(["approve", "helo@1.0.0", "--env", "prod", *who], "hello")
    refuse(["approve", "hello@1.1.1", "--env", "prod", *who], "1.1.0")
    # qa has a folder but no place in the promotion order: no approval for it counts
    refuse(["approve", "hello@1.0.0", "--env", "qa", *who], None, "'qa' is not in the promotion")


def test_rollout(refuse: Any, tmp_path: Path) -> None:
    metrics = ["--metrics-file", str(tmp_path / "absent.json")]
    refuse(["rollout", "start", "hello@1.1.0", "--env", "prdo"], "prod")
    refuse(["rollout", "start", "helo@1.1.0", "--env", "prod"], "hello")
    refuse(["rollout", "start", "hello@1.1.1", "--env", "prod"], "1.1.0")
    refuse(
        ["rollout", "start", "hello@1.1.0", "--env", "prod", "--group", "canray"],
        "canary",
        "prod has no tenant group 'canray'",
    )
    refuse(["rollout", "step", "hello", "--env", "prdo", *metrics], "prod")
    refuse(["rollout", "step", "helo", "--env", "prod", *metrics], "hello")
    refuse(["rollout", "watch", "helo", "--env", "prod", *metrics, "--interval", "1"], "hello")
    refuse(["rollout", "status", "hello", "--env", "stagng"], "staging")
    refuse(["rollout", "status", "helo", "--env", "prod"], "hello")


def test_plugin_enable_and_disable(refuse: Any, tmp_path: Path) -> None:
    refuse(["plugin", "disable", "hello", "--env", "prdo"], "prod")
    refuse(["plugin", "disable", "helo", "--env", "prod"], "hello", "helo is not deployed in prod")
    store = ["--store", str(tmp_path / "store")]
    refuse(["plugin", "enable", "helo", "--env", "test", *store], "hello")
    assert not (tmp_path / "store").exists()


def test_export(refuse: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "exporter.key"
    key_file.write_bytes(key("rita")[1])
    monkeypatch.setenv("PX_PASSPHRASE", PASS.decode())
    out = tmp_path / "prod.bundle"
    refuse(["export", "--env", "prdo", "-o", str(out), "--key", str(key_file)], "prod")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exporter.key", "release-repo"]


def test_publish_create(refuse: Any, tmp_path: Path) -> None:
    from test_publish import package  # the real package fixture's recipe

    artifact = package.__wrapped__(tmp_path)  # type: ignore[attr-defined]
    store = tmp_path / "store"
    argv = ["publish", "create", "--artifact", str(artifact), "--store", str(store)]
    contact = ["--contact", "Ada=ada@example.com", "--no-push"]
    refuse([*argv, *contact, "--env", "tset"], "test", "there is no environment 'tset'")
    assert not store.exists()


def test_agent_sync_tenant(run_cli: Any, repo: Repo, tmp_path: Path) -> None:
    store = tmp_path / "store"
    folder = repo.path / "environments" / "prod"
    before = _tree(repo.path)
    argv = ["agent", "sync", "--env", str(folder), "--store", str(store), "--tenant", "acmee"]
    result = run_cli(cli, *argv)
    assert result.code == 2, result.err
    assert "tenant 'acmee' is not a tenant of environment 'prod'" in result.err
    assert "did you mean 'acme'?" in result.err
    assert f"{folder / 'environment.yaml'}" in result.err
    assert not store.exists() and _tree(repo.path) == before


def test_known_names_still_work(run_cli: Any, repo: Repo) -> None:
    """The lookup refuses only what is unknown: the same commands with good names run."""
    args = ["--repo", str(repo.path)]
    assert run_cli(cli, "audit", "--plugin", "hello", "--env", "prod", *args).code == 0
    status = run_cli(cli, "rollout", "status", "hello", "--env", "prod", *args)
    assert status.code == 0, status.err
    planned = run_cli(cli, "plan", "hello@1.1.0", "--env", "prod", *args)
    assert planned.code == 0, planned.err


def test_plugin_import_tenant_is_checked_before_the_commit(run_cli: Any, tmp_path: Path) -> None:
    from bundle_support import Site, Source

    source, site = Source(tmp_path / "a"), Site(tmp_path / "b")
    source.repo.commit(
        {"environments/prod/environment.yaml": ENV_FILE.format(name="prod", position=2)}, "tenants"
    )
    source.release("hello", "1.0.0")
    bundle_file = tmp_path / "prod.bundle"
    source.export(bundle_file)
    before = _state(site.repo)
    result = run_cli(cli, *site.argv(bundle_file, "--tenant", "globx"))
    assert result.code == 2, result.out + result.err
    assert "tenant 'globx' is not a tenant of environment 'prod'" in result.err
    assert "did you mean 'globex'?" in result.err
    assert _state(site.repo) == before
    assert not (site.store / "plugins").exists()
