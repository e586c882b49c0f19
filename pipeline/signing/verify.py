"""Verify a release bundle (key or keyless), fully offline, failing closed with a named reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat import asn1

from pipeline.errors import GateError
from pipeline.models.signing import EnvironmentSigning, IdentityRule, ReleasePredicate
from pipeline.signing import dsse
from pipeline.signing.bundle import Mode, ParsedBundle, parse_bundle
from pipeline.signing.keys import load_public_key
from pipeline.signing.statement import (
    PAYLOAD_TYPE,
    Statement,
    check_digest,
    check_subject,
    check_window,
    parse_statement,
)
from pipeline.signing.trust import TrustInputs

_ISSUER_V1 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
_ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
_OTHERNAME = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.7")


def _reason(error: Exception) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:300]


@dataclass(frozen=True)
class Verification:
    """A successful verification: who signed what, and every check that passed."""

    mode: Mode
    signer: str
    """The key id (key mode) or the certificate identity (keyless)."""
    issuer: str | None
    """The OIDC issuer of a keyless signer."""
    digest: str
    statement: Statement | None
    """The signed statement (None for a message-signature bundle, which signs only a digest)."""
    release: ReleasePredicate | None
    """The PowerX release predicate, when the statement carries one."""
    checks: tuple[str, ...] = field(default=())

    @property
    def predicate(self) -> dict[str, Any] | None:
        """The statement's predicate as plain data."""
        return self.statement.predicate if self.statement is not None else None


def verify_bundle(
    bundle_json: bytes,
    *,
    digest: str,
    trust: TrustInputs,
    environment: str | None = None,
    now: datetime,
    source: str = "bundle",
) -> Verification:
    """Verify that `bundle_json` is a trusted signature over the artifact with sha256 `digest`.

    Raises InputError if the file is no bundle at all (`parse_bundle`), GateError naming the
    first check that failed otherwise, a bundle that is corrupt inside included. Needs no
    network: keyless bundles verify against a pinned trust root.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    digest = check_digest(digest)
    parsed = parse_bundle(bundle_json, source)
    rules = trust.environment(environment)
    checks = [f"bundle media type {parsed.media_type}"]
    if rules.require not in ("any", parsed.mode):
        raise GateError(
            f"environment {environment!r} requires a {rules.require} signature,"
            f" but the bundle is {parsed.mode}-signed"
        )
    checks.append(f"signature mode {parsed.mode} allowed")
    if parsed.mode == "key":
        result = _verify_key(parsed, digest, trust, rules, environment, now, checks)
    else:  # sigstore is imported only here: key-signed repos never pay for it
        from pipeline.signing.verify_keyless import verify_keyless

        result = verify_keyless(bundle_json, parsed, digest, trust, rules, environment, checks)
    if result.release is not None:
        check_window(result.release, now)
        checks.append("release predicate validity window")
    return Verification(
        mode=result.mode,
        signer=result.signer,
        issuer=result.issuer,
        digest=digest,
        statement=result.statement,
        release=result.release,
        checks=tuple(checks),
    )


def _verify_key(
    parsed: ParsedBundle,
    digest: str,
    trust: TrustInputs,
    rules: EnvironmentSigning,
    environment: str | None,
    now: datetime,
    checks: list[str],
) -> Verification:
    """Key mode: a trusted, valid, unrevoked key signed a statement about `digest`."""
    envelope = parsed.envelope
    assert envelope is not None  # parse_bundle guarantees an envelope in key mode
    if len(envelope.signatures) != 1:
        raise GateError(f"expected exactly one DSSE signature, found {len(envelope.signatures)}")
    signature = envelope.signatures[0]
    keyid = parsed.key_hint or signature.keyid
    if signature.keyid and keyid != signature.keyid:
        raise GateError(
            f"the bundle's key hint {keyid} differs from the signature's keyid {signature.keyid}"
        )
    _check_key_trusted(keyid, trust, rules, environment, now)
    checks.append(f"key {keyid} trusted, unrevoked and within its validity dates")
    key = trust.trusted_keys()[keyid]
    public_key = load_public_key(key.public_key.encode(), f"key {keyid}")
    if not dsse.verify(signature.sig, envelope.payload_type, envelope.payload, public_key):
        raise GateError(
            f"the DSSE signature does not verify with key {keyid}",
            hint="the bundle was altered after signing, or signed with another key",
        )
    checks.append("DSSE signature (ECDSA P-256, SHA-256)")
    statement = _statement(envelope.payload_type, envelope.payload, digest, checks)
    return Verification("key", keyid, None, digest, statement, statement.release())


def _check_key_trusted(
    keyid: str,
    trust: TrustInputs,
    rules: EnvironmentSigning,
    environment: str | None,
    now: datetime,
) -> None:
    keys = trust.trusted_keys()
    if keyid in trust.policy.revoked_ids():
        revoked = next((key for key in trust.policy.keys if key.id == keyid), None)
        when = f" at {revoked.revoked_at.isoformat()}" if revoked and revoked.revoked_at else ""
        why = f": {revoked.reason}" if revoked and revoked.reason else ""
        raise GateError(f"key {keyid} was revoked{when}{why}")
    if keyid not in keys:
        raise GateError(
            f"key {keyid} is not trusted: the signing policy lists "
            + (", ".join(sorted(keys)) if keys else "no keys"),
            hint="trust it (`powerx trust add-key NAME --public-key FILE`) or pass it with --key",
        )
    if not rules.accepts_key(keyid):
        raise GateError(f"key {keyid} is not allowed to sign for environment {environment!r}")
    key = keys[keyid]
    if key.not_before is not None and now < key.not_before:
        raise GateError(f"key {keyid} is not valid before {key.not_before.isoformat()}")
    if key.not_after is not None and now >= key.not_after:
        raise GateError(f"key {keyid} expired at {key.not_after.isoformat()}")


def _statement(payload_type: str, payload: bytes, digest: str, checks: list[str]) -> Statement:
    if payload_type != PAYLOAD_TYPE:
        raise GateError(f"DSSE payload type is {payload_type!r}, expected {PAYLOAD_TYPE!r}")
    statement = parse_statement(payload)
    subject = check_subject(statement, digest)
    checks.append(f"in-toto subject {subject.name or '(unnamed)'} sha256 equals the artifact's")
    return statement


def certificate_issuer(cert: x509.Certificate) -> str | None:
    """The OIDC issuer recorded in a Fulcio certificate (v2 extension first, then v1)."""
    for oid, decode in ((_ISSUER_V2, True), (_ISSUER_V1, False)):
        try:
            value: bytes = cert.extensions.get_extension_for_oid(oid).value.value  # type: ignore[attr-defined]
        except x509.ExtensionNotFound:
            continue
        return asn1.decode_der(str, value) if decode else value.decode()
    return None


def certificate_identities(cert: x509.Certificate) -> list[str]:
    """The identities (e-mail, URI and Sigstore other-name SANs) of a Fulcio certificate."""
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    identities = list(sans.get_values_for_type(x509.RFC822Name))
    identities += sans.get_values_for_type(x509.UniformResourceIdentifier)
    identities += [
        name.value.decode()
        for name in sans.get_values_for_type(x509.OtherName)
        if name.type_id == _OTHERNAME
    ]
    return identities


def match_identity(
    rules: tuple[IdentityRule, ...] | list[IdentityRule],
    issuer: str | None,
    identities: list[str],
    environment: str | None = None,
) -> str:
    """The first of `identities` a rule trusts (with `issuer`); GateError naming the mismatch."""
    scope = f" for environment {environment!r}" if environment else ""
    if not rules:
        raise GateError(
            f"no keyless signer is trusted{scope}: the signing policy lists no identities",
            hint="trust one with `powerx trust add-identity`, or pass --identity and --issuer",
        )
    for identity in identities:
        for rule in rules:
            if rule.issuer == issuer and rule.matches_subject(identity):
                return identity
    for identity in identities:
        expected = [rule.issuer for rule in rules if rule.matches_subject(identity)]
        if expected:
            raise GateError(
                f"issuer mismatch{scope}: identity {identity!r} was issued by {issuer!r},"
                f" the policy trusts it only from {', '.join(repr(i) for i in expected)}"
            )
    signer = ", ".join(repr(identity) for identity in identities) or "(no identity)"
    raise GateError(
        f"identity mismatch{scope}: signer {signer} from issuer {issuer!r} is not trusted;"
        f" trusted: {'; '.join(rule.describe() for rule in rules)}"
    )
