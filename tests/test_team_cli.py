"""`powerx team`: approvers edited in policies/teams.yaml, one validated commit each."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest
from conftest import CliResult, Repo, git

from pipeline.cli.trust import team
from pipeline.gitrepo import GitRepo, read_trailers
from pipeline.models.approvals import Teams
from pipeline.scaffold import init_repo
from pipeline.signing.keys import generate_keypair, public_key_id
from pipeline.snapshot import Snapshot

Run = Callable[..., CliResult]
PASS = b"approver passphrase"

TEAMS = """\
# Who approves promotions.
apiVersion: powerx.io/v1alpha1
kind: Teams
teams:
  qa:   # quality assurance
    members:
      - login: quinn   # lead
"""


@cache
def keypair(login: str) -> tuple[bytes, bytes]:
    """A real key pair per approver: (private PEM, public PEM)."""
    return generate_keypair(PASS)


@pytest.fixture
def site(tmp_path: Path) -> Repo:
    """A release repo made by `powerx init`, on main, without teams."""
    init_repo(tmp_path / "site")
    return Repo(tmp_path / "site")


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    folder = tmp_path / "keys"
    folder.mkdir()
    for login in ("quinn", "rita"):
        private, public = keypair(login)
        (folder / f"{login}.key").write_bytes(private)
        (folder / f"{login}.pub").write_bytes(public)
    return folder


def teams(repo: Repo) -> Teams:
    """The teams at main's tip, validated as `powerx check` reads them."""
    git_repo = GitRepo(repo.path)
    return Snapshot(git_repo, git_repo.resolve("main"), {}).policies().teams


def test_a_new_team_needs_create_and_gets_its_file(run_cli: Run, site: Repo, keys: Path) -> None:
    repo, head = str(site.path), site.head()
    refused = run_cli(team, "add-member", "qa", "quinn", "--repo", repo)
    assert refused.code == 2 and "no team 'qa'" in refused.err and "--create" in refused.err
    assert site.head() == head
    result = run_cli(
        team, "add-member", "qa", "quinn", "--public-key", str(keys / "quinn.pub"), "--create",
        "--repo", repo, "--operator", "rm", "--format", "json",
    )  # fmt: skip
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["file"] == "policies/teams.yaml" and data["created"] and data["createdTeam"]
    member = teams(site).member_by_key(public_key_id(keypair("quinn")[1]))
    assert member is not None and member.login == "quinn"
    assert site.git("rev-parse", "HEAD~1") == head
    trailers = read_trailers(site.git("log", "-1", "--format=%B"))
    assert (trailers["Action"], trailers["Team"], trailers["Member"]) == (
        "team-add-member", "qa", "quinn",
    )  # fmt: skip


def test_comments_are_kept_and_duplicates_need_replace(
    run_cli: Run, site: Repo, keys: Path
) -> None:
    site.commit({"policies/teams.yaml": TEAMS})
    repo = str(site.path)
    typo = run_cli(team, "add-member", "qaa", "ada", "--repo", repo)
    assert typo.code == 2 and "no team 'qaa': did you mean 'qa'?" in typo.err
    assert run_cli(team, "add-member", "qa", "ada", "--repo", repo).code == 0
    text = (site.path / "policies/teams.yaml").read_text()
    assert text.startswith(TEAMS) and text.endswith("      - login: ada\n")
    duplicate = run_cli(team, "add-member", "qa", "quinn", "--repo", repo)
    assert duplicate.code == 2 and "already a member of qa" in duplicate.err
    replaced = run_cli(
        team, "add-member", "qa", "quinn", "--public-key", str(keys / "quinn.pub"), "--replace",
        "--repo", repo,
    )  # fmt: skip
    assert replaced.code == 0, replaced.err
    assert [m.login for m in teams(site).teams["qa"].members] == ["quinn", "ada"]
    assert teams(site).teams["qa"].members[0].key_id == public_key_id(keypair("quinn")[1])


def test_one_key_for_two_logins_is_refused_by_the_policy_validation(
    run_cli: Run, site: Repo, keys: Path
) -> None:
    repo = str(site.path)
    add = ["add-member", "--create", "--repo", repo, "--public-key", str(keys / "quinn.pub")]
    assert run_cli(team, *add[:1], "qa", "quinn", *add[1:]).code == 0
    head = site.head()
    result = run_cli(team, *add[:1], "release-managers", "rita", *add[1:])
    assert result.code == 2
    assert "would not be a valid policy" in result.err
    assert "one approval key belongs to several logins (quinn, rita)" in result.err
    assert site.head() == head
    assert git(site.path, "for-each-ref", "refs/powerx") == ""


def test_a_private_key_is_refused(run_cli: Run, site: Repo, keys: Path) -> None:
    result = run_cli(
        team, "add-member", "qa", "quinn", "--public-key", str(keys / "quinn.key"), "--create",
        "--repo", str(site.path),
    )  # fmt: skip
    assert result.code == 2 and "holds a private key" in result.err
    assert keypair("quinn")[0].decode().splitlines()[1] not in result.err + result.out


def test_remove_member_and_list(run_cli: Run, site: Repo, keys: Path) -> None:
    site.commit(
        {
            "policies/teams.yaml": TEAMS,
            "policies/approvals.yaml": "apiVersion: powerx.io/v1alpha1\nkind: ApprovalPolicy\n"
            "environments:\n  prod: {required: 1, teams: [qa]}\n",
        }
    )
    repo = str(site.path)
    unknown = run_cli(team, "remove-member", "qa", "quin", "--repo", repo)
    assert unknown.code == 2 and "did you mean 'quinn'?" in unknown.err
    no_team = run_cli(team, "remove-member", "ops", "quinn", "--repo", repo)
    assert no_team.code == 2 and "no team 'ops'" in no_team.err
    result = run_cli(team, "remove-member", "qa", "quinn", "--repo", repo)
    assert result.code == 0, result.err
    assert "team qa has no members left: nobody can approve prod" in result.out
    assert teams(site).teams["qa"].members == []
    listing = run_cli(team, "list", "--repo", repo)
    assert re.split(r"  +", listing.out.splitlines()[1]) == ["qa", "(no members)", "-"]
    assert json.loads(run_cli(team, "list", "--repo", repo, "--format", "json").out) == {
        "members": [{"team": "qa", "login": "", "keyId": None, "github": None}]
    }
