"""Keyless verification against real Sigstore bundles, fully offline, with pinned trust roots."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import jwt
import pytest

from pipeline.errors import GateError, InputError
from pipeline.models.load import parse_document
from pipeline.models.signing import ReleasePredicate, SigningPolicy
from pipeline.signing.keyless import identity, release_statement, sign_keyless
from pipeline.signing.trust import TrustInputs, shipped_trusted_root
from pipeline.signing.verify import certificate_identities, certificate_issuer, verify_bundle

FIXTURES = Path(__file__).resolve().parent / "data" / "sigstore"
POLICY_FILE = Path(__file__).resolve().parent / "data" / "signing" / "signing.yaml"
NOW = datetime(2026, 3, 1, tzinfo=UTC)

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
PROD_IDENTITY = (
    "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2"
)
STAGING_EMAIL = "william@yossarian.net"
STAGING_OAUTH = "https://github.com/login/oauth"
DSSE_IDENTITY = (
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
    ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
)
DSSE_SUBJECT = "a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf"
"""The in-toto subject of the staging DSSE bundle (sigstore-python's a.txt, not the .txt here)."""


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Every test here runs with networking disabled in-process, and must never try it."""
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield attempts
    assert attempts == [], f"a test tried to reach the network: {attempts}"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def policy() -> SigningPolicy:
    return parse_document(POLICY_FILE.read_bytes(), str(POLICY_FILE), SigningPolicy)


def prod_bundle() -> bytes:
    return (FIXTURES / "bundle_v3_github.whl.sigstore").read_bytes()


def prod_digest() -> str:
    return sha256(FIXTURES / "bundle_v3_github.whl")


def staging_bundle() -> bytes:
    return (FIXTURES / "bundle_v3.txt.sigstore").read_bytes()


def dsse_bundle() -> bytes:
    return (FIXTURES / "a.dsse.staging-rekor-v2.txt.sigstore.json").read_bytes()


def test_production_bundle_verifies_offline_with_its_github_identity(
    capsys: pytest.CaptureFixture[str],
) -> None:
    trust = TrustInputs(policy=policy())
    verify_bundle(prod_bundle(), digest=prod_digest(), trust=trust, now=NOW)  # warm the root
    start = time.perf_counter()
    result = verify_bundle(prod_bundle(), digest=prod_digest(), trust=trust, now=NOW)
    elapsed = time.perf_counter() - start
    with capsys.disabled():
        print(f"\none keyless offline verification (production bundle): {elapsed * 1000:.1f} ms")
    assert result.mode == "keyless"
    assert result.signer == PROD_IDENTITY
    assert result.issuer == GITHUB_ISSUER
    assert result.statement is None and result.release is None and result.predicate is None
    assert any("Sigstore production, offline" in check for check in result.checks)


def test_production_bundle_verifies_with_command_line_identity() -> None:
    trust = TrustInputs.from_options(identity=PROD_IDENTITY, issuer=GITHUB_ISSUER)
    assert verify_bundle(prod_bundle(), digest=prod_digest(), trust=trust, now=NOW).signer


def test_production_bundle_verifies_with_identity_regexp() -> None:
    trust = TrustInputs.from_options(
        identity_regexp=r"https://github\.com/trailofbits/.+", issuer=GITHUB_ISSUER
    )
    assert verify_bundle(prod_bundle(), digest=prod_digest(), trust=trust, now=NOW)


def test_identity_pattern_must_match_the_whole_identity() -> None:
    trust = TrustInputs.from_options(
        identity_regexp=r"https://github\.com/trailofbits", issuer=GITHUB_ISSUER
    )
    with pytest.raises(GateError, match="identity mismatch"):
        verify_bundle(prod_bundle(), digest=prod_digest(), trust=trust, now=NOW)


def test_wrong_identity_fails_naming_it() -> None:
    other = PROD_IDENTITY.replace("v0.1.2", "v0.1.3")
    trust = TrustInputs.from_options(identity=other, issuer=GITHUB_ISSUER)
    with pytest.raises(GateError) as caught:
        verify_bundle(prod_bundle(), digest=prod_digest(), trust=trust, now=NOW)
    message = caught.value.message
    assert message.startswith("identity mismatch")
    assert PROD_IDENTITY in message and other in message


def test_wrong_issuer_fails_naming_it() -> None:
    trust = TrustInputs.from_options(identity=PROD_IDENTITY, issuer="https://accounts.google.com")
    with pytest.raises(GateError) as caught:
        verify_bundle(prod_bundle(), digest=prod_digest(), trust=trust, now=NOW)
    assert caught.value.message.startswith("issuer mismatch")
    assert GITHUB_ISSUER in caught.value.message
    assert "https://accounts.google.com" in caught.value.message


def test_one_changed_byte_of_the_artifact_fails(tmp_path: Path) -> None:
    artifact = bytearray((FIXTURES / "bundle_v3_github.whl").read_bytes())
    artifact[100] ^= 0x01
    changed = hashlib.sha256(artifact).hexdigest()
    with pytest.raises(GateError, match=f"digest mismatch.*{changed}"):
        verify_bundle(prod_bundle(), digest=changed, trust=TrustInputs(policy=policy()), now=NOW)


def test_changed_artifact_fails_the_signature_when_the_bundle_omits_the_digest() -> None:
    document = json.loads(prod_bundle())
    del document["messageSignature"]["messageDigest"]
    changed = hashlib.sha256(b"another artifact").hexdigest()
    with pytest.raises(GateError, match="does not verify against the Sigstore production"):
        verify_bundle(
            json.dumps(document).encode(),
            digest=changed,
            trust=TrustInputs(policy=policy()),
            now=NOW,
        )


def test_production_bundle_fails_against_the_staging_root() -> None:
    trust = TrustInputs(policy=policy(), staging=True)
    with pytest.raises(GateError, match="does not verify against the Sigstore staging trust root"):
        verify_bundle(prod_bundle(), digest=prod_digest(), trust=trust, now=NOW)


def test_staging_message_bundle_verifies_with_staging_and_fails_with_production() -> None:
    digest = sha256(FIXTURES / "bundle_v3.txt")
    result = verify_bundle(
        staging_bundle(), digest=digest, trust=TrustInputs(policy=policy(), staging=True), now=NOW
    )
    assert (result.signer, result.issuer) == (STAGING_EMAIL, STAGING_OAUTH)
    with pytest.raises(GateError, match="Sigstore production trust root"):
        verify_bundle(staging_bundle(), digest=digest, trust=TrustInputs(policy=policy()), now=NOW)


def test_staging_dsse_bundle_verifies_with_staging_and_fails_with_production() -> None:
    trust = TrustInputs(policy=policy(), staging=True)
    result = verify_bundle(dsse_bundle(), digest=DSSE_SUBJECT, trust=trust, now=NOW)
    assert result.signer == DSSE_IDENTITY and result.issuer == GITHUB_ISSUER
    assert result.statement is not None
    assert result.statement.predicate_type == "https://slsa.dev/provenance/v1"
    assert result.predicate is not None and "buildDefinition" in result.predicate
    assert result.release is None
    assert any("in-toto subject a.txt" in check for check in result.checks)
    with pytest.raises(GateError, match="Sigstore production trust root"):
        verify_bundle(
            dsse_bundle(), digest=DSSE_SUBJECT, trust=TrustInputs(policy=policy()), now=NOW
        )


def test_dsse_bundle_for_another_digest_fails() -> None:
    other = sha256(FIXTURES / "a.dsse.staging-rekor-v2.txt")
    trust = TrustInputs(policy=policy(), staging=True)
    with pytest.raises(
        GateError, match=f"digest mismatch: the signature covers a.txt sha256:{DSSE_SUBJECT}"
    ):
        verify_bundle(dsse_bundle(), digest=other, trust=trust, now=NOW)


def test_tampered_dsse_payload_fails() -> None:
    document = json.loads(dsse_bundle())
    envelope = document["dsseEnvelope"]
    import base64

    payload = base64.b64decode(envelope["payload"]).replace(b"rekor2", b"rekor3")
    envelope["payload"] = base64.b64encode(payload).decode()
    trust = TrustInputs(policy=policy(), staging=True)
    with pytest.raises(GateError, match="does not verify against the Sigstore staging"):
        verify_bundle(json.dumps(document).encode(), digest=DSSE_SUBJECT, trust=trust, now=NOW)


def test_environment_identities_are_stricter() -> None:
    trust = TrustInputs(policy=policy(), staging=True)
    with pytest.raises(GateError, match="identity mismatch for environment 'prod'"):
        verify_bundle(dsse_bundle(), digest=DSSE_SUBJECT, trust=trust, environment="prod", now=NOW)
    ok = TrustInputs(policy=policy())
    result = verify_bundle(
        prod_bundle(), digest=prod_digest(), trust=ok, environment="prod", now=NOW
    )
    assert result.signer == PROD_IDENTITY
    undeclared = verify_bundle(
        prod_bundle(), digest=prod_digest(), trust=ok, environment="dev", now=NOW
    )
    assert undeclared.signer == PROD_IDENTITY


def test_seed_policy_trusts_nobody() -> None:
    with pytest.raises(GateError, match="no keyless signer is trusted"):
        verify_bundle(prod_bundle(), digest=prod_digest(), trust=TrustInputs(), now=NOW)


def test_private_instance_trust_root_by_path(tmp_path: Path) -> None:
    root = tmp_path / "trusted_root.json"
    shutil.copyfile(shipped_trusted_root(staging=False), root)
    trust = TrustInputs(policy=policy(), trusted_root=root)
    result = verify_bundle(prod_bundle(), digest=prod_digest(), trust=trust, now=NOW)
    assert any(f"trust root {root}" in check for check in result.checks)
    staging_root = tmp_path / "staging_root.json"
    shutil.copyfile(shipped_trusted_root(staging=True), staging_root)
    with pytest.raises(GateError, match=f"trust root {staging_root}"):
        verify_bundle(
            prod_bundle(),
            digest=prod_digest(),
            trust=TrustInputs(policy=policy(), trusted_root=staging_root),
            now=NOW,
        )


def test_keyless_bundle_sigstore_cannot_read_is_a_refusal() -> None:
    document = json.loads(staging_bundle())
    document["verificationMaterial"]["tlogEntries"] = []
    with pytest.raises(GateError, match="not a valid Sigstore bundle"):
        verify_bundle(
            json.dumps(document).encode(),
            digest=sha256(FIXTURES / "bundle_v3.txt"),
            trust=TrustInputs(policy=policy(), staging=True),
            now=NOW,
        )


def test_certificate_helpers_read_issuer_and_identities() -> None:
    from cryptography import x509
    from sigstore.models import Bundle

    cert = Bundle.from_json(prod_bundle()).signing_certificate
    assert certificate_issuer(cert) == GITHUB_ISSUER
    assert certificate_identities(cert) == [PROD_IDENTITY]
    key = cert.public_key()
    bare = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(cert.subject)
        .public_key(key)
        .serial_number(1)
        .not_valid_before(cert.not_valid_before_utc)
        .not_valid_after(cert.not_valid_after_utc)
    )
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    signed = bare.sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    assert certificate_issuer(signed) is None
    assert certificate_identities(signed) == []


def test_verification_in_a_process_without_network(tmp_path: Path) -> None:
    """The strongest proof of 'offline': a fresh process in a namespace with no network at all."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"unshare -rn is not permitted here: {probe.stderr.decode().strip()}")
    script = f"""
import socket
from datetime import UTC, datetime
from pathlib import Path
from pipeline.models.load import parse_document
from pipeline.models.signing import SigningPolicy
from pipeline.signing.trust import TrustInputs
from pipeline.signing.verify import verify_bundle
try:
    socket.create_connection(("1.1.1.1", 443), timeout=2)
    raise SystemExit("network unexpectedly reachable")
except OSError:
    pass
policy = parse_document(Path({str(POLICY_FILE)!r}).read_bytes(), "signing.yaml", SigningPolicy)
result = verify_bundle(
    Path({str(FIXTURES / "bundle_v3_github.whl.sigstore")!r}).read_bytes(),
    digest={prod_digest()!r},
    trust=TrustInputs(policy=policy),
    now=datetime.now(UTC),
)
print("verified", result.signer)
"""
    done = subprocess.run(
        ["unshare", "-rn", sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[1],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"verified {PROD_IDENTITY}"


# --- keyless signing: only its argument checks can run here (no Fulcio, no Rekor) ---

AMBIENT = (
    "GITHUB_ACTIONS",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "GOOGLE_SERVICE_ACCOUNT_NAME",
    "BUILDKITE",
    "GITLAB_CI",
    "CIRCLECI",
)


def release() -> ReleasePredicate:
    return ReleasePredicate.model_validate(
        {"plugin": "hello", "version": "1.4.0", "sourceCommit": "a" * 40, "builder": "ci"}
    )


def test_sign_keyless_without_a_token_or_ambient_credential(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in AMBIENT:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(InputError, match="needs an OIDC identity token") as caught:
        sign_keyless("ab" * 32, "hello-1.4.0.whl", release(), None)
    assert caught.value.hint is not None and "id-token: write" in caught.value.hint


def test_sign_keyless_in_github_actions_without_id_token_permission(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in AMBIENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    with pytest.raises(InputError, match="could not detect an ambient OIDC credential"):
        identity(None)


def test_sign_keyless_uses_an_ambient_credential(monkeypatch: pytest.MonkeyPatch) -> None:
    """GitLab CI hands the token over in an environment variable (here an expired one)."""
    for name in AMBIENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITLAB_CI", "true")
    now = int(time.time())
    claims = {"iss": "https://gitlab.com", "sub": "x", "aud": "sigstore", "iat": now - 600}
    token = jwt.encode({**claims, "exp": now - 300}, "k" * 32, algorithm="HS256")
    monkeypatch.setenv("SIGSTORE_ID_TOKEN", token)
    with pytest.raises(InputError, match="identity token is not usable"):
        sign_keyless("ab" * 32, "hello-1.4.0.whl", release(), None)


def test_sign_keyless_with_a_malformed_token() -> None:
    with pytest.raises(InputError, match="identity token is not usable"):
        sign_keyless("ab" * 32, "hello-1.4.0.whl", release(), "not-a-jwt", staging=True)


def test_sign_keyless_checks_the_digest_and_name_first() -> None:
    with pytest.raises(InputError, match="not a sha256 digest"):
        sign_keyless("abc", "hello.whl", release(), "token")
    with pytest.raises(InputError, match="file name without directories"):
        sign_keyless("ab" * 32, "dist/hello.whl", release(), "token")


def test_keyless_statement_is_the_release_statement() -> None:
    statement = release_statement("ab" * 32, "hello-1.4.0.whl", release())
    data = json.loads(statement._contents)
    assert data["subject"] == [{"name": "hello-1.4.0.whl", "digest": {"sha256": "ab" * 32}}]
    assert data["predicateType"] == "https://powerx.io/attestations/plugin-release/v1"
