"""in-toto Statement v1 for a release: build it, read it back, check its subject and window."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from pipeline.errors import GateError, InputError
from pipeline.jsonio import load_json
from pipeline.models.digest import parse_sha256
from pipeline.models.signing import ReleasePredicate

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
RELEASE_PREDICATE_TYPE = "https://powerx.io/attestations/plugin-release/v1"

MAX_PAYLOAD_BYTES = 1024 * 1024
"""Largest signed statement we read (a release statement is well under 1 KiB)."""


def check_digest(digest: str) -> str:
    """The sha256 digest in canonical form (lower-case hex, no prefix), or InputError."""
    try:
        return parse_sha256(digest.strip().lower())
    except ValueError as error:
        raise InputError(
            f"not a sha256 digest: {digest!r}: {error}",
            hint="give 64 hex digits, e.g. the output of 'sha256sum ARTIFACT'",
        ) from None


def encode_statement(digest: str, name: str, predicate: ReleasePredicate) -> bytes:
    """The statement's bytes: canonical JSON (sorted keys, no spaces), ready to sign."""
    return json.dumps(
        statement_dict(digest, name, predicate), sort_keys=True, separators=(",", ":")
    ).encode()


def statement_dict(digest: str, name: str, predicate: ReleasePredicate) -> dict[str, Any]:
    """The statement as plain data: the artifact is the one subject."""
    if not name or "/" in name or "\\" in name:
        raise InputError(f"artifact name must be a file name without directories, found {name!r}")
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": {"sha256": check_digest(digest)}}],
        "predicateType": RELEASE_PREDICATE_TYPE,
        "predicate": predicate.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


@dataclass(frozen=True)
class Subject:
    """One subject of a statement: a name and its digests by algorithm."""

    name: str | None
    digests: dict[str, str]


@dataclass(frozen=True)
class Statement:
    """A signed in-toto statement, as read back from an envelope."""

    subjects: tuple[Subject, ...]
    predicate_type: str
    predicate: dict[str, Any]

    def release(self) -> ReleasePredicate | None:
        """The release predicate, if this is a PowerX release statement (GateError if invalid)."""
        if self.predicate_type != RELEASE_PREDICATE_TYPE:
            return None
        try:
            return ReleasePredicate.model_validate(self.predicate)
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "(predicate)"
            raise GateError(
                f"the signed release predicate is invalid: {field}: {first['msg']}"
            ) from None


def parse_statement(payload: bytes) -> Statement:
    """Read an in-toto Statement v1 from an envelope payload; GateError if it is not one."""
    try:
        data = load_json(payload, "dsseEnvelope.payload", max_bytes=MAX_PAYLOAD_BYTES)
    except InputError as error:
        raise GateError(
            f"the signed payload is not JSON we accept: {error.diagnostics()}"
        ) from None
    if not isinstance(data, dict) or data.get("_type") != STATEMENT_TYPE:
        raise GateError(f"the signed payload is not an in-toto statement ({STATEMENT_TYPE})")
    subjects = data.get("subject")
    predicate_type = data.get("predicateType")
    predicate = data.get("predicate", {})
    if (
        not isinstance(subjects, list)
        or not subjects
        or not isinstance(predicate_type, str)
        or not isinstance(predicate, dict)
    ):
        raise GateError("the signed statement lacks a subject list, predicateType or predicate")
    parsed: list[Subject] = []
    for subject in subjects:
        digests = subject.get("digest") if isinstance(subject, dict) else None
        if not isinstance(digests, dict) or not all(
            isinstance(value, str) for value in digests.values()
        ):
            raise GateError("a subject of the signed statement has no digest set")
        name = subject.get("name")
        parsed.append(Subject(name if isinstance(name, str) else None, dict(digests)))
    return Statement(tuple(parsed), predicate_type, predicate)


def check_subject(statement: Statement, digest: str) -> Subject:
    """The subject whose sha256 is `digest`; GateError naming the signed digests otherwise."""
    for subject in statement.subjects:
        if subject.digests.get("sha256") == digest:
            return subject
    signed = ", ".join(
        f"{subject.name or '(unnamed)'} sha256:{subject.digests.get('sha256', '(none)')}"
        for subject in statement.subjects
    )
    raise GateError(
        f"digest mismatch: the signature covers {signed}, but the artifact is sha256:{digest}",
        hint="the artifact changed after signing, or this bundle belongs to another artifact",
    )


def check_release_names(signed: ReleasePredicate | None, plugin: str, version: str) -> None:
    """GateError unless the signed release predicate names `plugin@version`.

    The one home of this rule: the policy gate, the offline import, `px-plugin verify` and
    `powerx publish create` all call it. A signature without a release predicate (a
    message signature) covers only the digest, which `check_subject` has checked.
    """
    if signed is not None and (signed.plugin, signed.version) != (plugin, version):
        raise GateError(
            f"the signature is for {signed.plugin}@{signed.version}, not {plugin}@{version}",
            hint="a signature bundle was swapped, or the artifact was signed for another"
            " release: sign it with its own plugin and version",
        )


def check_window(release: ReleasePredicate, now: datetime) -> None:
    """GateError unless `now` lies within the predicate's notBefore/notAfter window."""
    if release.not_before is not None and now < release.not_before:
        raise GateError(
            f"the signature is not valid yet: its notBefore is {_rfc3339(release.not_before)},"
            f" now is {_rfc3339(now)}"
        )
    if release.not_after is not None and now >= release.not_after:
        raise GateError(
            f"the signature has expired: its notAfter is {_rfc3339(release.not_after)},"
            f" now is {_rfc3339(now)}",
            hint="sign the artifact again with a new validity window",
        )


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
