"""Key mode: sign a release statement offline with an ECDSA P-256 key."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec

from pipeline.models.signing import ReleasePredicate
from pipeline.signing import dsse
from pipeline.signing.bundle import Envelope, EnvelopeSignature, key_bundle
from pipeline.signing.keys import key_id
from pipeline.signing.statement import PAYLOAD_TYPE, encode_statement


def sign_with_key(
    digest: str, name: str, predicate: ReleasePredicate, private_key: ec.EllipticCurvePrivateKey
) -> bytes:
    """A Sigstore bundle (JSON bytes) over a DSSE envelope holding the release statement.

    `digest` is the artifact's sha256 (hex), `name` its file name. The bundle names the key by
    its id (`verificationMaterial.publicKey.hint`) and has no transparency-log entries, as
    cosign writes offline.
    """
    payload = encode_statement(digest, name, predicate)
    keyid = key_id(private_key.public_key())
    signature = dsse.sign(PAYLOAD_TYPE, payload, private_key)
    envelope = Envelope(PAYLOAD_TYPE, payload, (EnvelopeSignature(signature, keyid),))
    return key_bundle(envelope, keyid)
