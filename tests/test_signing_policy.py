"""`policies/signing.yaml`: the SigningPolicy model, its seed, its errors, and TrustInputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import CombinedInputError, InputError
from pipeline.models.load import parse_document
from pipeline.models.policy import POLICY_FIELDS, POLICY_KINDS, PolicySet
from pipeline.models.schemas import all_schemas
from pipeline.models.signing import ReleasePredicate, SigningPolicy
from pipeline.signing.keys import generate_keypair, public_key_id
from pipeline.signing.statement import check_digest
from pipeline.signing.trust import TrustInputs, shipped_trusted_root, verifier_for

POLICY_FILE = Path(__file__).resolve().parent / "data" / "signing" / "signing.yaml"
HEADER = "apiVersion: powerx.io/v1alpha1\nkind: SigningPolicy\n"


def parse(text: str) -> SigningPolicy:
    return parse_document(text.encode(), "policies/signing.yaml", SigningPolicy)


def indented(pem: bytes, spaces: int) -> str:
    return "".join(" " * spaces + line + "\n" for line in pem.decode().splitlines())


def test_policy_file_parses() -> None:
    policy = parse(POLICY_FILE.read_text())
    assert len(policy.identities) == 3
    assert policy.identities[2].subject_pattern is not None
    assert policy.environments["prod"].require == "keyless"
    assert policy.environments["test"].identities is None


def test_seed_policy_trusts_nobody_and_is_registered() -> None:
    seed = PolicySet().signing
    assert seed.identities == [] and seed.keys == [] and seed.revoked_keys == []
    assert POLICY_KINDS["SigningPolicy"] is SigningPolicy
    assert POLICY_FIELDS["SigningPolicy"] == "signing"
    assert "signing-policy.schema.json" in all_schemas()
    assert TrustInputs().identity_rules() == () and TrustInputs().trusted_keys() == {}


def test_keys_with_dates_and_revocation() -> None:
    _, public_pem = generate_keypair(b"secret")
    kid = public_key_id(public_pem)
    policy = parse(
        HEADER
        + f"keys:\n  - id: {kid}\n    notBefore: 2026-01-01T00:00:00Z\n"
        + "    notAfter: 2027-01-01T00:00:00Z\n    revoked: true\n"
        + "    revokedAt: 2026-02-01T00:00:00Z\n    reason: laptop stolen\n"
        + "    publicKey: |\n"
        + indented(public_pem, 6)
        + f"revokedKeys:\n  - {'e' * 64}\n"
    )
    assert policy.revoked_ids() == {kid, "e" * 64}
    assert policy.keys[0].reason == "laptop stolen"


def test_key_id_must_match_the_public_key() -> None:
    _, public_pem = generate_keypair(b"secret")
    text = HEADER + f"keys:\n  - id: {'a' * 64}\n    publicKey: |\n" + indented(public_pem, 6)
    with pytest.raises(InputError) as caught:
        parse(text)
    assert caught.value.location is not None and caught.value.location.line == 4
    assert f"id does not match publicKey (its key id is {public_key_id(public_pem)})" in (
        caught.value.message
    )


def test_duplicate_keys_and_bad_windows() -> None:
    _, public_pem = generate_keypair(b"secret")
    kid = public_key_id(public_pem)
    entry = f"  - id: {kid}\n    publicKey: |\n" + indented(public_pem, 6)
    with pytest.raises(InputError, match="key ids listed more than once"):
        parse(HEADER + "keys:\n" + entry + entry)
    late = (
        f"  - id: {kid}\n    notBefore: 2026-02-01T00:00:00Z\n    notAfter: 2026-01-01T00:00:00Z\n"
        "    publicKey: |\n" + indented(public_pem, 6)
    )
    with pytest.raises(InputError, match="notAfter must be later than notBefore"):
        parse(HEADER + "keys:\n" + late)


@pytest.mark.parametrize(
    ("identity", "message", "line"),
    [
        ("issuer: https://x\n    subject: a\n    subjectPattern: b", "exactly one of", 4),
        ("issuer: https://x", "exactly one of", 4),
        ("issuer: https://x\n    subjectPattern: '(unclosed'", "invalid regular expression", 5),
        ("issuer: https://x\n    subject: a\n    subjet: b", "unknown field", 6),
    ],
)
def test_identity_errors_name_file_and_line(identity: str, message: str, line: int) -> None:
    with pytest.raises(InputError) as caught:
        parse(HEADER + "identities:\n  - " + identity + "\n")
    assert message in caught.value.message
    assert caught.value.location is not None
    assert caught.value.location.path == "policies/signing.yaml"
    assert caught.value.location.line == line


def test_environment_errors() -> None:
    with pytest.raises(InputError, match=r"environments\.prod\.require"):
        parse(HEADER + "environments:\n  prod:\n    require: sometimes\n")
    with pytest.raises(CombinedInputError):
        parse(HEADER + "environments:\n  Prod:\n    require: sometimes\n")


def test_release_predicate_window_and_fields() -> None:
    base = {"plugin": "hello", "version": "1.4.0", "sourceCommit": "a" * 64, "builder": "ci"}
    with pytest.raises(ValueError, match="notAfter must be later than notBefore"):
        ReleasePredicate.model_validate(
            {**base, "notBefore": "2026-02-01T00:00:00Z", "notAfter": "2026-01-01T00:00:00Z"}
        )
    with pytest.raises(ValueError, match="timezone"):
        ReleasePredicate.model_validate({**base, "notAfter": "2026-01-01T00:00:00"})
    with pytest.raises(ValueError, match="sourceCommit"):
        ReleasePredicate.model_validate({**base, "sourceCommit": "abc"})


def test_identity_override_options() -> None:
    trust = TrustInputs.from_options(identity="me@example.com", issuer="https://issuer")
    [rule] = trust.identity_rules()
    assert rule.describe() == "subject 'me@example.com' from issuer 'https://issuer'"
    with pytest.raises(InputError, match="needs an issuer and exactly one identity"):
        TrustInputs.from_options(identity="me@example.com")
    with pytest.raises(InputError, match="needs an issuer and exactly one identity"):
        TrustInputs.from_options(identity="a", identity_regexp="b", issuer="https://issuer")
    with pytest.raises(InputError, match="identity override: invalid regular expression"):
        TrustInputs.from_options(identity_regexp="(", issuer="https://issuer")
    with pytest.raises(InputError, match="--key #1: not a PEM public key"):
        TrustInputs.from_options(public_keys=(b"nonsense",))


def test_trust_root_selection(tmp_path: Path) -> None:
    assert TrustInputs().instance() == "Sigstore production"
    assert TrustInputs(staging=True).root_path() == shipped_trusted_root(staging=True)
    assert "tuf-repo-cdn.sigstore.dev" in str(TrustInputs().root_path())
    with pytest.raises(InputError, match="either the staging instance or a trusted root"):
        TrustInputs(staging=True, trusted_root=tmp_path / "root.json")
    with pytest.raises(InputError, match="cannot read trust root"):
        verifier_for(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"mediaType": "text/plain"}')
    with pytest.raises(InputError, match="not a Sigstore trusted root"):
        verifier_for(bad)


def test_check_digest_normalises() -> None:
    assert check_digest(" SHA256:" + "AB" * 32) == "ab" * 32
    with pytest.raises(InputError, match="not a sha256 digest"):
        check_digest("ab" * 31)
