"""Sign and verify artifact files: what `px-plugin sign` and `px-plugin verify` do."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pipeline import ci
from pipeline.errors import InputError, Location
from pipeline.fsutil import atomic_write, file_sha256
from pipeline.models.load import parse_document
from pipeline.models.signing import ReleasePredicate, SigningPolicy
from pipeline.signing.bundle import BUNDLE_SUFFIX, MAX_BUNDLE_BYTES
from pipeline.signing.keys import generate_keypair, load_private_key, public_key_id
from pipeline.signing.sign import sign_with_key
from pipeline.signing.trust import TrustInputs
from pipeline.signing.verify import Verification, verify_bundle
from pipeline.textio import check_size
from pipeline.yamlio import MAX_YAML_BYTES


def default_bundle_path(artifact: Path) -> Path:
    """Where a bundle goes by default: beside the artifact, `<artifact>.sigstore.json`."""
    return artifact.with_name(artifact.name + BUNDLE_SUFFIX)


def default_builder() -> str:
    """Who builds: the GitHub Actions run when inside one, else this host."""
    return ci.run_url(os.environ) or f"px-plugin@{socket.gethostname()}"


@dataclass(frozen=True)
class SignRequest:
    """What to sign and how: a key (offline) or an identity token (keyless, Sigstore)."""

    artifact: Path
    predicate: ReleasePredicate
    output: Path | None = None
    key: Path | None = None
    passphrase: bytes | None = None
    identity_token: str | None = None
    staging: bool = False


@dataclass(frozen=True)
class SignResult:
    """A written bundle."""

    bundle: Path
    digest: str
    mode: str


def sign_artifact(request: SignRequest) -> SignResult:
    """Sign an artifact file and write its bundle atomically (nothing is written on failure)."""
    digest = file_sha256(request.artifact)
    name = request.artifact.name
    if request.key is not None:
        if request.passphrase is None:
            raise InputError("a passphrase is needed to use the key", hint="set PX_PASSPHRASE")
        pem = _read(request.key, "private key")
        private_key = load_private_key(pem, request.passphrase, str(request.key))
        bundle, mode = sign_with_key(digest, name, request.predicate, private_key), "key"
    else:
        from pipeline.signing.keyless import sign_keyless  # sigstore's OIDC stack: keyless only

        bundle = sign_keyless(
            digest, name, request.predicate, request.identity_token, staging=request.staging
        )
        mode = "keyless"
    target = request.output or default_bundle_path(request.artifact)
    atomic_write(target, bundle)
    return SignResult(target, digest, mode)


@dataclass(frozen=True)
class VerifyRequest:
    """An artifact, its bundle, and who is trusted to have signed it."""

    artifact: Path
    trust: TrustInputs
    now: datetime
    bundle: Path | None = None
    environment: str | None = None


def verify_artifact(request: VerifyRequest) -> Verification:
    """Verify an artifact file against its bundle: GateError names what did not match."""
    digest = file_sha256(request.artifact)
    bundle_path = request.bundle or default_bundle_path(request.artifact)
    raw = _read(bundle_path, "bundle", max_bytes=MAX_BUNDLE_BYTES)
    return verify_bundle(
        raw,
        digest=digest,
        trust=request.trust,
        environment=request.environment,
        now=request.now,
        source=str(bundle_path),
    )


def load_signing_policy(path: Path) -> SigningPolicy:
    """A signing policy file (`policies/signing.yaml` or another)."""
    return parse_document(
        _read(path, "signing policy", max_bytes=MAX_YAML_BYTES), str(path), SigningPolicy
    )


def _read(path: Path, what: str, *, max_bytes: int = MAX_BUNDLE_BYTES) -> bytes:
    try:
        check_size(path.stat().st_size, str(path), max_bytes=max_bytes, what=what)
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{what} not found: {path}", location=Location(str(path))) from None
    except OSError as error:
        raise InputError(f"cannot read {what} {path}: {error.strerror}") from None


@dataclass(frozen=True)
class KeyPairFiles:
    """A key pair written to disk."""

    private: Path
    public: Path
    key_id: str


def write_keypair(prefix: Path, passphrase: bytes, *, force: bool = False) -> KeyPairFiles:
    """Write `<prefix>.key` (encrypted, mode 0600) and `<prefix>.pub`; never overwrite unasked."""
    private, public = prefix.with_name(prefix.name + ".key"), prefix.with_name(prefix.name + ".pub")
    existing = [str(path) for path in (private, public) if path.exists()]
    if existing and not force:
        raise InputError(
            f"{' and '.join(existing)} already exist{'s' if len(existing) == 1 else ''}",
            hint="choose another -o/--output prefix, or pass --force to replace the key pair",
        )
    private_pem, public_pem = generate_keypair(passphrase)
    atomic_write(private, private_pem, mode=0o600)
    atomic_write(public, public_pem)
    return KeyPairFiles(private, public, public_key_id(public_pem))
