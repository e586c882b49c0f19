"""Signing keys: generation, ids, loading, and the errors a person sees."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from pipeline.errors import InputError
from pipeline.signing.keys import (
    generate_keypair,
    key_id,
    load_private_key,
    load_public_key,
    public_key_id,
)


def test_generate_keypair_encrypts_the_private_key() -> None:
    private_pem, public_pem = generate_keypair(b"secret")
    assert private_pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert public_pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    private_key = load_private_key(private_pem, b"secret")
    assert isinstance(private_key.curve, ec.SECP256R1)
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert key_id(private_key.public_key()) == hashlib.sha256(der).hexdigest()
    assert public_key_id(public_pem) == key_id(load_public_key(public_pem))


def test_empty_passphrase_is_refused() -> None:
    with pytest.raises(InputError, match="refusing to write an unencrypted private key"):
        generate_keypair(b"")
    private_pem, _ = generate_keypair(b"secret")
    with pytest.raises(InputError, match=r"empty passphrase for release\.key"):
        load_private_key(private_pem, b"", "release.key")


def test_wrong_passphrase_names_the_key() -> None:
    private_pem, _ = generate_keypair(b"secret")
    with pytest.raises(InputError) as caught:
        load_private_key(private_pem, b"guess", "release.key")
    assert caught.value.diagnostics().startswith("wrong passphrase for release.key")


def test_unencrypted_and_unreadable_private_keys() -> None:
    plain = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(InputError, match="the key is not encrypted"):
        load_private_key(plain, b"secret")
    garbage = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    with pytest.raises(InputError, match="not a readable PEM private key"):
        load_private_key(garbage, b"secret")


def test_other_key_types_are_refused() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    p384 = ec.generate_private_key(ec.SECP384R1())
    for key in (rsa_key, p384):
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
        with pytest.raises(InputError, match="not an ECDSA P-256 private key"):
            load_private_key(pem, b"secret")
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        with pytest.raises(InputError, match=r"cosign\.pub: not an ECDSA P-256 public key"):
            load_public_key(public, "cosign.pub")


def test_unreadable_public_key() -> None:
    with pytest.raises(InputError, match="public key: not a PEM public key"):
        load_public_key(b"ssh-ed25519 AAAA")
