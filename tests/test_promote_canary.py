"""Environments that take new versions by canary: `powerx promote` starts the rollout."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Repo
from factories import plugin_state, yaml_text
from test_promote import publish

from pipeline.cli.powerx import cli
from pipeline.gitrepo import read_trailers


@pytest.fixture
def repo(release_repo: Repo) -> Repo:
    """prod takes new versions by canary; hello 1.0.0 runs everywhere; 1.1.0 is in staging."""
    release_repo.git("checkout", "-q", "main")
    release_repo.commit(
        {
            "policies/promotion.yaml": yaml_text(
                {
                    "apiVersion": "powerx.io/v1alpha1",
                    "kind": "PromotionPolicy",
                    "order": ["test", "staging", "prod"],
                    "via": {"prod": "canary"},
                }
            ),
            "policies/approvals.yaml": yaml_text(
                {"apiVersion": "powerx.io/v1alpha1", "kind": "ApprovalPolicy", "environments": {}}
            ),
        },
        "prod by canary, no approvals",
    )
    publish(release_repo, "1.0.0")
    publish(release_repo, "1.1.0")
    release_repo.commit(
        {
            **{
                f"environments/{env}/plugins/hello.yaml": yaml_text(plugin_state("hello", "1.0.0"))
                for env in ("test", "prod")
            },
            "environments/staging/plugins/hello.yaml": yaml_text(plugin_state("hello", "1.1.0")),
        },
        "deployed",
    )
    return release_repo


def promote(run_cli: Any, repo: Repo) -> Any:
    return run_cli(cli, "promote", "hello", "--to", "prod", "--repo", str(repo.path))


def test_promote_starts_a_canary_instead_of_replacing_prod(run_cli: Any, repo: Repo) -> None:
    result = promote(run_cli, repo)
    assert result.code == 0, result.out + result.err
    assert "started a canary of hello@1.1.0 in prod: 10% of tenants beside 1.0.0" in result.out
    state = repo.git("show", "main:environments/prod/plugins/hello.yaml")
    assert "version: 1.0.0" in state  # stable stays for 90% of tenants
    assert "canary:" in state and "version: 1.1.0" in state and "weight: 10" in state
    trailers = read_trailers(repo.git("log", "-1", "--format=%B"))
    assert (trailers["Action"], trailers["Version"], trailers["Environment"]) == (
        "rollout-start",
        "1.1.0",
        "prod",
    )
    again = promote(run_cli, repo)
    assert again.code == 1
    assert "a canary rollout of hello 1.1.0 is in progress in prod (10%)" in again.out


def test_a_first_deployment_into_a_canary_environment_lands_directly(
    run_cli: Any, repo: Repo
) -> None:
    repo.git("rm", "-q", "environments/prod/plugins/hello.yaml")
    repo.git("commit", "-q", "-m", "remove hello from prod")
    repo.commit(
        {"environments/staging/plugins/hello.yaml": yaml_text(plugin_state("hello", "1.0.0"))},
        "staging back to 1.0.0",
    )
    result = promote(run_cli, repo)
    assert result.code == 0 and "promoted hello@1.0.0: staging -> prod" in result.out
    assert "canary:" not in repo.git("show", "main:environments/prod/plugins/hello.yaml")
