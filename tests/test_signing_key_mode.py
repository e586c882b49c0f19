"""Key mode end to end: keygen, sign, verify; and every way a key-signed bundle must fail."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sigstore_models.bundle.v1 import Bundle as BundleMessage

from pipeline.errors import GateError, InputError
from pipeline.models.base import API_VERSION
from pipeline.models.signing import ReleasePredicate, SigningPolicy
from pipeline.signing import dsse
from pipeline.signing.bundle import BUNDLE_MEDIA_TYPE
from pipeline.signing.keys import generate_keypair, key_id, load_private_key
from pipeline.signing.sign import sign_with_key
from pipeline.signing.statement import PAYLOAD_TYPE, RELEASE_PREDICATE_TYPE
from pipeline.signing.trust import TrustInputs
from pipeline.signing.verify import verify_bundle

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DIGEST = hashlib.sha256(b"hello-1.4.0.whl contents").hexdigest()
NAME = "hello-1.4.0.whl"
PASSPHRASE = b"correct horse battery staple"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Key mode is offline by construction: prove no test tries the network."""
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield
    assert attempts == []


@pytest.fixture(scope="module")
def keypair() -> tuple[bytes, bytes]:
    return generate_keypair(PASSPHRASE)


@pytest.fixture
def private_key(keypair: tuple[bytes, bytes]) -> ec.EllipticCurvePrivateKey:
    return load_private_key(keypair[0], PASSPHRASE, "cosign.key")


@pytest.fixture
def kid(private_key: ec.EllipticCurvePrivateKey) -> str:
    return key_id(private_key.public_key())


def release(**fields: Any) -> ReleasePredicate:
    return ReleasePredicate.model_validate(
        {
            "plugin": "hello",
            "version": "1.4.0",
            "sourceCommit": "0123456789abcdef0123456789abcdef01234567",
            "builder": "px-plugin sign on build-01.example.com",
            **fields,
        }
    )


def policy_with(public_pem: bytes, **key: Any) -> SigningPolicy:
    fields = dict(key)
    document: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "SigningPolicy",
        "revokedKeys": fields.pop("revokedKeys", []),
        "environments": fields.pop("environments", {}),
    }
    pem = public_pem.decode()
    from pipeline.signing.keys import public_key_id

    document["keys"] = [{"id": public_key_id(public_pem), "publicKey": pem, **fields}]
    return SigningPolicy.model_validate(document)


def trust_for(keypair: tuple[bytes, bytes], **key: Any) -> TrustInputs:
    return TrustInputs(policy=policy_with(keypair[1], **key))


def test_keygen_sign_verify(
    keypair: tuple[bytes, bytes], private_key: ec.EllipticCurvePrivateKey, kid: str
) -> None:
    window = {"notBefore": "2026-01-01T00:00:00Z", "notAfter": "2026-06-01T00:00:00Z"}
    bundle = sign_with_key(DIGEST, NAME, release(**window), private_key)
    result = verify_bundle(bundle, digest=DIGEST, trust=trust_for(keypair), now=NOW)
    assert result.mode == "key" and result.signer == kid and result.issuer is None
    assert result.release == release(**window)
    assert result.statement is not None
    assert result.statement.predicate_type == RELEASE_PREDICATE_TYPE
    assert result.predicate is not None and result.predicate["notAfter"] == "2026-06-01T00:00:00Z"
    assert result.checks[-1] == "release predicate validity window"
    assert any("DSSE signature" in check for check in result.checks)


def test_bundle_format(private_key: ec.EllipticCurvePrivateKey, kid: str) -> None:
    bundle = sign_with_key(DIGEST, NAME, release(), private_key)
    document = json.loads(bundle)
    assert document["mediaType"] == BUNDLE_MEDIA_TYPE
    assert document["verificationMaterial"] == {"publicKey": {"hint": kid}, "tlogEntries": []}
    envelope = document["dsseEnvelope"]
    assert envelope["payloadType"] == PAYLOAD_TYPE
    [signature] = envelope["signatures"]
    assert signature["keyid"] == kid
    payload = base64.b64decode(envelope["payload"])
    statement = json.loads(payload)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["subject"] == [{"name": NAME, "digest": {"sha256": DIGEST}}]
    assert statement["predicate"] == {
        "plugin": "hello",
        "version": "1.4.0",
        "sourceCommit": "0123456789abcdef0123456789abcdef01234567",
        "builder": "px-plugin sign on build-01.example.com",
    }
    # The signature is a DER ECDSA-SHA256 signature over PAE(payloadType, payload).
    assert dsse.pae(PAYLOAD_TYPE, b"{}") == b"DSSEv1 28 application/vnd.in-toto+json 2 {}"
    assert dsse.verify(
        base64.b64decode(signature["sig"]), PAYLOAD_TYPE, payload, private_key.public_key()
    )
    # The Sigstore protobuf-specs model reads it as a bundle.
    parsed = BundleMessage.from_json(bundle)
    assert parsed.verification_material.public_key is not None
    assert parsed.verification_material.public_key.hint == kid


def test_command_line_key_replaces_the_policy_keys(
    keypair: tuple[bytes, bytes], private_key: ec.EllipticCurvePrivateKey
) -> None:
    bundle = sign_with_key(DIGEST, NAME, release(), private_key)
    trust = TrustInputs.from_options(public_keys=(keypair[1],))
    assert verify_bundle(bundle, digest=DIGEST, trust=trust, now=NOW).mode == "key"
    other_pem = generate_keypair(b"x")[1]
    other = TrustInputs.from_options(policy_with(keypair[1]), public_keys=(other_pem,))
    with pytest.raises(GateError, match=r"is not trusted: the signing policy lists [0-9a-f]{64}$"):
        verify_bundle(bundle, digest=DIGEST, trust=other, now=NOW)


def test_revocation_in_the_policy_survives_a_command_line_key(
    keypair: tuple[bytes, bytes], private_key: ec.EllipticCurvePrivateKey, kid: str
) -> None:
    bundle = sign_with_key(DIGEST, NAME, release(), private_key)
    policy = SigningPolicy.model_validate(
        {"apiVersion": API_VERSION, "kind": "SigningPolicy", "revokedKeys": [kid]}
    )
    trust = TrustInputs.from_options(policy, public_keys=(keypair[1],))
    with pytest.raises(GateError, match=f"key {kid} was revoked$"):
        verify_bundle(bundle, digest=DIGEST, trust=trust, now=NOW)


def test_predicate_window_expired(
    keypair: tuple[bytes, bytes], private_key: ec.EllipticCurvePrivateKey
) -> None:
    bundle = sign_with_key(DIGEST, NAME, release(notAfter="2026-02-01T00:00:00Z"), private_key)
    with pytest.raises(
        GateError,
        match="the signature has expired: its notAfter is 2026-02-01T00:00:00Z, now is 2026-03-01T12:00:00Z",
    ):
        verify_bundle(bundle, digest=DIGEST, trust=trust_for(keypair), now=NOW)


def test_predicate_window_not_yet_valid(
    keypair: tuple[bytes, bytes], private_key: ec.EllipticCurvePrivateKey
) -> None:
    bundle = sign_with_key(DIGEST, NAME, release(notBefore="2026-04-01T00:00:00Z"), private_key)
    with pytest.raises(GateError, match="not valid yet: its notBefore is 2026-04-01T00:00:00Z"):
        verify_bundle(bundle, digest=DIGEST, trust=trust_for(keypair), now=NOW)


def test_key_not_yet_valid_in_policy(
    keypair: tuple[bytes, bytes], private_key: ec.EllipticCurvePrivateKey, kid: str
) -> None:
    bundle = sign_with_key(DIGEST, NAME, release(), private_key)
    trust = trust_for(keypair, notBefore=NOW + timedelta(days=1))
    with pytest.raises(GateError, match=f"key {kid} is not valid before 2026-03-02"):
        verify_bundle(bundle, digest=DIGEST, trust=trust, now=NOW)


def test_key_expired_in_policy(
    keypair: tuple[bytes, bytes], private_key: ec.EllipticCurvePrivateKey, kid: str
) -> None:
    bundle = sign_with_key(DIGEST, NAME, release(), private_key)
    trust = trust_for(keypair, notBefore="2025-01-01T00:00:00Z", notAfter="2026-01-01T00:00:00Z")
    with pytest.raises(GateError, match=f"key {kid} expired at 2026-01-01"):
        verify_bundle(bundle, digest=DIGEST, trust=trust, now=NOW)
    still_valid = trust_for(keypair, notAfter="2026-12-31T00:00:00Z")
    assert verify_bundle(bundle, digest=DIGEST, trust=still_valid, now=NOW)


def test_revoked_key(
    keypair: tuple[bytes, bytes], private_key: ec.EllipticCurvePrivateKey, kid: str
) -> None:
    bundle = sign_with_key(DIGEST, NAME, release(), private_key)
    trust = trust_for(
        keypair, revoked=True, revokedAt="2026-02-01T00:00:00Z", reason="laptop stolen"
    )
    with pytest.raises(
        GateError, match=f"key {kid} was revoked at 2026-02-01T00:00:00\\+00:00: laptop stolen"
    ):
        verify_bundle(bundle, digest=DIGEST, trust=trust, now=NOW)


def test_unknown_key(keypair: tuple[bytes, bytes], kid: str) -> None:
    stranger = ec.generate_private_key(ec.SECP256R1())
    bundle = sign_with_key(DIGEST, NAME, release(), stranger)
    with pytest.raises(
        GateError,
        match=f"key {key_id(stranger.public_key())} is not trusted: the signing policy lists {kid}",
    ) as caught:
        verify_bundle(bundle, digest=DIGEST, trust=trust_for(keypair), now=NOW)
    assert caught.value.hint is not None and "--key" in caught.value.hint
    with pytest.raises(GateError, match="the signing policy lists no keys"):
        verify_bundle(bundle, digest=DIGEST, trust=TrustInputs(), now=NOW)


def test_signature_over_another_digest(
    keypair: tuple[bytes, bytes], private_key: ec.EllipticCurvePrivateKey
) -> None:
    other = hashlib.sha256(b"another artifact").hexdigest()
    bundle = sign_with_key(other, NAME, release(), private_key)
    with pytest.raises(
        GateError,
        match=f"digest mismatch: the signature covers {NAME} sha256:{other}, but the artifact is sha256:{DIGEST}",
    ):
        verify_bundle(bundle, digest=DIGEST, trust=trust_for(keypair), now=NOW)


def tamper(bundle: bytes, change: Any) -> bytes:
    document = json.loads(bundle)
    change(document)
    return json.dumps(document).encode()


def test_tampered_payload(
    keypair: tuple[bytes, bytes], private_key: ec.EllipticCurvePrivateKey, kid: str
) -> None:
    bundle = sign_with_key(DIGEST, NAME, release(), private_key)

    def bump_version(document: dict[str, Any]) -> None:
        payload = base64.b64decode(document["dsseEnvelope"]["payload"])
        document["dsseEnvelope"]["payload"] = base64.b64encode(
            payload.replace(b'"1.4.0"', b'"1.4.1"')
        ).decode()

    with pytest.raises(GateError, match=f"the DSSE signature does not verify with key {kid}"):
        verify_bundle(
            tamper(bundle, bump_version), digest=DIGEST, trust=trust_for(keypair), now=NOW
        )


def test_tampered_payload_type(
    keypair: tuple[bytes, bytes], private_key: ec.EllipticCurvePrivateKey
) -> None:
    bundle = sign_with_key(DIGEST, NAME, release(), private_key)

    def retype(document: dict[str, Any]) -> None:
        document["dsseEnvelope"]["payloadType"] = "text/plain"

    with pytest.raises(GateError, match="DSSE signature does not verify"):
        verify_bundle(tamper(bundle, retype), digest=DIGEST, trust=trust_for(keypair), now=NOW)


def signed_envelope(
    private_key: ec.EllipticCurvePrivateKey, payload_type: str, payload: bytes
) -> bytes:
    """A bundle around an arbitrary payload, correctly signed (for malformed-content cases)."""
    bundle = sign_with_key(DIGEST, NAME, release(), private_key)
    signature = dsse.sign(payload_type, payload, private_key)

    def replace(document: dict[str, Any]) -> None:
        document["dsseEnvelope"]["payloadType"] = payload_type
        document["dsseEnvelope"]["payload"] = base64.b64encode(payload).decode()
        document["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(signature).decode()

    return tamper(bundle, replace)


@pytest.mark.parametrize(
    ("payload_type", "payload", "message"),
    [
        ("text/plain", b"{}", "DSSE payload type is 'text/plain'"),
        (PAYLOAD_TYPE, b"\xff not json", "the signed payload is not JSON"),
        (PAYLOAD_TYPE, b'{"_type": "other"}', "not an in-toto statement"),
        (
            PAYLOAD_TYPE,
            b'{"_type": "https://in-toto.io/Statement/v1", "subject": []}',
            "lacks a subject list",
        ),
        (
            PAYLOAD_TYPE,
            b'{"_type": "https://in-toto.io/Statement/v1", "subject": [{"name": "x"}], "predicateType": "t"}',
            "has no digest set",
        ),
        (
            PAYLOAD_TYPE,
            json.dumps(
                {
                    "_type": "https://in-toto.io/Statement/v1",
                    "subject": [{"name": "x", "digest": {"sha256": DIGEST}}],
                    "predicateType": RELEASE_PREDICATE_TYPE,
                    "predicate": {"plugin": "hello"},
                }
            ).encode(),
            "the signed release predicate is invalid: version: Field required",
        ),
    ],
)
def test_signed_but_malformed_statements(
    keypair: tuple[bytes, bytes],
    private_key: ec.EllipticCurvePrivateKey,
    payload_type: str,
    payload: bytes,
    message: str,
) -> None:
    bundle = signed_envelope(private_key, payload_type, payload)
    with pytest.raises(GateError, match=message):
        verify_bundle(bundle, digest=DIGEST, trust=trust_for(keypair), now=NOW)


def test_foreign_predicate_and_unnamed_subject_are_accepted(
    keypair: tuple[bytes, bytes], private_key: ec.EllipticCurvePrivateKey
) -> None:
    payload = json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"digest": {"sha256": DIGEST}}],
            "predicateType": "https://slsa.dev/provenance/v1",
        }
    ).encode()
    result = verify_bundle(
        signed_envelope(private_key, PAYLOAD_TYPE, payload),
        digest=DIGEST,
        trust=trust_for(keypair),
        now=NOW,
    )
    assert result.release is None and result.predicate == {}
    assert any("(unnamed)" in check for check in result.checks)


def test_signature_count_and_key_hint_must_agree(
    keypair: tuple[bytes, bytes], private_key: ec.EllipticCurvePrivateKey
) -> None:
    bundle = sign_with_key(DIGEST, NAME, release(), private_key)

    def twice(document: dict[str, Any]) -> None:
        document["dsseEnvelope"]["signatures"] *= 2

    with pytest.raises(GateError, match="expected exactly one DSSE signature, found 2"):
        verify_bundle(tamper(bundle, twice), digest=DIGEST, trust=trust_for(keypair), now=NOW)

    def other_hint(document: dict[str, Any]) -> None:
        document["verificationMaterial"]["publicKey"]["hint"] = "f" * 64

    with pytest.raises(GateError, match=r"key hint f{64} differs from the signature's keyid"):
        verify_bundle(tamper(bundle, other_hint), digest=DIGEST, trust=trust_for(keypair), now=NOW)

    def no_hint(document: dict[str, Any]) -> None:
        document["verificationMaterial"]["publicKey"] = {}

    assert verify_bundle(tamper(bundle, no_hint), digest=DIGEST, trust=trust_for(keypair), now=NOW)


def test_environment_requirements(
    keypair: tuple[bytes, bytes], private_key: ec.EllipticCurvePrivateKey, kid: str
) -> None:
    bundle = sign_with_key(DIGEST, NAME, release(), private_key)
    environments = {
        "prod": {"require": "keyless"},
        "staging": {"require": "key", "keys": ["e" * 64]},
        "test": {"require": "key", "keys": [kid]},
    }
    trust = trust_for(keypair, environments=environments)
    with pytest.raises(
        GateError,
        match="environment 'prod' requires a keyless signature, but the bundle is key-signed",
    ):
        verify_bundle(bundle, digest=DIGEST, trust=trust, environment="prod", now=NOW)
    with pytest.raises(
        GateError, match=f"key {kid} is not allowed to sign for environment 'staging'"
    ):
        verify_bundle(bundle, digest=DIGEST, trust=trust, environment="staging", now=NOW)
    assert verify_bundle(bundle, digest=DIGEST, trust=trust, environment="test", now=NOW)


def test_truncated_bundle(
    keypair: tuple[bytes, bytes], private_key: ec.EllipticCurvePrivateKey
) -> None:
    bundle = sign_with_key(DIGEST, NAME, release(), private_key)
    with pytest.raises(InputError, match="not a Sigstore bundle: not valid JSON") as caught:
        verify_bundle(bundle[: len(bundle) // 2], digest=DIGEST, trust=trust_for(keypair), now=NOW)
    assert caught.value.hint is not None and "truncated" in caught.value.hint


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"PK\x03\x04 this is a zip", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"mediaType": "application/json"}', "unknown bundle media type 'application/json'"),
        (
            b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}',
            "verificationMaterial must be a JSON object",
        ),
        (
            b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "verificationMaterial": {}}',
            "neither a public key hint nor a certificate",
        ),
        (
            b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "verificationMaterial": {"publicKey": {}}}',
            "exactly one dsseEnvelope or messageSignature",
        ),
        (
            b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "verificationMaterial": {"publicKey": {}}, "messageSignature": {}}',
            "key-signed bundles must carry a DSSE envelope",
        ),
        (
            b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "verificationMaterial": {"publicKey": {}}, "dsseEnvelope": {}}',
            "lacks payloadType or signatures",
        ),
        (
            b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "verificationMaterial": {"publicKey": {}}, "dsseEnvelope": {"payloadType": "t", "signatures": [1]}}',
            "a DSSE signature is not an object",
        ),
        (
            b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "verificationMaterial": {"publicKey": {}}, "dsseEnvelope": {"payloadType": "t", "payload": "!!", "signatures": []}}',
            "dsseEnvelope.payload is not base64 text",
        ),
        (
            b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "verificationMaterial": {"publicKey": {}}, "dsseEnvelope": {"payloadType": "t", "signatures": []}}',
            "dsseEnvelope.payload is not base64 text",
        ),
        (
            b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "verificationMaterial": {"certificate": {}}, "messageSignature": {"messageDigest": {"algorithm": "SHA2_384"}}}',
            "must be a SHA2_256 digest",
        ),
    ],
)
def test_unreadable_bundles_are_input_errors_and_corrupt_ones_refusals(
    keypair: tuple[bytes, bytes], raw: bytes, message: str
) -> None:
    """No bundle at all (not JSON, no object, unknown media type) is bad input, exit 2;
    a bundle that is corrupt inside is a refused verification, exit 1."""
    no_bundle = ("not valid JSON", "expected a JSON object", "unknown bundle media type")
    expected = InputError if message.startswith(no_bundle) else GateError
    with pytest.raises(expected, match=message) as caught:
        verify_bundle(raw, digest=DIGEST, trust=trust_for(keypair), now=NOW)
    assert type(caught.value) is expected


def test_url_safe_base64_is_accepted(
    keypair: tuple[bytes, bytes], private_key: ec.EllipticCurvePrivateKey
) -> None:
    bundle = sign_with_key(DIGEST, NAME, release(), private_key)

    def url_safe(document: dict[str, Any]) -> None:
        envelope = document["dsseEnvelope"]
        for item in [envelope, *envelope["signatures"]]:
            key = "payload" if "payload" in item else "sig"
            item[key] = base64.urlsafe_b64encode(base64.b64decode(item[key])).decode()

    assert verify_bundle(tamper(bundle, url_safe), digest=DIGEST, trust=trust_for(keypair), now=NOW)


def test_bad_arguments(
    keypair: tuple[bytes, bytes], private_key: ec.EllipticCurvePrivateKey
) -> None:
    bundle = sign_with_key(DIGEST, NAME, release(), private_key)
    with pytest.raises(InputError, match="not a sha256 digest"):
        verify_bundle(bundle, digest="md5:abc", trust=trust_for(keypair), now=NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        verify_bundle(bundle, digest=DIGEST, trust=trust_for(keypair), now=datetime(2026, 1, 1))
    upper = verify_bundle(
        bundle, digest="sha256:" + DIGEST.upper(), trust=trust_for(keypair), now=NOW
    )
    assert upper.digest == DIGEST


def test_wrong_passphrase(keypair: tuple[bytes, bytes]) -> None:
    with pytest.raises(InputError, match=r"wrong passphrase for cosign\.key") as caught:
        load_private_key(keypair[0], b"wrong", "cosign.key")
    assert "Traceback" not in caught.value.diagnostics()
