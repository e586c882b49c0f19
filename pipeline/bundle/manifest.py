"""`bundle.json` and its signature: a DSSE in-toto statement over the manifest's bytes.

The signature reuses the release signature format (`pipeline.signing`): a Sigstore bundle
holding a DSSE envelope, signed offline with a key (`--key`). Its subject is `bundle.json`
with the manifest's sha256; its predicate repeats the facts anti-rollback relies on.
A site trusts the signers its `policies/signing.yaml` lists under `bundles:`.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from pipeline.bundle.contents import MAX_FILE_BYTES
from pipeline.errors import GateError, InputError
from pipeline.jsonio import load_json
from pipeline.models.bundle import BundleManifest
from pipeline.models.signing import BundleLimits, SigningPolicy
from pipeline.signing import dsse
from pipeline.signing.bundle import Envelope, EnvelopeSignature, key_bundle
from pipeline.signing.keys import key_id
from pipeline.signing.statement import PAYLOAD_TYPE, STATEMENT_TYPE
from pipeline.signing.trust import TrustInputs
from pipeline.signing.verify import Verification, verify_bundle

MANIFEST_NAME = "bundle.json"
SIGNATURE_NAME = "bundle.json.sigstore.json"
BUNDLE_PREDICATE_TYPE = "https://powerx.io/attestations/offline-bundle/v1"
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
"""Largest bundle.json read (about 100,000 indexed files)."""


def encode_manifest(manifest: BundleManifest) -> bytes:
    """The manifest's bytes as written into the bundle (sorted keys, indented)."""
    data = manifest.model_dump(mode="json", by_alias=True, exclude_none=True)
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def manifest_digest(raw: bytes) -> str:
    """The sha256 of the manifest's bytes: the bundle's identity (`PowerX-Bundle-Digest`)."""
    return hashlib.sha256(raw).hexdigest()


def parse_manifest(raw: bytes, source: str = MANIFEST_NAME) -> BundleManifest:
    """Read `bundle.json`; InputError naming the first problem."""
    try:
        data = load_json(raw, source, max_bytes=MAX_MANIFEST_BYTES, what="bundle manifest")
    except InputError as error:
        raise InputError(
            f"not valid JSON ({error.message.removeprefix('invalid JSON: ')})",
            location=error.location,
            hint=error.hint,
        ) from None
    try:
        return BundleManifest.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top)"
        raise InputError(f"{source}: {where}: {first['msg']}") from None


def _statement(raw: bytes, manifest: BundleManifest) -> bytes:
    statement: dict[str, Any] = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": MANIFEST_NAME, "digest": {"sha256": manifest_digest(raw)}}],
        "predicateType": BUNDLE_PREDICATE_TYPE,
        "predicate": {
            "environment": manifest.environment,
            "sequence": manifest.sequence,
            "expires": manifest.expires.isoformat(),
            "sourceCommit": manifest.source.commit,
        },
    }
    return json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()


def sign_manifest(
    raw: bytes, manifest: BundleManifest, private_key: ec.EllipticCurvePrivateKey
) -> bytes:
    """A key-mode Sigstore bundle over the manifest's bytes."""
    payload = _statement(raw, manifest)
    keyid = key_id(private_key.public_key())
    signature = dsse.sign(PAYLOAD_TYPE, payload, private_key)
    return key_bundle(
        Envelope(PAYLOAD_TYPE, payload, (EnvelopeSignature(signature, keyid),)), keyid
    )


def check_limits(manifest: BundleManifest, limits: BundleLimits) -> None:
    """GateError if the signed index declares more than the site accepts (before a byte of
    content is written). Files that go into the site repo are read whole for the commit,
    so they are also held to the repo's file limit: memory stays flat."""
    where = "policies/signing.yaml bundles.limits"
    if len(manifest.files) > limits.max_entries:
        raise GateError(
            f"the bundle indexes {len(manifest.files):,} files, over the limit of "
            f"{limits.max_entries:,} ({where}.maxEntries)",
            hint="export fewer releases per bundle, or raise the limit",
        )
    for entry in manifest.files:
        limit, name = limits.max_entry_bytes, f"{where}.maxEntryBytes"
        if not entry.path.startswith("artifacts/") and limit > MAX_FILE_BYTES:
            limit, name = MAX_FILE_BYTES, "the largest file a release repo holds"
        if entry.size > limit:
            raise GateError(
                f"the bundle declares {entry.path} at {entry.size:,} bytes, over the limit "
                f"of {limit:,} ({name})",
                hint="nothing was written; raise the limit if this artifact is expected",
            )
    total = manifest.total_size()
    if total > limits.max_total_bytes:
        raise GateError(
            f"the bundle declares {total:,} bytes in all, over the limit of "
            f"{limits.max_total_bytes:,} ({where}.maxTotalBytes)",
            hint="nothing was written; export fewer releases per bundle, or raise the limit",
        )


def bundle_trust(policy: SigningPolicy) -> TrustInputs:
    """The signers a site trusts for bundles: the policy's `bundles:` subset (fail closed)."""
    rules = policy.bundles
    if rules is None:
        raise GateError(
            "the site's signing policy trusts no bundle signer",
            hint="trust the exporter's key for bundles: "
            "`powerx trust add-key NAME --public-key FILE --bundles`",
        )
    keys = tuple(key for key in policy.keys if rules.accepts_key(key.id))
    identities = tuple(rules.identities or ()) if rules.require in ("any", "keyless") else ()
    return TrustInputs(policy=policy, keys=keys, identities=identities)


def verify_manifest(
    raw: bytes, signature: bytes, policy: SigningPolicy, *, now: datetime
) -> Verification:
    """Verify the manifest's signature against the site's policy; GateError if untrusted."""
    try:
        verification = verify_bundle(
            signature, digest=manifest_digest(raw), trust=bundle_trust(policy), now=now
        )
    except GateError as error:
        raise GateError(
            f"the bundle's signature is not trusted: {error.message}",
            hint=error.hint or "export it again with a key policies/signing.yaml trusts",
        ) from None
    except InputError as error:
        raise GateError(f"the bundle's signature cannot be read: {error.message}") from None
    statement = verification.statement
    if statement is None or statement.predicate_type != BUNDLE_PREDICATE_TYPE:
        raise GateError("the signature is not an offline-bundle attestation")
    return verification
