"""`powerx trust` and `powerx team` print, with `--format json`, what docs/formats.md says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_cli_formats import conforms

from pipeline.cli import plugin as px_plugin
from pipeline.cli.powerx import cli as powerx


def test_trust_and_team_results_match_their_documented_schemas(
    run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PX_PASSPHRASE", "formats passphrase")
    for name in ("ci", "quinn"):
        made = run_cli(px_plugin.cli, "keygen", "-o", str(tmp_path / name))
        assert made.code == 0, made.err
    repo = str(tmp_path / "repo")
    assert run_cli(powerx, "init", repo).code == 0
    at = ["--repo", repo, "--operator", "robot", "--format", "json"]

    def run(*argv: str) -> dict[str, Any]:
        result = run_cli(powerx, *argv, *at)
        assert result.code == 0, result.err
        return conforms(" ".join(["powerx", *argv[:2]]), result.out)

    added = run(
        "trust",
        "add-key",
        "ci",
        "--public-key",
        str(tmp_path / "ci.pub"),
        "--env",
        "prod",
        "--bundles",
    )
    assert added["action"] == "trust-add-key" and added["environments"] == ["prod"]
    assert added["bundles"] is True and len(added["keyId"]) == 64
    keyless = run_cli(
        powerx, "trust", "add-identity", "--identity", "ada@example.com",
        "--issuer", "https://accounts.google.com", *at,
    )  # fmt: skip
    assert keyless.code == 0, keyless.err
    assert conforms("powerx trust add-key", keyless.out)["keyId"] is None
    listed = run_cli(powerx, "trust", "list", "--repo", repo, "--format", "json")
    signers = conforms("powerx trust list", listed.out)["signers"]
    assert [s["kind"] for s in signers] == ["key", "identity"]
    assert signers[0]["bundles"] is True and signers[1]["bundles"] is False
    member = run(
        "team", "add-member", "qa", "quinn", "--public-key", str(tmp_path / "quinn.pub"), "--create"
    )
    assert member["createdTeam"] is True and member["created"] is True
    teams = run_cli(powerx, "team", "list", "--repo", repo, "--format", "json")
    assert conforms("powerx team list", teams.out)["members"][0]["login"] == "quinn"
    gone = run_cli(powerx, "team", "remove-member", "qa", "quinn", *at)
    assert conforms("powerx team add-member", gone.out)["action"] == "team-remove-member"
    removed = run_cli(powerx, "trust", "remove", "ci", *at)
    data = conforms("powerx trust add-key", removed.out)
    assert data["action"] == "trust-remove" and data["notes"]
