"""Sigstore bundle JSON: write key-mode bundles, read and classify any bundle."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Literal

from pipeline.errors import GateError, InputError
from pipeline.jsonio import load_json

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
"""The media type of the bundles we write."""

KNOWN_MEDIA_TYPES = (
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    BUNDLE_MEDIA_TYPE,
)
"""Bundle media types we can read (the ones sigstore-python accepts)."""

BUNDLE_SUFFIX = ".sigstore.json"
"""A bundle is written beside its artifact as `<artifact>.sigstore.json`."""
MAX_BUNDLE_BYTES = 1024 * 1024
"""Largest bundle we read: a Sigstore bundle with its certificate chain is a few KiB."""

Mode = Literal["key", "keyless"]


@dataclass(frozen=True)
class EnvelopeSignature:
    """One DSSE signature: the raw signature bytes and the id of the key that made it."""

    sig: bytes
    keyid: str


@dataclass(frozen=True)
class Envelope:
    """A DSSE envelope, with its payload decoded."""

    payload_type: str
    payload: bytes
    signatures: tuple[EnvelopeSignature, ...]


@dataclass(frozen=True)
class ParsedBundle:
    """What a bundle claims, before any of it is verified."""

    media_type: str
    mode: Mode
    key_hint: str | None
    envelope: Envelope | None
    message_digest: str | None
    """For message-signature bundles: the signed sha256, hex (None if the bundle omits it)."""


def key_bundle(envelope: Envelope, key_hint: str) -> bytes:
    """A v0.3 bundle JSON for a key-signed envelope: no certificate, no log entries (offline)."""
    document = {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": key_hint}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": _b64(envelope.payload),
            "payloadType": envelope.payload_type,
            "signatures": [
                {"sig": _b64(signature.sig), "keyid": signature.keyid}
                for signature in envelope.signatures
            ],
        },
    }
    return (json.dumps(document, indent=2) + "\n").encode()


def parse_bundle(raw: bytes, source: str = "bundle") -> ParsedBundle:
    """Read a bundle's JSON and shape.

    InputError (exit 2) if the file is no Sigstore bundle at all: not bounded JSON
    (`pipeline.jsonio`), not an object, an unknown media type. GateError (exit 1) if it is
    one but corrupt inside: what does not hold together cannot verify.
    """
    try:
        document = load_json(raw, source, max_bytes=MAX_BUNDLE_BYTES, what="bundle")
    except InputError as error:
        raise InputError(
            f"not a Sigstore bundle: not valid JSON ({error.message.removeprefix(_JSON)})",
            location=error.location,
            hint="the file may be truncated or not a .sigstore.json bundle",
        ) from None
    if not isinstance(document, dict):
        raise InputError(f"{source}: not a Sigstore bundle: expected a JSON object")
    media_type = document.get("mediaType")
    if media_type not in KNOWN_MEDIA_TYPES:
        raise InputError(
            f"{source}: unknown bundle media type {media_type!r}",
            hint=f"expected one of: {', '.join(KNOWN_MEDIA_TYPES)}",
        )
    material = _object(document, "verificationMaterial", source)
    if "publicKey" in material:
        mode: Mode = "key"
        hint = _object(material, "publicKey", source).get("hint")
        key_hint = hint if isinstance(hint, str) else None
    elif "certificate" in material or "x509CertificateChain" in material:
        mode, key_hint = "keyless", None
    else:
        raise _corrupt(f"{source}: the bundle carries neither a public key hint nor a certificate")
    has_envelope, has_message = "dsseEnvelope" in document, "messageSignature" in document
    if has_envelope == has_message:
        raise _corrupt(f"{source}: a bundle holds exactly one dsseEnvelope or messageSignature")
    if has_message and mode == "key":
        raise _corrupt(
            f"{source}: key-signed bundles must carry a DSSE envelope, not a messageSignature"
        )
    if has_envelope:
        envelope = _envelope(_object(document, "dsseEnvelope", source), source)
        return ParsedBundle(media_type, mode, key_hint, envelope, None)
    return ParsedBundle(
        media_type,
        mode,
        key_hint,
        None,
        _message_digest(_object(document, "messageSignature", source), source),
    )


def _envelope(data: dict[str, Any], source: str) -> Envelope:
    payload_type, signatures = data.get("payloadType"), data.get("signatures")
    if not isinstance(payload_type, str) or not isinstance(signatures, list):
        raise _corrupt(f"{source}: the DSSE envelope lacks payloadType or signatures")
    parsed = []
    for signature in signatures:
        if not isinstance(signature, dict):
            raise _corrupt(f"{source}: a DSSE signature is not an object")
        keyid = signature.get("keyid", "")
        parsed.append(
            EnvelopeSignature(
                _unb64(signature.get("sig"), "dsseEnvelope.signatures.sig", source),
                keyid if isinstance(keyid, str) else "",
            )
        )
    payload = _unb64(data.get("payload"), "dsseEnvelope.payload", source)
    return Envelope(payload_type, payload, tuple(parsed))


def _message_digest(data: dict[str, Any], source: str) -> str | None:
    digest = data.get("messageDigest")
    if digest is None:
        return None
    if not isinstance(digest, dict) or digest.get("algorithm") != "SHA2_256":
        raise _corrupt(f"{source}: messageSignature.messageDigest must be a SHA2_256 digest")
    return _unb64(digest.get("digest"), "messageSignature.messageDigest.digest", source).hex()


def _object(data: dict[str, Any], key: str, source: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise _corrupt(f"{source}: {key} must be a JSON object")
    return value


_JSON = "invalid JSON: "


def _corrupt(message: str) -> GateError:
    """A bundle that is corrupt inside: a refused verification (exit 1), not bad input."""
    return GateError(message, hint="the bundle is damaged or altered: sign the artifact again")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: object, field: str, source: str) -> bytes:
    """Decode standard or URL-safe base64 (DSSE allows both)."""
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            try:
                return base64.b64decode(value, altchars=b"-_", validate=True)
            except binascii.Error:
                pass
    raise _corrupt(f"{source}: {field} is not base64 text")
