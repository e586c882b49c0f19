"""`px-admin diff ENV_A ENV_B`: every kind of difference between two environments of a
real release repo, in text and JSON; bad input refused with exit 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Repo, RunCli
from factories import API, digest_of, plugin_state, yaml_text

from pipeline.cli.admin import cli
from pipeline.scaffold import init_repo

CANARY = {
    "version": "1.1.0",
    "digest": digest_of("hello", "1.1.0"),
    "weight": 10,
    "step": 0,
    "group": "canary",
    "startedAt": "2026-01-01T00:00:00Z",
    "stepStartedAt": "2026-01-01T00:00:00Z",
}


def environment(name: str, position: int, tenants: list[dict[str, Any]], **groups: Any) -> str:
    data = {"apiVersion": API, "kind": "Environment", "name": name, "position": position}
    return yaml_text({**data, "tenants": tenants, "groups": groups})


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """staging and prod that differ in every way the diff knows, plus `same` alike in both."""
    init_repo(tmp_path / "repo")
    repo = Repo(tmp_path / "repo")
    read = ["tenant-data:read"]
    staging: list[dict[str, Any]] = [
        {"id": "acme", "name": "Acme", "grants": {"hello": read, "meter": read}},
        {"id": "globex", "name": "Globex (staging)", "grants": {"hello": read}},
        {"id": "initech", "grants": {}},
    ]
    prod: list[dict[str, Any]] = [
        {"id": "acme", "name": "Acme", "grants": {"hello": [*read, "network"]}},
        {"id": "globex", "name": "Globex", "grants": {"hello": read}},
        {"id": "umbrella", "name": "Umbrella"},
    ]
    trial = {
        "apiVersion": API,
        "kind": "Entitlement",
        "plugin": "meter",
        "licensee": "Initech",
        "type": "trial",
        "tenant": "initech",
        "notAfter": "2030-01-01T00:00:00Z",
    }
    rebuilt = digest_of("rebuilt", "1.0.0-other")
    files = {
        "environments/staging/environment.yaml": environment(
            "staging", 1, staging, canary=["acme", "globex"], beta=["initech"]
        ),
        "environments/prod/environment.yaml": environment(
            "prod", 2, prod, canary=["globex"], vip=["umbrella"]
        ),
        "entitlements/meter/initech/trial.yaml": yaml_text(trial),
    }
    states = {
        "staging": {
            "same": plugin_state("same"),
            "hello": plugin_state("hello", "1.1.0", enabled=False),
            "rebuilt": plugin_state("rebuilt"),
            "only-staging": plugin_state("only-staging"),
        },
        "prod": {
            "same": plugin_state("same"),
            "hello": plugin_state("hello", "1.0.0", canary=CANARY),
            "rebuilt": plugin_state("rebuilt", digest=rebuilt),
            "only-prod": plugin_state("only-prod", "2.0.0"),
        },
    }
    for env, plugins in states.items():
        for name, data in plugins.items():
            files[f"environments/{env}/plugins/{name}.yaml"] = yaml_text(data)
    repo.commit(files, "two environments")
    return repo


def test_every_kind_of_difference_in_json(repo: Repo, run_cli: RunCli) -> None:
    result = run_cli(cli, "diff", "staging", "prod", "--repo", str(repo.path), "--format", "json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    found = {(d["kind"], d["subject"], d["field"]): (d["a"], d["b"]) for d in report["differences"]}
    canary = {"version": "1.1.0", "weight": 10, "step": 0, "group": "canary"}
    assert found == {
        ("plugin", "hello", "version"): ("1.1.0", "1.0.0"),
        ("plugin", "hello", "enabled"): (False, True),
        ("plugin", "hello", "canary"): (None, canary),
        ("plugin", "only-prod", "present"): (None, "2.0.0"),
        ("plugin", "only-staging", "present"): ("1.0.0", None),
        ("plugin", "rebuilt", "digest"): (
            digest_of("rebuilt", "1.0.0"),
            digest_of("rebuilt", "1.0.0-other"),
        ),
        ("tenant", "globex", "name"): ("Globex (staging)", "Globex"),
        ("tenant", "initech", "present"): ("initech", None),
        ("tenant", "umbrella", "present"): (None, "Umbrella"),
        ("group", "beta", "present"): (["initech"], None),
        ("group", "canary", "members"): (["acme", "globex"], ["globex"]),
        ("group", "vip", "present"): (None, ["umbrella"]),
        ("grant", "acme/hello", "permissions"): (
            ["tenant-data:read"],
            ["network", "tenant-data:read"],
        ),
        ("grant", "acme/meter", "permissions"): (["tenant-data:read"], None),
        ("entitlement", "initech/meter", "trial"): (
            {"type": "trial", "plan": None, "notAfter": "2030-01-01T00:00:00+00:00"},
            None,
        ),
    }
    assert report["counts"] == {"plugin": 6, "tenant": 3, "group": 3, "grant": 2, "entitlement": 1}
    assert (report["a"], report["b"], report["count"]) == ("staging", "prod", 15)


def test_the_text_view_and_no_difference(repo: Repo, run_cli: RunCli) -> None:
    result = run_cli(cli, "diff", "staging", "prod", "--repo", str(repo.path))
    assert result.code == 0
    out = result.out
    assert ": 15 difference(s)  (staging | prod)" in out
    assert "  hello          version     1.1.0 | 1.0.0\n" in out
    assert "  hello          canary      - | version=1.1.0 weight=10 step=0 group=canary\n" in out
    assert "  acme/hello     permissions tenant-data:read | network, tenant-data:read\n" in out
    same = run_cli(cli, "diff", "test", "staging", "--repo", str(repo.path), "--rev", "HEAD~1")
    assert same.code == 0 and same.out.endswith(": no differences\n"), same.out + same.err


def test_bad_input_exits_2(repo: Repo, run_cli: RunCli) -> None:
    unknown = run_cli(cli, "diff", "staging", "prdo", "--repo", str(repo.path))
    assert unknown.code == 2 and "did you mean 'prod'" in unknown.err, unknown.err
    twice = run_cli(cli, "diff", "prod", "prod", "--repo", str(repo.path))
    assert twice.code == 2 and "name two different environments" in twice.err
