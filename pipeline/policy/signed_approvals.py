"""Signed approval records, for forges without a review API and for isolated sites.

An approval is an in-toto statement, signed in a DSSE envelope with the approver's key
(the same bundle format as release signatures), whose subject is the release manifest
and whose predicate names plugin, version, environment and approver. It is stored in
the release folder as `approvals/<env>-<approver>.sigstore.json` and verified against
the keys in `policies/teams.yaml`: a record signed by another key than the approver's,
for another release or environment, or for an earlier state of the manifest does not
count.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import Field, ValidationError

from pipeline import layout
from pipeline.errors import GateError, InputError
from pipeline.gitrepo import ChangeSet, Commit, GitRepo, Trailers, compose_message
from pipeline.jsonio import load_json
from pipeline.models.approvals import Teams
from pipeline.models.base import Name, SemVer, Strict
from pipeline.names import require_environment, require_in_order, require_release
from pipeline.policy.approvals import Approval
from pipeline.signing import dsse
from pipeline.signing.bundle import (
    MAX_BUNDLE_BYTES,
    Envelope,
    EnvelopeSignature,
    key_bundle,
    parse_bundle,
)
from pipeline.signing.keys import key_id, load_public_key
from pipeline.signing.statement import PAYLOAD_TYPE, STATEMENT_TYPE
from pipeline.snapshot import Snapshot
from pipeline.yamlio import MAX_YAML_BYTES

APPROVAL_PREDICATE_TYPE = "https://powerx.io/attestations/approval/v1"


class ApprovalPredicate(Strict):
    """What an approver signs."""

    plugin: Name
    version: SemVer
    environment: Name
    approver: str = Field(min_length=1)
    approved_at: datetime = Field(alias="approvedAt")


def approval_path(plugin: str, version: str, environment: str, approver: str) -> str:
    """Where a signed approval record lives in the repo."""
    return f"{layout.release_dir(plugin, version)}/approvals/{environment}-{approver}.sigstore.json"


def manifest_digest(raw: bytes) -> str:
    """The sha256 of a release manifest's bytes: what an approval is given on."""
    return hashlib.sha256(raw).hexdigest()


def sign_approval(
    predicate: ApprovalPredicate, digest: str, private_key: ec.EllipticCurvePrivateKey
) -> bytes:
    """A bundle over the approval statement, signed with the approver's key."""
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [
            {
                "name": layout.release_path(predicate.plugin, predicate.version),
                "digest": {"sha256": digest},
            }
        ],
        "predicateType": APPROVAL_PREDICATE_TYPE,
        "predicate": predicate.model_dump(mode="json", by_alias=True),
    }
    payload = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    keyid = key_id(private_key.public_key())
    signature = dsse.sign(PAYLOAD_TYPE, payload, private_key)
    return key_bundle(
        Envelope(PAYLOAD_TYPE, payload, (EnvelopeSignature(signature, keyid),)), keyid
    )


def verify_approval(
    raw: bytes, *, teams: Teams, plugin: str, version: str, environment: str, source: str
) -> tuple[Approval, str]:
    """(the approval, the manifest digest it was given on); GateError if it is not genuine."""
    bundle = parse_bundle(raw, source)
    envelope = bundle.envelope
    if bundle.mode != "key" or envelope is None or bundle.key_hint is None:
        raise GateError(f"{source}: an approval record must be signed with an approver's key")
    member = teams.member_by_key(bundle.key_hint)
    if member is None or member.public_key is None:
        raise GateError(f"{source}: signed by key {bundle.key_hint}, which no team member holds")
    public_key = load_public_key(member.public_key.encode(), f"key of {member.login}")
    if not any(
        dsse.verify(s.sig, envelope.payload_type, envelope.payload, public_key)
        for s in envelope.signatures
    ):
        raise GateError(f"{source}: the signature does not verify with {member.login}'s key")
    predicate, digest = _statement(envelope.payload, source)
    claimed = (predicate.plugin, predicate.version, predicate.environment)
    if claimed != (plugin, version, environment):
        raise GateError(
            f"{source}: approves {predicate.plugin}@{predicate.version} for "
            f"{predicate.environment}, not {plugin}@{version} for {environment}"
        )
    if predicate.approver != member.login:
        raise GateError(
            f"{source}: claims to be {predicate.approver!r} but is signed by {member.login}'s key"
        )
    return Approval(member.login, predicate.approved_at, "signed", digest), digest


def _statement(payload: bytes, source: str) -> tuple[ApprovalPredicate, str]:
    try:
        data = load_json(payload, source)
        subject = data["subject"][0]["digest"]["sha256"]
        if data.get("predicateType") != APPROVAL_PREDICATE_TYPE:
            raise GateError(f"{source}: not an approval statement")
        predicate = ApprovalPredicate.model_validate(data["predicate"])
    except (InputError, ValueError, KeyError, IndexError, TypeError, ValidationError):
        raise GateError(f"{source}: the signed statement is not a valid approval") from None
    return predicate, str(subject)


@dataclass(frozen=True)
class ApproveRequest:
    """`powerx approve`: who approves which release for which environment, with which key."""

    plugin: str
    version: str
    environment: str
    approver: str
    private_key: ec.EllipticCurvePrivateKey
    now: datetime


def record_approval(
    git: GitRepo, request: ApproveRequest, *, branch: str, remote: str | None = None
) -> str:
    """Sign an approval of the manifest at `branch`'s tip and commit the record; the commit id.

    With `remote`, the approval is of the remote branch's manifest and lands there (rebasing
    and retrying when others push first).
    """

    def change(tip: Commit | None) -> tuple[ChangeSet, str]:
        if tip is None:
            raise InputError(f"branch {branch!r} does not exist on {remote!r}")
        return _approval_change(git, tip, request, branch)

    if remote is not None:
        return str(git.commit_and_push(remote, branch, change).id)
    tip = git.resolve(f"refs/heads/{branch}")
    changes, message = change(tip)
    return str(git.commit(branch, changes, message, parent=tip).id)


def _approval_change(
    git: GitRepo, tip: Commit, request: ApproveRequest, branch: str
) -> tuple[ChangeSet, str]:
    snapshot = Snapshot(git, tip)
    require_environment(snapshot, request.environment)
    require_in_order(request.environment, snapshot.policies().promotion.order)
    require_release(snapshot, request.plugin, request.version)
    path = layout.release_path(request.plugin, request.version)
    raw = git.read(tip, path, max_bytes=MAX_YAML_BYTES)
    assert raw is not None  # require_release found it
    predicate = ApprovalPredicate.model_validate(
        {
            "plugin": request.plugin,
            "version": request.version,
            "environment": request.environment,
            "approver": request.approver,
            "approvedAt": request.now,
        }
    )
    record = sign_approval(predicate, manifest_digest(raw), request.private_key)
    target = approval_path(request.plugin, request.version, request.environment, request.approver)
    trailers = Trailers(
        action="approve",
        plugin=request.plugin,
        version=request.version,
        environment=request.environment,
        operator=request.approver,
    )
    subject = f"Approve {request.plugin} {request.version} for {request.environment}"
    return {target: record}, compose_message(subject, "", trailers)


def signed_approvals(
    snapshot: Snapshot, teams: Teams, plugin: str, version: str, environment: str
) -> tuple[list[Approval], list[str]]:
    """The genuine approval records of a release for an environment, and why others are not."""
    folder = f"{layout.release_dir(plugin, version)}/approvals"
    approvals, problems = [], []
    for name, is_dir in snapshot.git.list_dir(snapshot.commit, folder):
        if is_dir or not name.startswith(f"{environment}-") or not name.endswith(".sigstore.json"):
            continue
        path = f"{folder}/{name}"
        raw = snapshot.read(path, max_bytes=MAX_BUNDLE_BYTES)
        assert raw is not None
        try:
            approval, _ = verify_approval(
                raw,
                teams=teams,
                plugin=plugin,
                version=version,
                environment=environment,
                source=path,
            )
        except (GateError, InputError) as refusal:
            problems.append(refusal.message)
            continue
        approvals.append(approval)
    return approvals, problems
