"""Registry authentication: htpasswd + TLS on the real registry, bearer tokens via a stand-in."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus import free_port
from registry import PASSWORD, USER, Registry, make_package
from registry_proxy import Behaviour, proxy

from pipeline.cli.plugin import cli as px_plugin
from pipeline.errors import GateError, InputError
from pipeline.fsutil import hash_file
from pipeline.store.oci.auth import MAX_TOKEN_BYTES, lookup_credentials
from pipeline.store.oci.reference import OciReference
from pipeline.store.oci.store import OciStore, RegistryAccess
from pipeline.store.oci.transport import _check_scheme

ENV = "PX_REGISTRY_LOGIN"


def roundtrip(location: str, access: RegistryAccess, folder: Path) -> None:
    """Push a package and pull it back by digest."""
    package = make_package(folder, "auth", "1.0.0", padding=300_000)
    store = OciStore(OciReference.parse(location), access)
    stored = store.put(package)
    dest = folder / "pulled.pxp"
    store.fetch(stored.uri, stored.sha256, stored.size, dest)
    assert hash_file(dest) == hash_file(package)


def docker_config(folder: Path, authority: str, entry: dict[str, Any], **extra: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    document = {"auths": {f"https://{authority}": entry}, **extra}
    (folder / "config.json").write_text(json.dumps(document))
    return folder


def test_basic_auth_over_tls_with_credentials_from_a_variable(
    auth_registry: Registry, tmp_path: Path
) -> None:
    assert auth_registry.tls is not None
    access = RegistryAccess(
        credentials_env=ENV,
        ca_file=auth_registry.tls.ca_file,
        environ={ENV: f"{USER}:{PASSWORD}"},
    )
    roundtrip(auth_registry.location("px/basic-env"), access, tmp_path)


@pytest.mark.parametrize("form", ["auth", "username"])
def test_credentials_from_the_docker_config(
    auth_registry: Registry, tmp_path: Path, form: str
) -> None:
    assert auth_registry.tls is not None
    entry = (
        {"auth": base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
        if form == "auth"
        else {"username": USER, "password": PASSWORD}
    )
    config = docker_config(tmp_path / "docker", auth_registry.authority, entry)
    access = RegistryAccess(
        ca_file=auth_registry.tls.ca_file, environ={"DOCKER_CONFIG": str(config)}
    )
    roundtrip(auth_registry.location(f"px/config-{form}"), access, tmp_path)


def test_wrong_credentials_exit_2_without_echoing_them(
    run_cli: Any, auth_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert auth_registry.tls is not None
    secret = "wrong-Secret-4711"
    monkeypatch.setenv(ENV, f"intruder:{secret}")
    location = auth_registry.location("px/denied") + "@sha256:" + "e" * 64
    result = run_cli(
        px_plugin,
        "verify",
        location,
        "--registry-credentials-env",
        ENV,
        "--ca-file",
        str(auth_registry.tls.ca_file),
    )
    assert result.code == 2, result.err
    assert "access denied (HTTP 401)" in result.err
    assert f"refused the credentials from ${ENV}" in result.err
    output = result.out + result.err
    assert secret not in output and "intruder" not in output
    assert base64.b64encode(f"intruder:{secret}".encode()).decode() not in output


def test_no_credentials_say_how_to_give_them(auth_registry: Registry, tmp_path: Path) -> None:
    assert auth_registry.tls is not None
    access = RegistryAccess(
        ca_file=auth_registry.tls.ca_file, environ={"DOCKER_CONFIG": str(tmp_path / "none")}
    )
    with pytest.raises(InputError, match="access denied") as refused:
        roundtrip(auth_registry.location("px/anonymous"), access, tmp_path)
    assert "--registry-credentials-env" in (refused.value.hint or "")


def test_a_credential_helper_is_named_not_run(auth_registry: Registry, tmp_path: Path) -> None:
    assert auth_registry.tls is not None
    folder = tmp_path / "docker"
    folder.mkdir()
    (folder / "config.json").write_text(
        json.dumps({"credHelpers": {auth_registry.authority: "secretservice"}})
    )
    access = RegistryAccess(
        ca_file=auth_registry.tls.ca_file, environ={"DOCKER_CONFIG": str(folder)}
    )
    with pytest.raises(InputError, match="access denied") as refused:
        roundtrip(auth_registry.location("px/helper"), access, tmp_path)
    assert "credential helper 'secretservice'" in (refused.value.hint or "")
    assert "not run" in (refused.value.hint or "")


def test_tls_needs_the_private_ca(auth_registry: Registry, tmp_path: Path) -> None:
    access = RegistryAccess(credentials_env=ENV, environ={ENV: f"{USER}:{PASSWORD}"})
    with pytest.raises(
        GateError, match=r"TLS certificate of 127\.0\.0\.1:.* is not trusted"
    ) as refused:
        roundtrip(auth_registry.location("px/no-ca"), access, tmp_path)
    assert "--ca-file" in (refused.value.hint or "")
    bad_ca = tmp_path / "not-a-ca.pem"
    bad_ca.write_text("not a certificate\n")
    with pytest.raises(InputError, match="cannot load the CA file"):
        RegistryAccess(ca_file=bad_ca).client(OciReference.parse(auth_registry.location("px/x")))


def test_the_bearer_token_flow(registry: Registry, tmp_path: Path) -> None:
    behaviour = Behaviour(bearer=("robot", "token-Secret-1"))
    with proxy(registry.base, behaviour) as standin:
        access = RegistryAccess(credentials_env=ENV, environ={ENV: "robot:token-Secret-1"})
        roundtrip(standin.location("px/bearer"), access, tmp_path)
        assert "repository:px/bearer:pull,push" in behaviour.scopes
        assert "repository:px/bearer:pull" in behaviour.scopes

        reference = OciReference.parse(standin.location("px/bearer"))
        with access.client(reference) as client:
            assert not client.blob_exists("0" * 64)
            asked = len(behaviour.scopes)
            behaviour.tokens.clear()  # every token expires
            assert not client.blob_exists("0" * 64)
            assert len(behaviour.scopes) == asked + 1

        wrong = RegistryAccess(credentials_env=ENV, environ={ENV: "robot:nope"})
        with pytest.raises(InputError, match=r"token service .* refused access") as refused:
            roundtrip(standin.location("px/bearer-wrong"), wrong, tmp_path / "wrong")
        assert "nope" not in refused.value.diagnostics()


def test_an_oversized_token_answer_is_refused(registry: Registry, tmp_path: Path) -> None:
    behaviour = Behaviour(bearer=("robot", "token-Secret-1"), token_padding=MAX_TOKEN_BYTES)
    with proxy(registry.base, behaviour) as standin:
        access = RegistryAccess(credentials_env=ENV, environ={ENV: "robot:token-Secret-1"})
        with pytest.raises(InputError, match=r"token service .* with more than 65,536 bytes"):
            roundtrip(standin.location("px/big-token"), access, tmp_path)


def test_credentials_never_go_to_an_upload_location_on_another_host(
    registry: Registry, tmp_path: Path
) -> None:
    elsewhere = Behaviour()
    with proxy(registry.base, elsewhere) as other:
        behaviour = Behaviour(bearer=("robot", "token-Secret-1"), upload_origin=other.origin)
        with proxy(registry.base, behaviour) as standin:
            access = RegistryAccess(credentials_env=ENV, environ={ENV: "robot:token-Secret-1"})
            roundtrip(standin.location("px/elsewhere"), access, tmp_path)
    assert behaviour.authorizations  # the registry itself was sent the token
    assert elsewhere.authorizations == []


def test_an_unreachable_token_service_is_named(registry: Registry, tmp_path: Path) -> None:
    realm = f"http://127.0.0.1:{free_port()}/token"
    behaviour = Behaviour(bearer=("robot", "token-Secret-1"), token_realm=realm)
    with proxy(registry.base, behaviour) as standin:
        access = RegistryAccess(credentials_env=ENV, environ={ENV: "robot:token-Secret-1"})
        with pytest.raises(InputError, match="cannot reach the token service") as refused:
            roundtrip(standin.location("px/no-token"), access, tmp_path)
    assert "token-Secret-1" not in refused.value.diagnostics()


def test_the_environment_variable_must_hold_user_and_password(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"PX_X .* is not set"):
        lookup_credentials("r:1", env_name="PX_X", environ={})
    with pytest.raises(InputError, match="does not hold user:password") as refused:
        lookup_credentials("r:1", env_name="PX_X", environ={"PX_X": "justatoken"})
    assert "justatoken" not in refused.value.diagnostics()
    found = lookup_credentials("r:1", env_name="PX_X", environ={"PX_X": "u:p:w"})
    assert found.credentials is not None and "p:w" not in repr(found.credentials)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{", "is not JSON"),
        ("[]", "is not a JSON object"),
        ('{"auths": {"reg:5000": {"auth": "***"}}}', "is not base64"),
        ('{"auths": {"reg:5000": {"auth": "bm9jb2xvbg=="}}}', "does not hold user:password"),
        ('{"auths": {"reg:5000": {"username": "u"}}}', "needs 'auth', or 'username'"),
        ('{"auths": ["reg:5000"]}', "'auths' is not a JSON object"),
        ('{"credHelpers": "pass"}', "'credHelpers' is not a JSON object"),
    ],
)
def test_a_broken_docker_config_is_named(tmp_path: Path, content: str, problem: str) -> None:
    (tmp_path / "config.json").write_text(content)
    with pytest.raises(InputError, match=problem):
        lookup_credentials("reg:5000", environ={"DOCKER_CONFIG": str(tmp_path)})


def test_docker_config_keys_and_absence(tmp_path: Path) -> None:
    environ = {"DOCKER_CONFIG": str(tmp_path)}
    assert lookup_credentials("reg:5000", environ=environ).credentials is None
    entry = {"auth": base64.b64encode(b"u:p").decode()}
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {"http://REG:5000/v1/": entry}, "credsStore": "desktop"})
    )
    found = lookup_credentials("reg:5000", environ=environ)
    assert found.credentials is not None and found.credentials.username == "u"
    other = lookup_credentials("other:5000", environ=environ)
    assert other.credentials is None and other.helper == "desktop"


def test_plain_http_only_to_loopback() -> None:
    with pytest.raises(InputError, match="reached over https"):
        _check_scheme(httpx.Request("GET", "http://registry.example/v2/"))
    _check_scheme(httpx.Request("GET", "http://127.0.0.1:5000/v2/"))
    _check_scheme(httpx.Request("GET", "https://registry.example/v2/"))
