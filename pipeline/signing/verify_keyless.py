"""Keyless verification: a Sigstore bundle against a pinned trust root, offline.

Only this module imports sigstore (and its HTTP stack), so verifying key-signed releases,
the common case of a check or a promotion, never loads it.
"""

from __future__ import annotations

from cryptography import x509
from sigstore.errors import Error as SigstoreError
from sigstore.hashes import Hashed
from sigstore.models import Bundle
from sigstore_models.common.v1 import HashAlgorithm

from pipeline.errors import GateError
from pipeline.models.signing import EnvironmentSigning, IdentityRule
from pipeline.signing.bundle import ParsedBundle
from pipeline.signing.trust import TrustInputs, verifier_for
from pipeline.signing.verify import (
    Verification,
    _reason,
    _statement,
    certificate_identities,
    certificate_issuer,
    match_identity,
)

_CORRUPT = (SigstoreError, ValueError, x509.ExtensionNotFound)
"""What sigstore and cryptography raise on a bundle that is damaged inside (bad DER,
a certificate without a required extension, values of the wrong type)."""


def verify_keyless(
    raw: bytes,
    parsed: ParsedBundle,
    digest: str,
    trust: TrustInputs,
    rules: EnvironmentSigning,
    environment: str | None,
    checks: list[str],
) -> Verification:
    """Keyless: the bundle chains to the pinned Sigstore root and names a trusted identity."""
    verifier = verifier_for(trust.root_path())
    try:
        bundle = Bundle.from_json(raw)
    except _CORRUPT as error:
        raise GateError(
            f"bundle: not a valid Sigstore bundle: {_reason(error)}",
            hint="the bundle is damaged or altered inside (certificate, log entry, structure)",
        ) from None
    policy = _SignerPolicy(trust.identity_rules(), rules.identities, environment)
    statement = None
    try:
        if parsed.envelope is not None:
            statement = _statement(
                parsed.envelope.payload_type, parsed.envelope.payload, digest, checks
            )
            verifier.verify_dsse(bundle, policy)
        else:
            if parsed.message_digest is not None and parsed.message_digest != digest:
                raise GateError(
                    f"digest mismatch: the signature covers sha256:{parsed.message_digest},"
                    f" but the artifact is sha256:{digest}",
                    hint="the artifact changed after signing, or this bundle belongs to another",
                )
            checks.append("signed message digest equals the artifact's")
            hashed = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=bytes.fromhex(digest))
            verifier.verify_artifact(hashed, bundle, policy)
    except _CORRUPT as error:
        if policy.failure is not None:
            raise GateError(policy.failure, hint=policy.hint) from None
        if not isinstance(error, SigstoreError):
            raise GateError(
                f"bundle: the signature cannot be verified: {_reason(error)}",
                hint="the bundle is damaged or altered inside (certificate, log entry)",
            ) from None
        raise GateError(
            f"the bundle does not verify against the {trust.instance()} trust root: {error}",
            hint="a bundle from another Sigstore instance (staging/production), or altered",
        ) from None
    checks.append(
        f"certificate chain, SCT, transparency log and signature ({trust.instance()}, offline)"
    )
    checks.append(f"signer {policy.identity} from issuer {policy.issuer} trusted")
    release = statement.release() if statement is not None else None
    return Verification("keyless", str(policy.identity), policy.issuer, digest, statement, release)


class _SignerPolicy:
    """A sigstore verification policy: the certificate must name a trusted issuer + identity.

    Sigstore calls `verify` after the certificate chain checks out; a mismatch is kept in
    `failure` so that the GateError can say exactly what did not match.
    """

    def __init__(
        self,
        rules: tuple[IdentityRule, ...],
        environment_rules: list[IdentityRule] | None,
        environment: str | None,
    ) -> None:
        self.rules = rules
        self.environment_rules = environment_rules
        self.environment = environment
        self.failure: str | None = None
        self.hint: str | None = None
        self.identity: str | None = None
        self.issuer: str | None = None

    def verify(self, cert: x509.Certificate) -> None:
        """Record the matched identity, or record the mismatch and raise."""
        issuer, identities = certificate_issuer(cert), certificate_identities(cert)
        try:
            identity = match_identity(self.rules, issuer, identities)
            if self.environment_rules is not None:
                match_identity(self.environment_rules, issuer, identities, self.environment)
        except GateError as error:
            self.failure, self.hint = error.message, error.hint
            raise _PolicyMismatchError(error.message) from None
        self.identity, self.issuer = identity, issuer


class _PolicyMismatchError(SigstoreError):
    """Raised inside sigstore's verifier when the signer is not trusted."""
