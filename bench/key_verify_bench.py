"""How fast key-signed bundles verify (the pipeline verifies every artifact of a release)."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric import ec

from pipeline.models.base import API_VERSION
from pipeline.models.signing import ReleasePredicate, SigningPolicy
from pipeline.signing.keys import key_id, public_pem
from pipeline.signing.sign import sign_with_key
from pipeline.signing.trust import TrustInputs
from pipeline.signing.verify import verify_bundle


def time_key_verifications(count: int = 1000) -> float:
    """Seconds `verify_bundle` takes over `count` distinct key-signed bundles (not signing)."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    public_key = private_key.public_key()
    policy = SigningPolicy.model_validate(
        {
            "apiVersion": API_VERSION,
            "kind": "SigningPolicy",
            "keys": [{"id": key_id(public_key), "publicKey": public_pem(public_key).decode()}],
        }
    )
    trust = TrustInputs(policy=policy)
    predicate = ReleasePredicate.model_validate(
        {"plugin": "bench", "version": "1.0.0", "sourceCommit": "0" * 40, "builder": "bench"}
    )
    digests = [hashlib.sha256(str(index).encode()).hexdigest() for index in range(count)]
    bundles = [
        sign_with_key(digest, f"bench-{index}.whl", predicate, private_key)
        for index, digest in enumerate(digests)
    ]
    now = datetime.now(UTC)
    start = time.perf_counter()
    for digest, bundle in zip(digests, bundles, strict=True):
        verify_bundle(bundle, digest=digest, trust=trust, now=now)
    return time.perf_counter() - start
