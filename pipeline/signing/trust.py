"""What a verification trusts: the signing policy, command-line overrides, a pinned trust root."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from pipeline.errors import InputError, PowerXError
from pipeline.models.base import API_VERSION
from pipeline.models.signing import EnvironmentSigning, IdentityRule, SigningKey, SigningPolicy
from pipeline.signing.keys import key_id, load_public_key, public_pem

if TYPE_CHECKING:  # sigstore is imported where a keyless bundle is verified, not before
    from sigstore.verify import Verifier

PRODUCTION_TUF = "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev"
STAGING_TUF = "https%3A%2F%2Ftuf-repo-cdn.sigstage.dev"

_ANY_ENVIRONMENT = EnvironmentSigning()


def seed_signing_policy() -> SigningPolicy:
    """The signing policy of a repository without `policies/signing.yaml`: trusts nobody."""
    return SigningPolicy.model_validate({"apiVersion": API_VERSION, "kind": "SigningPolicy"})


def shipped_trusted_root(*, staging: bool) -> Path:
    """The trusted_root.json shipped inside the installed `sigstore` package (never a cache)."""
    folder = STAGING_TUF if staging else PRODUCTION_TUF
    path = Path(str(resources.files("sigstore").joinpath("_store", folder, "trusted_root.json")))
    if not path.is_file():  # pragma: no cover - a broken sigstore installation
        raise PowerXError(f"the installed sigstore package ships no trust root at {path}")
    return path


@lru_cache(maxsize=8)
def verifier_for(root: Path) -> Verifier:
    """A Sigstore verifier pinned to the trust root in `root` (loaded once per path)."""
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import TrustedRoot
    from sigstore.verify import Verifier

    try:
        trusted_root = TrustedRoot.from_file(str(root))
    except OSError as error:
        raise InputError(f"cannot read trust root {root}: {error.strerror}") from None
    except (SigstoreError, ValueError, json.JSONDecodeError) as error:
        raise InputError(f"{root}: not a Sigstore trusted root ({error})") from None
    return Verifier(trusted_root=trusted_root)


@dataclass(frozen=True)
class TrustInputs:
    """The signing policy plus explicit overrides, as `cosign verify-blob` takes them.

    `identities` / `keys`, when given, replace the policy's signers (revocations in the policy
    still apply). `staging` picks Sigstore's staging instance; `trusted_root` pins the trust
    root of a private Sigstore instance instead.
    """

    policy: SigningPolicy = field(default_factory=seed_signing_policy)
    identities: tuple[IdentityRule, ...] | None = None
    keys: tuple[SigningKey, ...] | None = None
    staging: bool = False
    trusted_root: Path | None = None

    def __post_init__(self) -> None:
        if self.staging and self.trusted_root is not None:
            raise InputError("give either the staging instance or a trusted root, not both")

    @classmethod
    def from_options(
        cls,
        policy: SigningPolicy | None = None,
        *,
        identity: str | None = None,
        identity_regexp: str | None = None,
        issuer: str | None = None,
        public_keys: tuple[bytes, ...] = (),
        staging: bool = False,
        trusted_root: Path | None = None,
    ) -> TrustInputs:
        """Trust inputs from command-line options (`--identity/--issuer`, `--key PUBKEY`)."""
        identities: tuple[IdentityRule, ...] | None = None
        if identity is not None or identity_regexp is not None or issuer is not None:
            if issuer is None or (identity is None) == (identity_regexp is None):
                raise InputError(
                    "an identity override needs an issuer and exactly one identity",
                    hint="give --identity (or --identity-regexp) together with --issuer",
                )
            try:
                rule = IdentityRule.model_validate(
                    {"issuer": issuer, "subject": identity, "subjectPattern": identity_regexp}
                )
            except ValidationError as error:
                reason = error.errors()[0]["msg"].removeprefix("Value error, ")
                raise InputError(f"identity override: {reason}") from None
            identities = (rule,)
        keys = None
        if public_keys:
            keys = tuple(_override_key(pem, index) for index, pem in enumerate(public_keys, 1))
        # Like cosign: an explicit signer replaces every signer of the policy, of both kinds.
        if identities is not None and keys is None:
            keys = ()
        if keys is not None and identities is None:
            identities = ()
        return cls(
            policy=policy if policy is not None else seed_signing_policy(),
            identities=identities,
            keys=keys,
            staging=staging,
            trusted_root=trusted_root,
        )

    def identity_rules(self) -> tuple[IdentityRule, ...]:
        """The trusted keyless signers: the override, else the policy's."""
        return self.identities if self.identities is not None else tuple(self.policy.identities)

    def trusted_keys(self) -> dict[str, SigningKey]:
        """Key id -> trusted key: the override, else the policy's."""
        keys = self.keys if self.keys is not None else self.policy.keys
        return {key.id: key for key in keys}

    def environment(self, name: str | None) -> EnvironmentSigning:
        """The rules of environment `name` (an undeclared environment adds no rules)."""
        if name is None:
            return _ANY_ENVIRONMENT
        return self.policy.environments.get(name, _ANY_ENVIRONMENT)

    def root_path(self) -> Path:
        """The pinned trust root file for keyless verification."""
        if self.trusted_root is not None:
            return self.trusted_root
        return shipped_trusted_root(staging=self.staging)

    def instance(self) -> str:
        """The Sigstore instance, in words."""
        if self.trusted_root is not None:
            return f"trust root {self.trusted_root}"
        return "Sigstore staging" if self.staging else "Sigstore production"


def _override_key(pem: bytes, index: int) -> SigningKey:
    public_key = load_public_key(pem, f"--key #{index}")
    return SigningKey.model_validate(
        {"id": key_id(public_key), "publicKey": public_pem(public_key).decode()}
    )
