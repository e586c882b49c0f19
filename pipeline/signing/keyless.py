"""Keyless mode: sign with Sigstore (an OIDC identity, Fulcio and Rekor); needs the network.

Only the argument checks here run offline; the signing call itself is deliberately thin.
"""

from __future__ import annotations

import json

from sigstore.dsse import Statement as SigstoreStatement
from sigstore.errors import Error as SigstoreError
from sigstore.oidc import IdentityToken, detect_credential

from pipeline.errors import InputError
from pipeline.models.signing import ReleasePredicate
from pipeline.signing.statement import statement_dict


def sign_keyless(
    digest: str,
    name: str,
    predicate: ReleasePredicate,
    identity_token: str | None,
    *,
    staging: bool = False,
) -> bytes:
    """A Sigstore bundle (JSON bytes) over a DSSE envelope holding the release statement.

    `identity_token` is a raw OIDC token; None detects an ambient credential (GitHub Actions
    with `permissions: id-token: write`). Fulcio issues a short-lived certificate for it, and
    the signature is logged in Rekor.
    """
    statement = release_statement(digest, name, predicate)
    token = identity(identity_token)
    return _sign(statement, token, staging=staging)  # pragma: no cover - needs Fulcio/Rekor


def release_statement(digest: str, name: str, predicate: ReleasePredicate) -> SigstoreStatement:
    """The release statement as a sigstore-python `Statement` (validated, canonical JSON)."""
    document = statement_dict(digest, name, predicate)
    return SigstoreStatement(json.dumps(document, sort_keys=True, separators=(",", ":")).encode())


def identity(identity_token: str | None) -> IdentityToken:
    """The OIDC identity to sign as: the given token, else an ambient CI credential."""
    if identity_token is None:
        try:
            identity_token = detect_credential()
        except SigstoreError as error:
            raise InputError(f"could not detect an ambient OIDC credential: {error}") from None
        if identity_token is None:
            raise InputError(
                "keyless signing needs an OIDC identity token, and none was found",
                hint="run in GitHub Actions with 'permissions: id-token: write', pass an"
                " identity token, or sign with a key (px-plugin sign --key)",
            )
    try:
        return IdentityToken(identity_token)
    except SigstoreError as error:
        raise InputError(
            f"the OIDC identity token is not usable: {error.__class__.__name__}",
            hint="tokens must be JWTs with audience 'sigstore' and must not be expired",
        ) from None


def _sign(
    statement: SigstoreStatement, token: IdentityToken, *, staging: bool
) -> bytes:  # pragma: no cover - needs Fulcio and Rekor, unreachable offline
    """Ask Fulcio for a certificate, sign the statement as DSSE, log it in Rekor."""
    from sigstore.models import ClientTrustConfig
    from sigstore.sign import SigningContext

    try:
        config = ClientTrustConfig.staging() if staging else ClientTrustConfig.production()
        context = SigningContext.from_trust_config(config)
        with context.signer(token, cache=False) as signer:
            bundle = signer.sign_dsse(statement)
    except SigstoreError as error:
        raise InputError(
            f"keyless signing failed: {error}",
            hint="keyless signing needs network access to Sigstore (Fulcio, Rekor, TUF)",
        ) from None
    return bundle.to_json().encode()
