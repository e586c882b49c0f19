"""One rule, "this signature names this plugin@version", in each of its callers: the policy
gate, the offline import, `px-plugin verify` and `powerx publish create`. A signature made
for another plugin or version of the very same artifact bytes is refused with exit 1."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from bundle_support import Site, Source
from conftest import PROJECT, Repo, git
from factories import bundle, release, session_key, yaml_text

from pipeline.cli import plugin as plugin_cli
from pipeline.cli import powerx
from pipeline.errors import GateError
from pipeline.models.signing import ReleasePredicate
from pipeline.packaging import build_plugin, pack_plugin
from pipeline.signing.sign import sign_with_key
from pipeline.signing.statement import check_release_names


def _predicate(plugin: str, version: str) -> ReleasePredicate:
    return ReleasePredicate.model_validate(
        {"plugin": plugin, "version": version, "sourceCommit": "a" * 40, "builder": "tests"}
    )


@pytest.mark.parametrize(
    ("plugin", "version"), [("other", "1.1.0"), ("hello-world", "9.9.9"), ("hello", "1.1.0")]
)
def test_the_rule(plugin: str, version: str) -> None:
    check_release_names(_predicate("hello-world", "1.1.0"), "hello-world", "1.1.0")
    check_release_names(None, "hello-world", "1.1.0")  # a message signature: digest only
    with pytest.raises(GateError) as caught:
        check_release_names(_predicate(plugin, version), "hello-world", "1.1.0")
    assert caught.value.message == (
        f"the signature is for {plugin}@{version}, not hello-world@1.1.0"
    )


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """hello-world 1.1.0, packed, with a valid signature made for hello-world@9.9.9."""
    source = tmp_path / "hello-world"
    shutil.copytree(
        PROJECT / "examples" / "hello-world",
        source,
        ignore=shutil.ignore_patterns("build", "dist", "*.pxp"),
    )
    build_plugin(source)
    packed = pack_plugin(source, tmp_path / "out")
    signature = sign_with_key(
        packed.sha256, packed.path.name, _predicate("hello-world", "9.9.9"), session_key()[0]
    )
    packed.path.with_name(packed.path.name + ".sigstore.json").write_bytes(signature)
    return packed.path


def test_px_plugin_verify(package: Path, tmp_path: Path, run_cli: Any) -> None:
    key = tmp_path / "team.pub"
    key.write_bytes(session_key()[1])
    result = run_cli(plugin_cli.cli, "verify", str(package), "--key", str(key))
    assert result.code == 1, result.err
    assert "the signature is for hello-world@9.9.9, not hello-world@1.1.0" in result.err


def test_publish_create(package: Path, release_repo: Repo, tmp_path: Path, run_cli: Any) -> None:
    release_repo.git("checkout", "-q", "main")
    before = git(release_repo.path, "for-each-ref")
    store = tmp_path / "store"
    result = run_cli(
        powerx.cli, "publish", "create", "--artifact", str(package),
        "--repo", str(release_repo.path), "--store", str(store),
        "--contact", "Ada=ada@example.com", "--no-push",
    )  # fmt: skip
    assert result.code == 1, result.out + result.err
    assert "the signature is for hello-world@9.9.9, not hello-world@1.1.0" in result.err
    assert git(release_repo.path, "for-each-ref") == before  # no release branch
    assert not store.exists() or not any(p.is_file() for p in store.rglob("*"))


def test_policy_gate(release_repo: Repo, run_cli: Any) -> None:
    data = release()
    folder = "releases/hello/1.0.0"
    release_repo.commit(
        {
            f"{folder}/release.yaml": yaml_text(data | {"evidence": {}}),
            f"{folder}/hello-1.0.0.pxp.sigstore.json": bundle(
                "hello", "1.0.1", digest=data["artifact"]["sha256"]
            ),
        }
    )
    result = run_cli(
        powerx.cli, "check", "--repo", str(release_repo.path), "--base", "main",
        "--format", "json",
    )  # fmt: skip
    assert result.code == 1
    assert "the signature is for hello@1.0.1, not hello@1.0.0" in result.out


def test_offline_import(tmp_path: Path, run_cli: Any) -> None:
    source, site = Source(tmp_path / "a"), Site(tmp_path / "b")
    digest = source.release("hello", "1.0.0")
    signature = "releases/hello/1.0.0/hello-1.0.0.pxp.sigstore.json"
    swapped = sign_with_key(
        digest, "hello-1.0.0.pxp", _predicate("hello", "2.0.0"), session_key()[0]
    )
    source.repo.commit({signature: swapped}, "a signature for another version")
    bundle_file = tmp_path / "swapped.bundle"
    source.export(bundle_file)
    before = site.fingerprint()
    result = run_cli(powerx.cli, *site.argv(bundle_file))
    assert result.code == 1, result.err
    assert "hello@1.0.0: the signature is for hello@2.0.0, not hello@1.0.0" in result.err
    assert site.fingerprint() == before
