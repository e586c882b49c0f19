"""`powerx publish create --store oci://...` and `px-plugin verify oci://...@sha256:...`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from conftest import Repo
from factories import load_yaml, signing_policy, yaml_text
from registry import PASSWORD, USER, Registry, make_package, signed_package
from registry_proxy import Behaviour, proxy

from pipeline.cli.plugin import cli as px_plugin
from pipeline.cli.powerx import cli as powerx
from pipeline.store import store_for
from pipeline.store.oci.reference import OciReference
from pipeline.store.oci.store import OciStore, RegistryAccess


def policy_file(folder: Path) -> Path:
    path = folder / "signing.yaml"
    path.write_text(yaml_text(signing_policy()))
    return path


def publish(run_cli: Any, package: Path, repo: Repo, store: str, *extra: str) -> Any:
    """`powerx publish create` of `package` into `repo` (not pushed), the artifact to `store`."""
    return run_cli(
        powerx,
        "publish",
        "create",
        "--artifact",
        str(package),
        "--repo",
        str(repo.path),
        "--store",
        store,
        "--contact",
        "Ada=ada@example.com",
        "--no-push",
        *extra,
    )


def verify(run_cli: Any, location: str, policy: Path) -> Any:
    return run_cli(px_plugin, "verify", location, "--policy", str(policy))


def test_publish_pushes_the_package_and_its_signature_and_verify_pulls_both(
    run_cli: Any, registry: Registry, release_repo: Repo, tmp_path: Path
) -> None:
    package = signed_package(tmp_path / "pkg", "hello", "1.4.0")
    store = registry.location("px/releases")
    result = publish(run_cli, package, release_repo, store)
    assert result.code == 0, result.err
    pushed = re.search(r"pushed to (oci://\S+@sha256:[0-9a-f]{64}), signature referrer", result.out)
    assert pushed, result.out
    location = pushed.group(1)
    assert location.startswith(store + "@sha256:")

    # the release manifest names the bytes (cas:), fetched from the registry by digest
    release_repo.git("checkout", "-q", "release/hello-1.4.0")
    manifest = load_yaml((release_repo.path / "releases/hello/1.4.0/release.yaml").read_text())
    artifact = manifest["artifact"]
    assert artifact["uri"] == f"cas:sha256:{artifact['sha256']}"
    dest = tmp_path / "fetched.pxp"
    store_for(store).fetch(artifact["uri"], artifact["sha256"], artifact["size"], dest)
    assert dest.read_bytes() == package.read_bytes()

    verified = verify(run_cli, location, policy_file(tmp_path))
    assert verified.code == 0, verified.err
    assert f"verified {location}: sha256:{artifact['sha256']}" in verified.out
    assert "package hello@1.4.0" in verified.out


def test_a_package_without_a_signature_referrer_is_unsigned(
    run_cli: Any, registry: Registry, tmp_path: Path
) -> None:
    store = OciStore(OciReference.parse(registry.location("px/unsigned")), RegistryAccess())
    store.put(make_package(tmp_path, "bare", "1.0.0"))
    assert store.pushed is not None
    result = verify(run_cli, store.pushed.reference.display(), policy_file(tmp_path))
    assert result.code == 1
    assert "is unsigned: no Sigstore bundle refers to it" in result.err


def test_a_signature_of_other_bytes_is_refused(
    run_cli: Any, registry: Registry, tmp_path: Path
) -> None:
    other = signed_package(tmp_path / "other", "hello", "9.9.9")
    store = OciStore(OciReference.parse(registry.location("px/mismatch")), RegistryAccess())
    signing = store.signed_with(other.with_name(other.name + ".sigstore.json"))
    signing.put(make_package(tmp_path / "mine", "hello", "1.0.0"))
    assert signing.pushed is not None
    result = verify(run_cli, signing.pushed.reference.display(), policy_file(tmp_path))
    assert result.code == 1, result.err


def test_verify_through_the_referrers_api(run_cli: Any, registry: Registry, tmp_path: Path) -> None:
    package = signed_package(tmp_path, "api", "3.0.0")
    behaviour = Behaviour(referrers_api=True)
    with proxy(registry.base, behaviour) as standin:
        store = OciStore(OciReference.parse(standin.location("px/api-cli")), RegistryAccess())
        signing = store.signed_with(package.with_name(package.name + ".sigstore.json"))
        signing.put(package)
        assert signing.pushed is not None
        result = verify(run_cli, signing.pushed.reference.display(), policy_file(tmp_path))
    assert result.code == 0, result.err
    assert behaviour.referrers


def test_verify_refuses_what_it_cannot_use(run_cli: Any, tmp_path: Path) -> None:
    policy = policy_file(tmp_path)
    tagged = run_cli(
        px_plugin, "verify", "oci://127.0.0.1:9/px:hello-1.0.0", "--policy", str(policy)
    )
    assert tagged.code == 2 and "not addressed by digest" in tagged.err
    with_bundle = run_cli(
        px_plugin,
        "verify",
        "oci://127.0.0.1:9/px@sha256:" + "a" * 64,
        "--bundle",
        str(policy),
    )
    assert with_bundle.code == 2 and "--bundle does not go with an oci://" in with_bundle.err
    missing = run_cli(px_plugin, "verify", str(tmp_path / "nothing.pxp"))
    assert missing.code == 2 and "no artifact file" in missing.err


def test_publish_and_verify_with_credentials_and_a_private_ca(
    run_cli: Any,
    auth_registry: Registry,
    release_repo: Repo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert auth_registry.tls is not None
    monkeypatch.setenv("PX_LOGIN", f"{USER}:{PASSWORD}")
    access = ("--registry-credentials-env", "PX_LOGIN", "--ca-file", str(auth_registry.tls.ca_file))
    package = signed_package(tmp_path / "pkg", "secure", "1.0.0")
    result = publish(run_cli, package, release_repo, auth_registry.location("px/secure"), *access)
    assert result.code == 0, result.err
    assert PASSWORD not in result.out + result.err
    pushed = re.search(r"pushed to (oci://\S+@sha256:[0-9a-f]{64})", result.out)
    assert pushed, result.out
    verified = run_cli(
        px_plugin, "verify", pushed.group(1), "--policy", str(policy_file(tmp_path)), *access
    )
    assert verified.code == 0, verified.err
