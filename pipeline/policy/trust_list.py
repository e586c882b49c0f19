"""`powerx trust list`: every trusted signer, and where the signing policy accepts it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pipeline.models.signing import EnvironmentSigning, IdentityRule, SigningPolicy


@dataclass(frozen=True)
class SignerRow:
    """One trusted signer: a key (name, id) or a keyless identity (subject, issuer)."""

    kind: str
    """"key" or "identity"."""
    name: str | None
    key_id: str | None
    subject: str | None
    subject_pattern: str | None
    issuer: str | None
    environments: tuple[str, ...]
    """The environments (of `known`) whose rules accept this signer."""
    bundles: bool
    """Whether it may sign offline bundles."""
    revoked: bool = False
    not_before: datetime | None = None
    not_after: datetime | None = None


def signer_rows(policy: SigningPolicy, known: list[str]) -> list[SignerRow]:
    """Keys then identities, in file order, each with where it is accepted."""
    revoked = policy.revoked_ids()
    rows = []
    for key in policy.keys:
        accepted = key.id not in revoked
        rows.append(
            SignerRow(
                kind="key",
                name=key.name,
                key_id=key.id,
                subject=None,
                subject_pattern=None,
                issuer=None,
                environments=tuple(
                    env
                    for env in known
                    if accepted and _takes_key(policy.environments.get(env), key.id)
                ),
                bundles=accepted
                and policy.bundles is not None
                and _takes_key(policy.bundles, key.id),
                revoked=not accepted,
                not_before=key.not_before,
                not_after=key.not_after,
            )
        )
    for rule in policy.identities:
        rows.append(
            SignerRow(
                kind="identity",
                name=None,
                key_id=None,
                subject=rule.subject,
                subject_pattern=rule.subject_pattern,
                issuer=rule.issuer,
                environments=tuple(
                    env for env in known if _takes_identity(policy.environments.get(env), rule)
                ),
                bundles=_bundles_take_identity(policy.bundles, rule),
            )
        )
    return rows


def _takes_key(rules: EnvironmentSigning | None, key_id: str) -> bool:
    if rules is None:
        return True
    return rules.accepts_key(key_id)


def _takes_identity(rules: EnvironmentSigning | None, rule: IdentityRule) -> bool:
    if rules is None:
        return True
    listed = rules.identities
    return rules.require in ("any", "keyless") and (listed is None or rule in listed)


def _bundles_take_identity(rules: EnvironmentSigning | None, rule: IdentityRule) -> bool:
    """Bundles trust only the identities they list (unlike keys: see bundle/manifest.py)."""
    if rules is None:
        return False
    return rules.require in ("any", "keyless") and rule in (rules.identities or ())
