"""A Sigstore bundle that is corrupt inside is a refused verification (exit 1), never a crash.

Real bundles (sigstore-python's test assets, tests/data/bounds/, with their licence) and a
key-mode bundle made here are damaged in many ways: every field replaced by values of the
wrong type or deleted, every base64 field with flipped bits or truncated. Each damaged
bundle must be refused with a GateError (or, for a mediaType that no longer names a
bundle, an InputError); nothing else may escape, and nothing may pass that changes what
was signed.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import random
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from factories import bundle as key_bundle
from factories import digest_of, signing_policy

from pipeline.cli.plugin import cli
from pipeline.errors import GateError, InputError
from pipeline.models.load import parse_document
from pipeline.models.signing import SigningPolicy
from pipeline.signing.trust import TrustInputs
from pipeline.signing.verify import verify_bundle

DATA = Path(__file__).resolve().parent / "data" / "bounds"
NOW = datetime(2026, 3, 1, tzinfo=UTC)
MUTATIONS_PER_FIELD = 6
"""Random bit flips and truncations per base64 field (seeded: the same every run)."""

Json = Any
FieldPath = tuple[str | int, ...]


def _policy() -> SigningPolicy:
    return parse_document((DATA / "signing.yaml").read_bytes(), "signing.yaml", SigningPolicy)


def _sha256(name: str) -> str:
    return hashlib.sha256((DATA / name).read_bytes()).hexdigest()


def _cases() -> list[tuple[str, bytes, str, TrustInputs]]:
    key_policy = parse_document(json.dumps(signing_policy()).encode(), "policy.yaml", SigningPolicy)
    return [
        (
            "production message signature",
            (DATA / "bundle_v3_github.whl.sigstore").read_bytes(),
            _sha256("bundle_v3_github.whl"),
            TrustInputs(policy=_policy()),
        ),
        (
            "staging message signature",
            (DATA / "bundle_v3.txt.sigstore").read_bytes(),
            _sha256("bundle_v3.txt"),
            TrustInputs(policy=_policy(), staging=True),
        ),
        (
            "staging DSSE (Rekor v2)",
            (DATA / "a.dsse.staging-rekor-v2.txt.sigstore.json").read_bytes(),
            "a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf",
            TrustInputs(policy=_policy(), staging=True),
        ),
        ("key mode", key_bundle(), digest_of("hello", "1.0.0"), TrustInputs(policy=key_policy)),
    ]


def _paths(node: Json, prefix: FieldPath = ()) -> Iterator[FieldPath]:
    if prefix:
        yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


def _get(node: Json, path: FieldPath) -> Json:
    for part in path:
        node = node[part]
    return node


def _decoded(value: Json) -> bytes | None:
    if not isinstance(value, str) or len(value) < 8:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:  # binascii.Error, or text that is not ASCII
        return None


def _mutations(value: Json, rng: random.Random) -> Iterator[tuple[str, Json]]:
    """(what was done, the new value); '<delete>' deletes the field."""
    wrongs: tuple[Json, ...] = (None, 7, -1, True, "x", [], {}, [{}], {"a": []})
    for wrong in wrongs:
        if wrong != value or type(wrong) is not type(value):
            yield f"set to {wrong!r}", wrong
    yield "deleted", "<delete>"
    raw = _decoded(value)
    if raw:
        for _ in range(MUTATIONS_PER_FIELD):
            flipped = bytearray(raw)
            spot = rng.randrange(len(flipped))
            flipped[spot] ^= 1 << rng.randrange(8)
            yield f"bit flipped at byte {spot}", base64.b64encode(bytes(flipped)).decode()
            cut = rng.randrange(len(raw))
            yield f"truncated to {cut} bytes", base64.b64encode(raw[:cut]).decode()


def _damaged(document: Json, path: FieldPath, value: Json) -> bytes:
    copied = copy.deepcopy(document)
    parent = _get(copied, path[:-1])
    if value == "<delete>":
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return json.dumps(copied).encode()


def _same_signed_content(original: bytes, damaged: bytes) -> bool:
    """A change that leaves every decoded byte as it was (e.g. base64 padding noise)."""
    return bool(json.loads(original) == json.loads(damaged))


@pytest.mark.parametrize("case", range(4), ids=[c[0] for c in _cases()])
def test_every_damaged_field_is_refused_never_a_crash(case: int) -> None:
    name, raw, digest, trust = _cases()[case]
    assert verify_bundle(raw, digest=digest, trust=trust, now=NOW)  # intact: it verifies
    document = json.loads(raw)
    rng = random.Random(f"{name}-1")
    tried, refused, passed = 0, 0, []
    for path in _paths(document):
        for what, value in _mutations(_get(document, path), rng):
            damaged = _damaged(document, path, value)
            tried += 1
            try:
                verify_bundle(damaged, digest=digest, trust=trust, now=NOW)
            except GateError:
                refused += 1
            except InputError as error:  # only a mediaType that names no bundle
                assert path == ("mediaType",), (path, what, error.message)
                assert "unknown bundle media type" in error.message
                refused += 1
            else:
                passed.append((path, what))
    assert tried > 100
    # What may still verify: fields the verifier does not rely on. The digest of a message
    # signature is recomputed from the artifact; a Rekor v2 entry does not bind its log id;
    # a CMS timestamp carries unsigned parts; a key-mode bundle names its key in the DSSE
    # signature too, and has no transparency log entries to check.
    allowed = {"messageDigest", "logId", "keyId", "logIndex", "rfc3161Timestamps"}
    if name == "key mode":
        allowed |= {"publicKey", "hint", "keyid", "tlogEntries"}
    unexpected = [(p, w) for p, w in passed if not allowed & {str(part) for part in p}]
    assert unexpected == [], unexpected
    assert refused > tried * 0.8


def test_damaged_certificate_is_exit_1_on_the_command_line(
    tmp_path: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(DATA / "bundle_v3_github.whl", tmp_path / "artifact.whl")
    document = json.loads((DATA / "bundle_v3_github.whl.sigstore").read_bytes())
    certificate = document["verificationMaterial"]["x509CertificateChain"]["certificates"][0]
    der = base64.b64decode(certificate["rawBytes"])
    monkeypatch.chdir(tmp_path)
    policy = str(DATA / "signing.yaml")
    (tmp_path / "good.json").write_text(json.dumps(document))
    good = run_cli(cli, "verify", "artifact.whl", "--bundle", "good.json", "--policy", policy)
    assert good.code == 0, good.err
    for label, damaged in (("truncated", der[: len(der) // 3]), ("flipped", _flip(der, 200))):
        certificate["rawBytes"] = base64.b64encode(damaged).decode()
        (tmp_path / f"{label}.json").write_text(json.dumps(document))
        result = run_cli(
            cli, "verify", "artifact.whl", "--bundle", f"{label}.json", "--policy", policy
        )
        assert result.code == 1, (label, result.err)
        assert "Traceback" not in result.err


def test_deeply_nested_bundle_is_exit_2_with_its_location(tmp_path: Path, run_cli: Any) -> None:
    shutil.copy(DATA / "bundle_v3_github.whl", tmp_path / "artifact.whl")
    deep = tmp_path / "deep.json"
    deep.write_text('{"mediaType": ' + "[" * 100_000 + "]" * 100_000 + "}")
    result = run_cli(
        cli, "verify", str(tmp_path / "artifact.whl"), "--bundle", str(deep),
        "--policy", str(DATA / "signing.yaml"),
    )  # fmt: skip
    assert result.code == 2, result.err
    assert f"{deep}:1:78: not a Sigstore bundle: not valid JSON (nested too deeply)" in result.err


def _flip(data: bytes, spot: int) -> bytes:
    changed = bytearray(data)
    changed[spot] ^= 0x40
    return bytes(changed)
