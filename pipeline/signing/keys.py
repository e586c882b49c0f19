"""ECDSA P-256 signing keys: generate, identify, load (the key type cosign uses)."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable, Mapping

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pipeline.errors import InputError
from pipeline.models.keyids import CURVE, key_id, parse_public_key, public_key_id

__all__ = [
    "CURVE",
    "PASSPHRASE_ENV",
    "generate_keypair",
    "key_id",
    "load_private_key",
    "load_public_key",
    "passphrase_for",
    "public_key_id",
    "public_pem",
]

PASSPHRASE_ENV = "PX_PASSPHRASE"  # noqa: S105 - the name of a variable, not a secret


def _stdin_is_tty() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _ask(prompt: str) -> str:
    return getpass.getpass(prompt, stream=sys.stderr)


def passphrase_for(
    environ: Mapping[str, str],
    *,
    confirm: bool = False,
    is_tty: Callable[[], bool] = _stdin_is_tty,
    ask: Callable[[str], str] = _ask,
) -> bytes:
    """A key's passphrase: $PX_PASSPHRASE, else asked on a terminal (never echoed).

    With no terminal and no variable, an InputError: `getpass` is never called without
    a terminal (it would fall back to echoing stdin, with a warning). `confirm` asks twice.
    """
    value = environ.get(PASSPHRASE_ENV)
    if value is not None:
        return value.encode()
    if not is_tty():
        raise InputError(
            f"a passphrase is needed: set {PASSPHRASE_ENV}",
            hint=f"there is no terminal to ask on; export {PASSPHRASE_ENV}=... for this command",
        )
    value = ask("passphrase: ")
    if confirm and ask("passphrase (again): ") != value:
        raise InputError("the two passphrases differ", hint="type the same passphrase twice")
    return value.encode()


def generate_keypair(passphrase: bytes) -> tuple[bytes, bytes]:
    """A new key pair: (private key PEM encrypted with `passphrase`, public key PEM)."""
    if not passphrase:
        raise InputError(
            "refusing to write an unencrypted private key: the passphrase is empty",
            hint="choose a passphrase (e.g. from a password manager) and keep it secret",
        )
    private_key = ec.generate_private_key(CURVE())
    private_pem = private_key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.BestAvailableEncryption(passphrase),
    )
    return private_pem, public_pem(private_key.public_key())


def public_pem(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """The PEM (SubjectPublicKeyInfo) encoding of a public key."""
    return public_key.public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    )


def load_public_key(pem: bytes, source: str = "public key") -> ec.EllipticCurvePublicKey:
    """Load an ECDSA P-256 public key from PEM; InputError naming `source` if it is not one."""
    try:
        return parse_public_key(pem)
    except ValueError as error:
        raise InputError(f"{source}: {error}") from None


def load_private_key(
    pem: bytes, passphrase: bytes, source: str = "private key"
) -> ec.EllipticCurvePrivateKey:
    """Decrypt an ECDSA P-256 private key; a clear InputError for a wrong passphrase."""
    if not passphrase:
        raise InputError(f"empty passphrase for {source}", hint="give the key's passphrase")
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase)
    except TypeError:
        raise InputError(
            f"{source}: the key is not encrypted",
            hint="private keys must be passphrase-protected; generate one with px-plugin keygen",
        ) from None
    except ValueError as error:
        if "password" in str(error).lower():
            raise InputError(
                f"wrong passphrase for {source}",
                hint="the passphrase is the one given when the key was generated",
            ) from None
        raise InputError(f"{source}: not a readable PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, CURVE):
        raise InputError(f"{source}: not an ECDSA P-256 private key")
    return key
