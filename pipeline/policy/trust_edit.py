"""`powerx trust add-key|add-identity|remove`: trusted signers in `policies/signing.yaml`.

Each edit is one commit made through `pipeline.policy.edit` (validated as a policy set
first). A signer is trusted by the top-level `keys:` / `identities:` lists; `--env ENV`
also lists it in that environment's allow-list (`environments.ENV.keys|identities`), and
`bundles` in the allow-list of offline bundle signers. An environment that had no
allow-list accepted every trusted signer: giving it one narrows it to the signers listed
(fail closed), which the outcome says in its notes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import LiteralScalarString

from pipeline.errors import InputError
from pipeline.gitrepo import GitRepo, Trailers, compose_message
from pipeline.models.base import NAME_PATTERN
from pipeline.models.signing import IdentityRule
from pipeline.names import unknown_name
from pipeline.policy.edit import (
    NOBODY,
    Actor,
    Change,
    Committed,
    PolicyView,
    block_map,
    block_seq,
    edit_policy,
)
from pipeline.policy.signer_inputs import PublicKeyFile

KIND = "SigningPolicy"


@dataclass(frozen=True)
class Scope:
    """Where a signer is also allowed: environments' allow-lists, and the bundles' one."""

    environments: tuple[str, ...] = ()
    bundles: bool = False


EVERYWHERE = Scope()
"""No allow-list: trusted wherever every trusted signer is."""


@dataclass(frozen=True)
class TrustChange:
    """What an edit did: the signer, where it is allowed, and anything worth knowing."""

    action: str
    signer: str
    key_id: str | None = None
    scope: Scope = field(default_factory=Scope)
    notes: tuple[str, ...] = ()


def add_key(
    git: GitRepo,
    name: str,
    key: PublicKeyFile,
    scope: Scope = EVERYWHERE,
    *,
    replace: bool = False,
    actor: Actor = NOBODY,
    branch: str = "main",
    remote: str | None = None,
    when: float | None = None,
) -> Committed[TrustChange]:
    """Trust `key` as `name` (one commit); a name or key already trusted is refused unless
    `replace` (which swaps the key a name stands for)."""
    if not re.match(NAME_PATTERN, name):
        raise InputError(
            f"key name {name!r} must be lower-case letters, digits and '-' (at most 63)",
            hint="e.g. ci-signer or ada-laptop",
        )

    def edit(view: PolicyView) -> Change[TrustChange]:
        _check_scope(view, scope)
        revoked = view.policies.signing.revoked_ids()
        if key.key_id in revoked:
            raise InputError(
                f"key {key.key_id} ({key.path}) was revoked: it is never trusted again",
                hint="generate a new key pair with px-plugin keygen",
            )
        keys = block_seq(view.tree, "keys")
        named = next((k for k in keys if k.get("name") == name), None)
        same = next((k for k in keys if k.get("id") == key.key_id), None)
        if same is not None and same is not named:
            label = same.get("name") or "(no name)"
            raise InputError(
                f"{key.path}: this key is already trusted as {label} (id {key.key_id})",
                hint="add --env/--bundles under that name, or remove it first",
            )
        entry = CommentedMap(
            [("name", name), ("id", key.key_id), ("publicKey", LiteralScalarString(key.pem))]
        )
        if named is None:
            keys.append(entry)
        elif named.get("id") != key.key_id:
            if not replace:
                raise InputError(
                    f"a key named {name!r} is already trusted (id {named.get('id')})",
                    hint="pass --replace to trust the new key under this name instead, "
                    "or choose another name",
                )
            old_id = named.get("id")
            keys[keys.index(named)] = entry
            _swap_key_id(view.tree, old_id, key.key_id)
        notes = list(_allow(view, "keys", key.key_id, scope))
        if named is not None and named.get("id") == key.key_id and not notes:
            raise InputError(
                f"key {name!r} is already trusted here: nothing to change",
                hint="use --env ENV or --bundles to allow it somewhere else",
            )
        notes += _restricted_elsewhere(view, "keys", scope)
        change = TrustChange("trust-add-key", name, key.key_id, scope, tuple(notes))
        return Change(change, _message(change, actor, f"Trust signing key {name}"))

    return edit_policy(git, KIND, edit, branch=branch, remote=remote, when=when)


def add_identity(
    git: GitRepo,
    rule: IdentityRule,
    scope: Scope = EVERYWHERE,
    *,
    actor: Actor = NOBODY,
    branch: str = "main",
    remote: str | None = None,
    when: float | None = None,
) -> Committed[TrustChange]:
    """Trust a keyless (Sigstore) signer (one commit); one already trusted is refused."""
    wanted = _rule_data(rule)

    def edit(view: PolicyView) -> Change[TrustChange]:
        _check_scope(view, scope)
        identities = block_seq(view.tree, "identities")
        known = any(_same_rule(item, wanted) for item in identities)
        if not known:
            identities.append(CommentedMap(wanted))
        notes = list(_allow(view, "identities", wanted, scope))
        if known and not notes:
            raise InputError(
                f"{rule.describe()} is already trusted: nothing to change",
                hint="use --env ENV or --bundles to allow it somewhere else",
            )
        notes += _restricted_elsewhere(view, "identities", scope)
        change = TrustChange("trust-add-identity", _label(wanted), None, scope, tuple(notes))
        return Change(change, _message(change, actor, f"Trust keyless signer {_label(wanted)}"))

    return edit_policy(git, KIND, edit, branch=branch, remote=remote, when=when)


def remove_signer(
    git: GitRepo,
    *,
    name: str | None = None,
    identity: str | None = None,
    issuer: str | None = None,
    actor: Actor = NOBODY,
    branch: str = "main",
    remote: str | None = None,
    when: float | None = None,
) -> Committed[TrustChange]:
    """Stop trusting a key (by name or id) or a keyless identity, everywhere it is listed."""
    if (name is None) == (identity is None):
        raise InputError("give a key NAME, or --identity (with --issuer when it is ambiguous)")

    def edit(view: PolicyView) -> Change[TrustChange]:
        if name is not None:
            return _remove_key(view, name, actor)
        assert identity is not None
        return _remove_identity(view, identity, issuer, actor)

    return edit_policy(git, KIND, edit, branch=branch, remote=remote, when=when)


def _remove_key(view: PolicyView, name: str, actor: Actor) -> Change[TrustChange]:
    keys = block_seq(view.tree, "keys")
    found = next((k for k in keys if name in (k.get("name"), k.get("id"))), None)
    if found is None:
        known = [str(k.get("name") or k.get("id")) for k in keys]
        raise unknown_name("trusted key", name, known, hint="powerx trust list shows them")
    keys.remove(found)
    emptied = _drop_key_id(view.tree, found.get("id"))
    label = str(found.get("name") or found.get("id"))
    change = TrustChange("trust-remove", label, str(found.get("id")), notes=emptied)
    return Change(change, _message(change, actor, f"Stop trusting signing key {label}"))


def _remove_identity(
    view: PolicyView, identity: str, issuer: str | None, actor: Actor
) -> Change[TrustChange]:
    items = block_seq(view.tree, "identities")
    matches = [
        item
        for item in items
        if identity in (item.get("subject"), item.get("subjectPattern"))
        and (issuer is None or item.get("issuer") == issuer)
    ]
    if not matches:
        known = [str(i.get("subject") or i.get("subjectPattern")) for i in items]
        raise unknown_name("trusted identity", identity, known, hint="powerx trust list shows them")
    if len(matches) > 1:
        raise InputError(
            f"{identity!r} is trusted from {len(matches)} issuers",
            hint="pass --issuer to say which one to remove",
        )
    wanted = dict(matches[0])
    items.remove(matches[0])
    notes: list[str] = []
    for where, rules in _allow_lists(view.tree):
        for item in [i for i in rules.get("identities") or () if _same_rule(i, wanted)]:
            rules["identities"].remove(item)
            if not rules["identities"]:
                notes.append(f"{where} now accepts no keyless signer")
    change = TrustChange("trust-remove", _label(wanted), notes=tuple(notes))
    return Change(change, _message(change, actor, f"Stop trusting keyless signer {_label(wanted)}"))


# -- the round-trip tree ------------------------------------------------------------


def _allow_lists(tree: CommentedMap) -> Iterator[tuple[str, CommentedMap]]:
    """(where, rules) of every allow-list holder: each environment, and bundles."""
    environments = tree.get("environments")
    if isinstance(environments, CommentedMap):
        for env, rules in environments.items():
            if isinstance(rules, CommentedMap):
                yield f"environment {env}", rules
    if isinstance(tree.get("bundles"), CommentedMap):
        yield "bundles", tree["bundles"]


def _allow(view: PolicyView, kind: str, value: Any, scope: Scope) -> Iterator[str]:
    """List `value` (a key id or identity rule) in the allow-lists of `scope`; yields notes."""
    needed = "key" if kind == "keys" else "keyless"
    bundles_existed = isinstance(view.tree.get("bundles"), CommentedMap)
    targets = [
        (f"environment {env}", block_map(block_map(view.tree, "environments"), env))
        for env in scope.environments
    ]
    if scope.bundles:
        targets.append(("bundles", block_map(view.tree, "bundles")))
    for where, rules in targets:
        mode = rules.get("require", "any")
        if mode not in ("any", needed):
            raise InputError(
                f"{where} requires {mode} signatures: a {needed} signer is never accepted there",
                hint=f"change 'require' of {where} in {view.path} first",
            )
        if rules.get(kind) is None:
            if where == "bundles" and bundles_existed and kind == "keys":
                continue  # no key list: every trusted key may sign bundles already
            if where != "bundles" and _trusted(view, kind, value):
                yield (
                    f"{where} had no {kind} list (it accepted every trusted signer): "
                    f"it now accepts only the {kind} listed there"
                )
            rules[kind] = CommentedSeq()
            if where == "bundles" and kind == "identities" and not bundles_existed:
                rules["keys"] = CommentedSeq()  # no key list would admit every trusted key
        listed = block_seq(rules, kind)
        if not any(_equal(entry, value) for entry in listed):
            listed.append(CommentedMap(value) if isinstance(value, dict) else value)
            yield f"allowed in {where}"


def _trusted(view: PolicyView, kind: str, value: Any) -> list[Any]:
    """The other signers of `kind` trusted at the top level."""
    items = view.tree.get(kind) or []
    if kind == "keys":
        return [k for k in items if k.get("id") != value]
    return [i for i in items if not _same_rule(i, value)]


def _restricted_elsewhere(view: PolicyView, kind: str, scope: Scope) -> list[str]:
    """Notes on environments outside `scope` whose allow-lists will not accept the signer."""
    signing = view.policies.signing
    restricted = [
        env
        for env, rules in signing.environments.items()
        if env not in scope.environments and getattr(rules, kind) is not None
    ]
    if not restricted:
        return []
    return [
        f"not accepted in {', '.join(sorted(restricted))} (their {kind} are listed): "
        f"add --env to allow it there"
    ]


def _swap_key_id(tree: CommentedMap, old: Any, new: str) -> None:
    """Put `new` where `old` stood in every allow-list (a replaced key keeps its scope)."""
    for _, rules in _allow_lists(tree):
        listed = rules.get("keys")
        if isinstance(listed, list) and old in listed:
            if new in listed:
                listed.remove(old)
            else:
                listed[listed.index(old)] = new


def _drop_key_id(tree: CommentedMap, key_id_value: Any) -> tuple[str, ...]:
    """Remove a key id from every allow-list; notes on lists left empty."""
    notes = []
    for where, rules in _allow_lists(tree):
        listed = rules.get("keys")
        if isinstance(listed, list) and key_id_value in listed:
            listed.remove(key_id_value)
            if not listed:
                notes.append(f"{where} now accepts no key signer")
    return tuple(notes)


def _check_scope(view: PolicyView, scope: Scope) -> None:
    known = view.environments()
    for env in scope.environments:
        if env not in known:
            raise unknown_name("environment", env, known, hint="see policies/promotion.yaml")


def _rule_data(rule: IdentityRule) -> dict[str, str]:
    data = {"issuer": rule.issuer}
    if rule.subject is not None:
        data["subject"] = rule.subject
    else:
        data["subjectPattern"] = str(rule.subject_pattern)
    return data


def _same_rule(item: Any, wanted: dict[str, str]) -> bool:
    fields = ("issuer", "subject", "subjectPattern")
    return isinstance(item, dict) and all(item.get(f) == wanted.get(f) for f in fields)


def _equal(entry: Any, value: Any) -> bool:
    return _same_rule(entry, value) if isinstance(value, dict) else bool(entry == value)


def _label(rule: dict[str, str]) -> str:
    subject = rule.get("subject") or f"/{rule.get('subjectPattern')}/"
    return f"{subject} ({rule.get('issuer')})"


def _message(change: TrustChange, actor: Actor, subject: str) -> str:
    extra = {"Signer": change.signer}
    if change.key_id:
        extra["Key-Id"] = change.key_id
    if change.scope.bundles:
        extra["Bundles"] = "yes"
    trailers = Trailers(
        action=change.action,
        environment=",".join(change.scope.environments) or None,
        operator=actor.operator,
        ci_run=actor.ci_run,
        extra=extra,
    )
    return compose_message(subject, "\n".join(change.notes), trailers)
