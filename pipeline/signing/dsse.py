"""DSSE (Dead Simple Signing Envelope) v1: pre-authentication encoding, sign, verify."""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec


def pae(payload_type: str, payload: bytes) -> bytes:
    """PAE(type, body) = "DSSEv1" SP len(type) SP type SP len(body) SP body (lengths in bytes)."""
    encoded_type = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(encoded_type), encoded_type, len(payload), payload)


def sign(payload_type: str, payload: bytes, private_key: ec.EllipticCurvePrivateKey) -> bytes:
    """An ECDSA-SHA256 signature (DER) over PAE(payload_type, payload)."""
    return private_key.sign(pae(payload_type, payload), ec.ECDSA(hashes.SHA256()))


def verify(
    signature: bytes, payload_type: str, payload: bytes, public_key: ec.EllipticCurvePublicKey
) -> bool:
    """Whether `signature` is a valid ECDSA-SHA256 signature over PAE(payload_type, payload)."""
    try:
        public_key.verify(signature, pae(payload_type, payload), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True
