"""A release's signature bundle verified under the trust policy: the one home, cached.

The signature gate, the release page and the Marketplace catalog all ask this. A success
is kept per bundle blob, artifact digest, environment, clock and trust policy in the
repo's `blob_results`, so one process verifies each bundle once; a refusal is not kept: it
raises again, naming `source` (the bundle's path) and the first check that failed.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from pipeline.gitrepo import GitRepo
from pipeline.models.release import Release
from pipeline.models.signing import SigningPolicy
from pipeline.signing.trust import TrustInputs
from pipeline.signing.verify import Verification, verify_bundle
from pipeline.snapshot import blob_results


def verify_release_bundle(
    git: GitRepo,
    release: Release,
    found: tuple[str, bytes],
    policy: SigningPolicy,
    *,
    now: datetime,
    environment: str | None = None,
    source: str = "bundle",
) -> Verification:
    """`verify_bundle` of `release`'s bundle `found` (blob id, bytes) at `now` under
    `policy` (GateError or InputError when it is refused)."""
    digest = release.artifact.sha256
    key = ("signature", found[0], digest, environment, now)
    cache = blob_results(git)
    hit = cache.get(key)
    if hit is not None and hit[0] == policy:
        return cast(Verification, hit[1])
    verification = verify_bundle(
        found[1],
        digest=digest,
        trust=TrustInputs(policy=policy),
        environment=environment,
        now=now,
        source=source,
    )
    cache[key] = (policy, verification)
    return verification
