"""Key ids of ECDSA P-256 public keys: pure functions the signing-policy model validates with."""

from __future__ import annotations

import hashlib
from functools import lru_cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

CURVE = ec.SECP256R1


def key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """The key's id: sha256 of its DER SubjectPublicKeyInfo, 64 hex digits."""
    der = public_key.public_bytes(
        encoding=serialization.Encoding.DER,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    )
    return hashlib.sha256(der).hexdigest()


def public_key_id(pem: bytes) -> str:
    """The id of a PEM public key (raises ValueError if it is not an ECDSA P-256 key)."""
    return key_id(parse_public_key(pem))


@lru_cache(maxsize=256)
def parse_public_key(pem: bytes) -> ec.EllipticCurvePublicKey:
    """Parse (and remember) a PEM public key; ValueError unless it is ECDSA P-256."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise ValueError("not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, CURVE):
        raise ValueError("not an ECDSA P-256 public key")
    return key
