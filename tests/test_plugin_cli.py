"""`px-plugin keygen/sign/verify`: key mode end to end, keyless fixtures, and refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import SHARED
from factories import yaml_text

from pipeline.cli.plugin import cli

SIGSTORE = SHARED / "sigstore"
GITHUB_IDENTITY = (
    "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2"
)
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
COMMIT = "c0ffee" + "0" * 34


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PX_PASSPHRASE", "s3cret passphrase")
    (tmp_path / "hello-1.0.0.tgz").write_bytes(os.urandom(4096))
    return tmp_path


def sign_args(*extra: str) -> list[str]:
    return [
        "sign",
        "hello-1.0.0.tgz",
        "--plugin",
        "hello",
        "--version",
        "1.0.0",
        "--source-commit",
        COMMIT,
        *extra,
    ]


def test_keygen_sign_verify(run_cli: Any, workdir: Path) -> None:
    made = run_cli(cli, "keygen", "--out", "team")
    assert made.code == 0
    assert oct((workdir / "team.key").stat().st_mode & 0o777) == "0o600"
    assert b"ENCRYPTED PRIVATE KEY" in (workdir / "team.key").read_bytes()
    key_id = made.out.split("key id:")[1].split()[0]
    signed = run_cli(cli, *sign_args("--key", "team.key", "--builder", "tests"))
    assert signed.code == 0, signed.err
    assert "bundle: hello-1.0.0.tgz.sigstore.json" in signed.out
    bundle = json.loads((workdir / "hello-1.0.0.tgz.sigstore.json").read_text())
    assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert bundle["verificationMaterial"]["publicKey"]["hint"] == key_id
    verified = run_cli(cli, "verify", "hello-1.0.0.tgz", "--key", "team.pub")
    assert verified.code == 0, verified.err
    assert f"signed by {key_id}, key mode" in verified.out
    assert "release hello@1.0.0" in verified.out
    again = run_cli(cli, "keygen", "--out", "team")
    assert again.code == 2 and "already exist" in again.err


def test_the_repo_policy_is_used_by_default(run_cli: Any, workdir: Path) -> None:
    run_cli(cli, "keygen", "--out", "team")
    run_cli(cli, *sign_args("--key", "team.key"))
    refused = run_cli(cli, "verify", "hello-1.0.0.tgz")
    assert refused.code == 1
    assert "the signing policy lists no keys" in refused.err
    public = (workdir / "team.pub").read_text()
    from pipeline.signing.keys import public_key_id

    policy = {
        "apiVersion": "powerx.io/v1alpha1",
        "kind": "SigningPolicy",
        "keys": [{"id": public_key_id(public.encode()), "publicKey": public}],
    }
    (workdir / "policies").mkdir()
    (workdir / "policies/signing.yaml").write_text(yaml_text(policy))
    assert run_cli(cli, "verify", "hello-1.0.0.tgz").code == 0
    policy["revokedKeys"] = [policy["keys"][0]["id"]]  # type: ignore[index]
    (workdir / "policies/signing.yaml").write_text(yaml_text(policy))
    refused = run_cli(cli, "verify", "hello-1.0.0.tgz")
    assert refused.code == 1 and "revoked" in refused.err


def test_refusals(run_cli: Any, workdir: Path) -> None:
    run_cli(cli, "keygen", "--out", "team")
    expired = run_cli(cli, *sign_args("--key", "team.key", "--not-after", "2020-01-01"))
    assert expired.code == 0  # signing an already expired window is allowed; verifying is not
    old = run_cli(cli, "verify", "hello-1.0.0.tgz", "--key", "team.pub")
    assert old.code == 1 and "expired" in old.err
    run_cli(cli, *sign_args("--key", "team.key"))
    artifact = workdir / "hello-1.0.0.tgz"
    data = bytearray(artifact.read_bytes())
    data[100] ^= 1
    artifact.write_bytes(bytes(data))
    tampered = run_cli(cli, "verify", "hello-1.0.0.tgz", "--key", "team.pub")
    assert tampered.code == 1 and "digest mismatch" in tampered.err
    (workdir / "hello-1.0.0.tgz.sigstore.json").write_text('{"mediaType": ')
    truncated = run_cli(cli, "verify", "hello-1.0.0.tgz", "--key", "team.pub")
    assert truncated.code == 2
    os.environ["PX_PASSPHRASE"] = "wrong"
    wrong = run_cli(cli, *sign_args("--key", "team.key"))
    assert wrong.code == 2 and "wrong passphrase" in wrong.err
    keyless_window = run_cli(cli, *sign_args("--not-after", "2030-01-01"))
    assert keyless_window.code == 2 and "go with --key" in keyless_window.err
    bad_commit = run_cli(
        cli,
        "sign",
        "hello-1.0.0.tgz",
        "--plugin",
        "hello",
        "--version",
        "1.0",
        "--source-commit",
        "x",
        "--key",
        "team.key",
    )
    assert bad_commit.code == 2 and "cannot sign" in bad_commit.err


def test_keyless_fixture_verifies_offline_with_explicit_identity(
    run_cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    args = [
        "verify",
        str(SIGSTORE / "bundle_v3_github.whl"),
        "--bundle",
        str(SIGSTORE / "bundle_v3_github.whl.sigstore"),
    ]
    ok = run_cli(cli, *args, "--identity", GITHUB_IDENTITY, "--issuer", GITHUB_ISSUER)
    assert ok.code == 0, ok.err
    assert "Sigstore production, offline" in ok.out
    wrong = run_cli(
        cli, *args, "--identity", GITHUB_IDENTITY.replace("v0.1.2", "v9"), "--issuer", GITHUB_ISSUER
    )
    assert wrong.code == 1
    staging = run_cli(
        cli, *args, "--identity", GITHUB_IDENTITY, "--issuer", GITHUB_ISSUER, "--staging"
    )
    assert staging.code == 1 and "staging" in staging.err


def test_verify_runs_with_no_network(tmp_path: Path) -> None:
    """A real process in a new network namespace: only loopback, and it is down."""
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("unshare -rn is not permitted here")
    px = Path(sys.executable).parent / "px-plugin"
    result = subprocess.run(
        [
            "unshare",
            "-rn",
            str(px),
            "verify",
            str(SIGSTORE / "bundle_v3_github.whl"),
            "--bundle",
            str(SIGSTORE / "bundle_v3_github.whl.sigstore"),
            "--identity",
            GITHUB_IDENTITY,
            "--issuer",
            GITHUB_ISSUER,
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "keyless mode" in result.stdout


def test_build_pack_sign_verify_a_real_plugin(run_cli: Any, workdir: Path) -> None:
    import shutil

    from conftest import PROJECT

    plugin = workdir / "hello-world"
    shutil.copytree(
        PROJECT / "examples" / "hello-world",
        plugin,
        ignore=shutil.ignore_patterns("build", "dist", "*.pxp"),
    )
    built = run_cli(cli, "build", str(plugin))
    assert built.code == 0 and built.out.startswith("built hello-world@1.1.0:")
    packed = run_cli(cli, "pack", str(plugin), "-o", str(workdir / "out"))
    assert packed.code == 0
    package = workdir / "out" / "hello-world-1.1.0.pxp"
    digest = packed.out.split("sha256:")[1].strip()
    assert (
        subprocess.run(
            ["sha256sum", str(package)], capture_output=True, text=True, check=True
        ).stdout.split()[0]
        == digest
    )
    run_cli(cli, "keygen", "--out", "team")
    signed = run_cli(cli, "sign", str(package), "--key", "team.key", "--source-commit", COMMIT)
    assert signed.code == 0, signed.err
    verified = run_cli(cli, "verify", str(package), "--key", "team.pub")
    assert verified.code == 0 and "ok: package hello-world@1.1.0" in verified.out
    # A bundle for another release over the same bytes is refused.
    other = run_cli(
        cli,
        "sign",
        str(package),
        "--key",
        "team.key",
        "--plugin",
        "other",
        "--version",
        "1.0.0",
        "--source-commit",
        COMMIT,
    )
    assert other.code == 0
    refused = run_cli(cli, "verify", str(package), "--key", "team.pub")
    assert (
        refused.code == 1
        and "the signature is for other@1.0.0, not hello-world@1.1.0" in refused.err
    )
    plain = run_cli(cli, "sign", "hello-1.0.0.tgz", "--key", "team.key", "--source-commit", COMMIT)
    assert plain.code == 2 and "--plugin and --version are needed" in plain.err


def test_a_failing_build_keeps_the_previous_dist(run_cli: Any, workdir: Path) -> None:
    import shutil

    from conftest import PROJECT

    plugin = workdir / "hello-world"
    shutil.copytree(
        PROJECT / "examples" / "hello-world",
        plugin,
        ignore=shutil.ignore_patterns("build", "dist", "*.pxp"),
    )
    assert run_cli(cli, "build", str(plugin)).code == 0
    before = sorted(p.name for p in (plugin / "dist").rglob("*"))
    (plugin / "build.py").write_text("import sys\nprint('compiler exploded')\nsys.exit(3)\n")
    failed = run_cli(cli, "build", str(plugin))
    assert failed.code == 1
    assert "compiler exploded" in failed.err
    assert sorted(p.name for p in (plugin / "dist").rglob("*")) == before


def test_an_explicit_signer_replaces_every_signer_of_the_policy(
    run_cli: Any, workdir: Path
) -> None:
    policy = {
        "apiVersion": "powerx.io/v1alpha1",
        "kind": "SigningPolicy",
        "identities": [{"issuer": GITHUB_ISSUER, "subject": GITHUB_IDENTITY}],
    }
    (workdir / "policies").mkdir()
    (workdir / "policies/signing.yaml").write_text(yaml_text(policy))
    args = [
        "verify",
        str(SIGSTORE / "bundle_v3_github.whl"),
        "--bundle",
        str(SIGSTORE / "bundle_v3_github.whl.sigstore"),
    ]
    assert run_cli(cli, *args).code == 0
    run_cli(cli, "keygen", "--out", "team")
    only_key = run_cli(cli, *args, "--key", "team.pub")
    assert only_key.code == 1 and "no keyless signer is trusted" in only_key.err


def test_pack_honours_source_date_epoch(
    run_cli: Any, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil
    import tarfile

    from conftest import PROJECT

    plugin = workdir / "hello-world"
    shutil.copytree(
        PROJECT / "examples" / "hello-world",
        plugin,
        ignore=shutil.ignore_patterns("build", "dist", "*.pxp"),
    )
    assert run_cli(cli, "build", str(plugin)).code == 0
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert run_cli(cli, "pack", str(plugin), "-o", "out").code == 0
    with tarfile.open(workdir / "out" / "hello-world-1.1.0.pxp") as archive:
        assert {member.mtime for member in archive.getmembers()} == {1700000000}
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    bad = run_cli(cli, "pack", str(plugin), "-o", "out2")
    assert bad.code == 2 and "SOURCE_DATE_EPOCH must be a number" in bad.err
