"""`powerx agent sync`, `powerx plugin enable|disable|status`: a site's release repo in real git."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Repo, RunCli, git
from factories import yaml_text
from test_agent_support import FAIL, Site, state

from pipeline.agent import PluginStore, sync
from pipeline.agent.switch import SwitchRequest, set_enabled
from pipeline.cli.powerx import cli
from pipeline.errors import GateError, InputError
from pipeline.gitrepo import GitRepo, read_trailers
from pipeline.scaffold import init_repo


@pytest.fixture
def site_repo(tmp_path: Path) -> tuple[Repo, Site]:
    """A site's release repo (`powerx init`) whose prod folder a host syncs from."""
    path = tmp_path / "site"
    init_repo(path)
    repo = Repo(path)
    site = Site(tmp_path / "host")
    site.env_dir = path / "environments" / "prod"
    return repo, site


def deploy(repo: Repo, site: Site, name: str, version: str, enabled: bool | None = None) -> str:
    """Commit a plugin's state into prod (building its package into the host's store)."""
    digest = site.package(name, version)
    data = state(name, version, digest)
    if enabled is not None:
        data["enabled"] = enabled
    text = "# managed by the release team\n" + yaml_text(data)
    repo.commit({f"environments/prod/plugins/{name}.yaml": text}, f"deploy {name}")
    return digest


def store_args(site: Site) -> list[str]:
    return ["--store", str(site.store.root)]


def test_import_disabled_sync_enable_sync(site_repo: tuple[Repo, Site], run_cli: RunCli) -> None:
    repo, site = site_repo
    digest = site.package("hello", "1.0.0")
    text = "# managed by the release team\n" + yaml_text(
        state("hello", "1.0.0", digest, enabled=False)
    )
    repo.commit({"environments/prod/plugins/hello.yaml": text}, "import hello disabled")
    env = ["--env", str(site.env_dir)]

    synced = run_cli(cli, "agent", "sync", *env, *store_args(site))
    assert synced.code == 0, synced.err
    assert "disabled" in synced.out and "health check passed" in synced.out
    assert site.active_version("hello") is None

    enabled = run_cli(
        cli, "plugin", "enable", "hello", "--env", "prod", "--repo", str(repo.path),
        *store_args(site), "--operator", "ada", "--reason", "checked on host-1",
    )  # fmt: skip
    assert enabled.code == 0, enabled.err
    assert "enabled hello 1.0.0 in prod" in enabled.out and "health check passed" in enabled.out
    message = repo.git("log", "-1", "--format=%B")
    trailers = read_trailers(message)
    assert trailers["Action"] == "enable" and trailers["Operator"] == "ada"
    assert (trailers["Plugin"], trailers["Version"], trailers["Environment"]) == (
        "hello",
        "1.0.0",
        "prod",
    )
    assert trailers["Digest"] == f"sha256:{digest}" and "Health-Checked" in trailers
    content = (site.env_dir / "plugins" / "hello.yaml").read_text()
    assert content.startswith("# managed by the release team\n") and "enabled: true" in content
    assert repo.git("status", "--porcelain") == ""

    again = run_cli(cli, "agent", "sync", *env, *store_args(site), "--format", "json")
    assert again.code == 0 and json.loads(again.out)["plugins"][0]["action"] == "installed"
    assert site.active_version("hello") == "1.0.0"

    same = run_cli(
        cli, "plugin", "enable", "hello", "--env", "prod", "--repo", str(repo.path), *store_args(site)
    )  # fmt: skip
    assert same.code == 0 and "already enabled" in same.out

    disabled = run_cli(
        cli, "plugin", "disable", "hello", "--env", "prod", "--repo", str(repo.path),
        "--operator", "bob",
    )  # fmt: skip
    assert disabled.code == 0 and "disabled hello 1.0.0" in disabled.out
    assert read_trailers(repo.git("log", "-1", "--format=%B"))["Action"] == "disable"
    run_cli(cli, "agent", "sync", *env, *store_args(site))
    assert site.active_version("hello") is None

    audit = run_cli(cli, "audit", "--repo", str(repo.path), "--plugin", "hello")
    lines = audit.out.splitlines()
    assert "disable" in lines[1] and "bob" in lines[1]
    assert "enable" in lines[2] and "ada" in lines[2]


def test_enable_is_refused_until_the_health_check_passed(
    site_repo: tuple[Repo, Site], run_cli: RunCli
) -> None:
    repo, site = site_repo
    digest = site.package("hello", "1.0.0", command=FAIL)
    repo.commit(
        {
            "environments/prod/plugins/hello.yaml": yaml_text(
                state("hello", "1.0.0", digest, enabled=False)
            )
        }
    )
    head = repo.head()
    args = [
        "plugin",
        "enable",
        "hello",
        "--env",
        "prod",
        "--repo",
        str(repo.path),
        *store_args(site),
    ]
    never = run_cli(cli, *args)
    assert never.code == 1 and "was never synced" in never.err and "powerx agent sync" in never.err

    synced = run_cli(cli, "agent", "sync", "--env", str(site.env_dir), *store_args(site))
    assert synced.code == 1 and "FAILED (enable will be refused)" in synced.out
    failing = run_cli(cli, *args)
    assert failing.code == 1 and "its health check failed" in failing.err
    assert "database unreachable" in failing.err
    assert repo.head() == head

    status = run_cli(cli, "plugin", "status", *store_args(site), "--format", "json")
    assert status.code == 1
    row = json.loads(status.out)["plugins"][0]
    assert (row["name"], row["healthy"], row["enabled"], row["activeVersion"]) == (
        "hello",
        False,
        False,
        None,
    )


def test_enable_refuses_a_version_the_store_never_checked(site_repo: tuple[Repo, Site]) -> None:
    repo, site = site_repo
    deploy(repo, site, "hello", "1.0.0", enabled=False)
    sync(site.env_dir, site.store)
    deploy(repo, site, "hello", "1.1.0", enabled=False)
    request = SwitchRequest("hello", "prod", True, operator="ada")
    with pytest.raises(GateError, match=r"hello 1\.1\.0: it has not been health-checked"):
        set_enabled(GitRepo(repo.path), request, store=site.store)
    with pytest.raises(InputError, match="needs the plugin store"):
        set_enabled(GitRepo(repo.path), request)
    repo.commit(
        {
            "environments/test/plugins/hello.yaml": yaml_text(
                state("hello", "1.1.0", "a" * 64, enabled=False)
            )
        }
    )
    with pytest.raises(InputError, match="follows environment 'prod', not 'test'"):
        set_enabled(GitRepo(repo.path), SwitchRequest("hello", "test", True), store=site.store)


def test_switch_of_an_unknown_plugin_is_bad_input(
    site_repo: tuple[Repo, Site], run_cli: RunCli
) -> None:
    repo, _ = site_repo
    result = run_cli(cli, "plugin", "disable", "ghost", "--env", "prod", "--repo", str(repo.path))
    assert result.code == 2 and "ghost is not deployed in prod" in result.err


def test_disable_with_push_lands_on_the_remote(
    site_repo: tuple[Repo, Site], tmp_path: Path, run_cli: RunCli
) -> None:
    repo, site = site_repo
    deploy(repo, site, "hello", "1.0.0")
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    repo.git("remote", "add", "origin", str(remote))
    repo.git("push", "-q", "origin", "main")
    result = run_cli(
        cli, "plugin", "disable", "hello", "--env", "prod", "--repo", str(repo.path), "--push",
        "--operator", "ada",
    )  # fmt: skip
    assert result.code == 0, result.err
    landed = git(remote, "log", "-1", "--format=%B", "main")
    assert read_trailers(landed)["Action"] == "disable"
    again = run_cli(
        cli, "plugin", "disable", "hello", "--env", "prod", "--repo", str(repo.path), "--push"
    )
    assert again.code == 0 and "already disabled" in again.out


def test_status_shows_drift_against_the_environment(
    site_repo: tuple[Repo, Site], run_cli: RunCli
) -> None:
    repo, site = site_repo
    never = run_cli(cli, "plugin", "status", *store_args(site))
    assert never.code == 2 and "never synced" in never.err
    deploy(repo, site, "hello", "1.0.0")
    sync(site.env_dir, site.store)
    clean = run_cli(cli, "plugin", "status", *store_args(site), "--env", str(site.env_dir))
    assert clean.code == 0 and "hello" in clean.out and "healthy" in clean.out
    assert "drift:" not in clean.out
    deploy(repo, site, "hello", "1.1.0")
    drift = run_cli(cli, "plugin", "status", *store_args(site), "--env", str(site.env_dir))
    assert drift.code == 1 and "the environment changed since the last sync" in drift.out
    deploy(repo, site, "other", "1.0.0")
    new = run_cli(cli, "plugin", "status", *store_args(site), "--env", str(site.env_dir))
    assert "new in the environment: the next sync installs it" in new.out
    site.store.deactivate("hello")
    by_hand = run_cli(cli, "plugin", "status", *store_args(site), "--format", "json")
    assert json.loads(by_hand.out)["plugins"][0]["drift"].startswith("the active link differs")


def test_sync_cli_bad_input_and_failures(site_repo: tuple[Repo, Site], run_cli: RunCli) -> None:
    repo, site = site_repo
    missing = run_cli(cli, "agent", "sync", "--env", str(site.root / "nope"), *store_args(site))
    assert missing.code == 2 and "does not exist" in missing.err
    digest = site.package("hello", "1.0.0", store=False)
    repo.commit(
        {"environments/prod/plugins/hello.yaml": yaml_text(state("hello", "1.0.0", digest))}
    )
    result = run_cli(cli, "agent", "sync", "--env", str(site.env_dir), *store_args(site))
    assert result.code == 1 and "FAILED: hello" in result.out
    assert "is not in the plugin store" in result.out


def test_pause_seam_rejects_unknown_stages(
    site_repo: tuple[Repo, Site], run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, site = site_repo
    monkeypatch.setenv("POWERX_TEST_PAUSE_AT", "nowhere")
    result = run_cli(cli, "agent", "sync", "--env", str(site.env_dir), *store_args(site))
    assert result.code == 2 and "POWERX_TEST_PAUSE_AT must be one of" in result.err


def test_store_path_from_the_environment_variable(
    site_repo: tuple[Repo, Site], run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, site = site_repo
    deploy(repo, site, "hello", "1.0.0")
    monkeypatch.setenv("POWERX_PLUGIN_STORE", str(site.store.root))
    assert run_cli(cli, "agent", "sync", "--env", str(site.env_dir)).code == 0
    assert PluginStore(site.store.root).active_target("hello") is not None
