"""`powerx trust`: trusted signers edited in policies/signing.yaml, one validated commit each."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import click
import pytest
from conftest import CliResult, Repo, git
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from factories import bundle, digest_of, session_key

from pipeline.cli.powerx import cli
from pipeline.cli.trust import trust
from pipeline.errors import GateError
from pipeline.gitrepo import GitRepo, read_trailers
from pipeline.models.signing import IdentityRule, SigningPolicy
from pipeline.scaffold import init_repo
from pipeline.signing.keys import generate_keypair, public_key_id
from pipeline.signing.trust import TrustInputs
from pipeline.signing.verify import verify_bundle
from pipeline.snapshot import Snapshot

Run = Callable[..., CliResult]
PASS = b"signer passphrase"
ISSUER = "https://token.actions.githubusercontent.com"


@cache
def keypair(name: str) -> tuple[bytes, bytes]:
    """A real key pair per signer name: (private PEM, public PEM)."""
    return generate_keypair(PASS)


@pytest.fixture
def site(tmp_path: Path) -> Repo:
    """A release repo made by `powerx init`, on main."""
    init_repo(tmp_path / "site")
    return Repo(tmp_path / "site")


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    """Public and private key files: NAME.pub and NAME.key for ci, ada and old."""
    folder = tmp_path / "keys"
    folder.mkdir()
    for name in ("ci", "ada", "old"):
        private, public = keypair(name)
        (folder / f"{name}.key").write_bytes(private)
        (folder / f"{name}.pub").write_bytes(public)
    return folder


def signing(repo: Repo) -> SigningPolicy:
    """The signing policy at main's tip, validated as `powerx check` reads it."""
    git_repo = GitRepo(repo.path)
    return Snapshot(git_repo, git_repo.resolve("main"), {}).policies().signing


def policy(repo: Repo) -> dict[str, Any]:
    """The signing policy at main's tip, as data."""
    return signing(repo).model_dump(by_alias=True, exclude_none=True)


def key_id(name: str) -> str:
    return public_key_id(keypair(name)[1])


def test_add_key_keeps_the_file_and_lands_one_commit(run_cli: Run, site: Repo, keys: Path) -> None:
    before_head, before_text = site.head(), (site.path / "policies/signing.yaml").read_text()
    result = run_cli(
        trust,
        "add-key", "ci", "--public-key", str(keys / "ci.pub"),
        "--repo", str(site.path), "--operator", "ada",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert f"trusted key ci (id {key_id('ci')})" in result.out
    assert site.git("rev-parse", "HEAD~1") == before_head  # exactly one commit
    text = (site.path / "policies/signing.yaml").read_text()
    for line in before_text.splitlines():  # every comment and key of the template is kept
        if line.startswith("#"):
            assert line in text
    assert "  - name: ci\n" in text and "    publicKey: |\n      -----BEGIN PUBLIC KEY-----" in text
    assert [k["name"] for k in policy(site)["keys"]] == ["ci"]
    trailers = read_trailers(site.git("log", "-1", "--format=%B"))
    assert trailers["Action"] == "trust-add-key"
    assert trailers["Operator"] == "ada"
    assert trailers["Key-Id"] == key_id("ci")
    assert site.git("status", "--porcelain") == ""  # the work tree follows the commit


def test_a_private_key_is_refused_and_never_printed(run_cli: Run, site: Repo, keys: Path) -> None:
    head = site.head()
    result = run_cli(
        trust, "add-key", "ci", "--public-key", str(keys / "ci.key"), "--repo", str(site.path)
    )
    assert result.code == 2
    assert f"{keys / 'ci.key'} holds a private key" in result.err
    body = keypair("ci")[0].decode().splitlines()[1]
    assert body not in result.out + result.err
    assert site.head() == head


@pytest.mark.parametrize("kind", ["garbage", "rsa", "missing"])
def test_what_is_not_a_p256_public_key_is_refused(
    run_cli: Run, site: Repo, tmp_path: Path, kind: str
) -> None:
    path = tmp_path / f"{kind}.pub"
    if kind == "garbage":
        path.write_text("hello\n")
    elif kind == "rsa":
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
        path.write_bytes(
            rsa_key.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    result = run_cli(trust, "add-key", "x", "--public-key", str(path), "--repo", str(site.path))
    assert result.code == 2
    expected = {
        "garbage": "not a PEM public key",
        "rsa": "not an ECDSA P-256 public key",
        "missing": "cannot read public key file",
    }[kind]
    assert expected in result.err and str(path) in result.err


def test_env_lists_the_key_and_says_the_environment_narrows(
    run_cli: Run, site: Repo, keys: Path
) -> None:
    repo = str(site.path)
    assert (
        run_cli(trust, "add-key", "ci", "--public-key", str(keys / "ci.pub"), "--repo", repo).code
        == 0
    )
    result = run_cli(
        trust, "add-key", "ada", "--public-key", str(keys / "ada.pub"), "--env", "prod",
        "--repo", repo, "--format", "json",
    )  # fmt: skip
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["environments"] == ["prod"] and data["keyId"] == key_id("ada")
    assert any("environment prod had no keys list" in note for note in data["notes"])
    assert policy(site)["environments"]["prod"]["keys"] == [key_id("ada")]
    listing = json.loads(run_cli(trust, "list", "--repo", repo, "--format", "json").out)
    scopes = {row["name"]: row["environments"] for row in listing["signers"]}
    assert scopes == {"ci": ["test", "staging"], "ada": ["test", "staging", "prod"]}
    # the same key and name again, with nothing new: a duplicate
    again = run_cli(trust, "add-key", "ada", "--public-key", str(keys / "ada.pub"), "--repo", repo)
    assert again.code == 2 and "already trusted" in again.err


def test_unknown_environment_is_refused_with_a_suggestion(
    run_cli: Run, site: Repo, keys: Path
) -> None:
    head = site.head()
    result = run_cli(
        trust, "add-key", "ci", "--public-key", str(keys / "ci.pub"), "--env", "prdo",
        "--repo", str(site.path),
    )  # fmt: skip
    assert result.code == 2
    assert "no environment 'prdo': did you mean 'prod'?" in result.err
    assert site.head() == head


def test_duplicate_name_needs_replace_which_swaps_the_key_everywhere(
    run_cli: Run, site: Repo, keys: Path
) -> None:
    repo = str(site.path)
    add = ["add-key", "ci", "--env", "prod", "--bundles", "--repo", repo]
    assert run_cli(trust, *add, "--public-key", str(keys / "old.pub")).code == 0
    refused = run_cli(trust, *add, "--public-key", str(keys / "ci.pub"))
    assert refused.code == 2
    assert "a key named 'ci' is already trusted" in refused.err and "--replace" in refused.err
    replace = ["add-key", "ci", "--replace", "--repo", repo]  # the scope goes with the name
    assert run_cli(trust, *replace, "--public-key", str(keys / "ci.pub")).code == 0
    signing = policy(site)
    assert [k["id"] for k in signing["keys"]] == [key_id("ci")]
    assert signing["environments"]["prod"]["keys"] == [key_id("ci")]
    assert signing["bundles"]["keys"] == [key_id("ci")]
    other_name = run_cli(
        trust, "add-key", "ci2", "--public-key", str(keys / "ci.pub"), "--repo", repo
    )
    assert other_name.code == 2 and "already trusted as ci" in other_name.err


def test_a_revoked_key_is_never_trusted_again(run_cli: Run, site: Repo, keys: Path) -> None:
    site.commit(
        {"policies/signing.yaml": f"apiVersion: powerx.io/v1alpha1\nkind: SigningPolicy\n"
         f"revokedKeys: [{key_id('old')}]\n"}
    )  # fmt: skip
    result = run_cli(
        trust, "add-key", "old", "--public-key", str(keys / "old.pub"), "--repo", str(site.path)
    )
    assert result.code == 2 and "was revoked" in result.err


def test_remove_takes_the_key_out_of_every_list(run_cli: Run, site: Repo, keys: Path) -> None:
    repo = str(site.path)
    for name in ("ci", "ada"):
        args = ["add-key", name, "--public-key", str(keys / f"{name}.pub"), "--env", "prod"]
        assert run_cli(trust, *args, "--repo", repo).code == 0
    missing = run_cli(trust, "remove", "cii", "--repo", repo)
    assert missing.code == 2 and "no trusted key 'cii': did you mean 'ci'?" in missing.err
    result = run_cli(trust, "remove", "ci", "--repo", repo)
    assert result.code == 0, result.err
    signing = policy(site)
    assert [k["name"] for k in signing["keys"]] == ["ada"]
    assert signing["environments"]["prod"]["keys"] == [key_id("ada")]
    last = run_cli(trust, "remove", key_id("ada"), "--repo", repo)  # by key id too
    assert last.code == 0 and "environment prod now accepts no key signer" in last.out
    assert read_trailers(site.git("log", "-1", "--format=%B"))["Action"] == "trust-remove"


def test_identities_are_added_scoped_listed_and_removed(run_cli: Run, site: Repo) -> None:
    repo = str(site.path)
    bad_issuer = run_cli(
        trust, "add-identity", "--identity", "ada@example.com", "--issuer", "http://x.example",
        "--repo", repo,
    )  # fmt: skip
    assert bad_issuer.code == 2 and "is not an https URL" in bad_issuer.err
    bad_identity = run_cli(
        trust, "add-identity", "--identity", "ada", "--issuer", ISSUER, "--repo", repo
    )
    assert bad_identity.code == 2 and "neither an e-mail address nor a URI" in bad_identity.err
    workflow = r"https://github\.com/o/r/\.github/workflows/release\.yml@refs/tags/v.+"
    added = run_cli(
        trust, "add-identity", "--identity-regexp", workflow, "--issuer", ISSUER,
        "--env", "prod", "--repo", repo,
    )  # fmt: skip
    assert added.code == 0, added.err
    for issuer in (ISSUER, "https://accounts.google.com"):
        args = ["add-identity", "--identity", "ada@example.com", "--issuer", issuer]
        assert run_cli(trust, *args, "--repo", repo).code == 0
    duplicate = run_cli(trust, *args, "--repo", repo)
    assert duplicate.code == 2 and "already trusted" in duplicate.err
    signing = policy(site)
    rule = IdentityRule.model_validate({"issuer": ISSUER, "subjectPattern": workflow})
    assert signing["environments"]["prod"]["identities"] == [
        rule.model_dump(by_alias=True, exclude_none=True)
    ]
    listing = run_cli(trust, "list", "--repo", repo)
    assert re.search(
        r"ada@example\.com \(https://accounts\.google\.com\) +test, staging ", listing.out
    )
    ambiguous = run_cli(trust, "remove", "--identity", "ada@example.com", "--repo", repo)
    assert ambiguous.code == 2 and "--issuer" in ambiguous.err
    removed = run_cli(
        trust, "remove", "--identity", "ada@example.com", "--issuer", ISSUER, "--repo", repo
    )
    assert removed.code == 0, removed.err
    assert [i.get("issuer") for i in policy(site)["identities"]] == [
        ISSUER, "https://accounts.google.com",
    ]  # fmt: skip
    unknown = run_cli(trust, "remove", "--identity", "ada@exampel.com", "--repo", repo)
    assert unknown.code == 2 and "did you mean 'ada@example.com'?" in unknown.err


def test_an_edit_that_leaves_the_policies_invalid_commits_nothing(
    run_cli: Run, site: Repo, keys: Path
) -> None:
    # a hand-made second key list entry with the same id as the one being added under a name
    site.commit({"policies/extra.yaml": "apiVersion: powerx.io/v1alpha1\nkind: SigningPolicy\n"})
    head = site.head()
    result = run_cli(
        trust, "add-key", "ci", "--public-key", str(keys / "ci.pub"), "--repo", str(site.path)
    )
    assert result.code == 2 and "a second SigningPolicy" in result.err
    assert site.head() == head
    assert git(site.path, "for-each-ref", "refs/powerx") == ""  # no candidate left behind


def test_uncommitted_edits_to_the_policy_are_not_overwritten(
    run_cli: Run, site: Repo, keys: Path
) -> None:
    head = site.head()
    (site.path / "policies/signing.yaml").write_text("# my edit in progress\n", "utf-8")
    result = run_cli(
        trust, "add-key", "ci", "--public-key", str(keys / "ci.pub"), "--repo", str(site.path)
    )
    assert result.code == 2 and "uncommitted changes" in result.err
    assert site.head() == head
    assert (site.path / "policies/signing.yaml").read_text() == "# my edit in progress\n"


def test_push_lands_the_commit_on_the_remote(
    run_cli: Run, site: Repo, keys: Path, tmp_path: Path
) -> None:
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    site.git("remote", "add", "origin", str(bare))
    site.git("push", "-q", "origin", "main")
    result = run_cli(
        trust, "add-key", "ci", "--public-key", str(keys / "ci.pub"), "--bundles",
        "--repo", str(site.path), "--push", "--format", "json",
    )  # fmt: skip
    assert result.code == 0, result.err
    commit = json.loads(result.out)["commit"]
    assert git(tmp_path, "--git-dir", str(bare), "rev-parse", "main") == commit
    assert site.head() == commit


def test_list_without_signers_and_the_groups_are_registered(run_cli: Run, site: Repo) -> None:
    result = run_cli(cli, "trust", "list", "--repo", str(site.path))
    assert result.code == 0 and "no trusted signer" in result.out
    assert {"trust", "team"} <= set(cli.list_commands(click.Context(cli)))


def test_an_identity_for_bundles_does_not_open_bundles_to_every_key(
    run_cli: Run, site: Repo, keys: Path
) -> None:
    repo = str(site.path)
    assert (
        run_cli(trust, "add-key", "ci", "--public-key", str(keys / "ci.pub"), "--repo", repo).code
        == 0
    )
    args = ["add-identity", "--identity", "ada@example.com", "--issuer", ISSUER, "--bundles"]
    assert run_cli(trust, *args, "--repo", repo).code == 0
    bundles = policy(site)["bundles"]
    assert bundles["keys"] == [] and [i["subject"] for i in bundles["identities"]] == [
        "ada@example.com"
    ]
    listing = json.loads(run_cli(trust, "list", "--repo", repo, "--format", "json").out)
    assert {row["kind"]: row["bundles"] for row in listing["signers"]} == {
        "key": False,
        "identity": True,
    }


def test_a_key_added_by_the_command_verifies_real_signatures(
    run_cli: Run, site: Repo, tmp_path: Path
) -> None:
    public = tmp_path / "signer.pub"
    public.write_bytes(session_key()[1])
    signed, now = bundle("hello", "1.0.0"), datetime.now(UTC)

    def verify(env: str) -> None:
        trust_inputs = TrustInputs(policy=signing(site))
        verify_bundle(
            signed, digest=digest_of("hello", "1.0.0"), trust=trust_inputs, environment=env, now=now
        )

    with pytest.raises(GateError):
        verify("prod")  # powerx init trusts nobody
    args = ["add-key", "signer", "--public-key", str(public), "--env", "prod"]
    assert run_cli(trust, *args, "--repo", str(site.path)).code == 0
    verify("prod")
    verify("test")
