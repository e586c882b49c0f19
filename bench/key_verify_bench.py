"""Benchmark: how fast key-signed bundles verify (every artifact of a release is verified).

Signs `--count` bundles over distinct digests with one new key, then times `verify_bundle`
over all of them (signing is not timed). Every bundle must verify.

    .venv/bin/python bench/key_verify_bench.py [--count 1000]

Target: 1,000 bundles in under 2 s (exit 1 when slower).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from pipeline.models.base import API_VERSION  # noqa: E402
from pipeline.models.signing import ReleasePredicate, SigningPolicy  # noqa: E402
from pipeline.signing.keys import key_id, public_pem  # noqa: E402
from pipeline.signing.sign import sign_with_key  # noqa: E402
from pipeline.signing.trust import TrustInputs  # noqa: E402
from pipeline.signing.verify import verify_bundle  # noqa: E402

TARGET_SECONDS_PER_1000 = 2.0


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="bundles to verify")
    args = parser.parse_args(argv)
    elapsed = time_key_verifications(args.count)
    target = TARGET_SECONDS_PER_1000 * args.count / 1000
    print(f"verify {args.count:,} key-signed bundles: {elapsed:.3f} s (target: under {target:g} s)")
    return 0 if elapsed < target else 1


if __name__ == "__main__":
    sys.exit(main())
