"""The offline import log (`<store>/incoming/imports.jsonl`): every `powerx plugin import
--offline` run is one line, refused ones too; the log is bounded; and a log that cannot be
written never changes an import's exit code."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bundle_support import Site, Source, exporter_key, rewrite_bundle
from conftest import RunCli
from factories import PASSPHRASE
from hostplugins import run

from pipeline.bundle.import_log import (
    MAX_LINE_BYTES,
    MAX_LOG_BYTES,
    SHORTENED,
    append_attempt,
    attempt_line,
    import_log_path,
    read_attempts,
    rotated_log_path,
)
from pipeline.bundle.import_verify import describe_signer
from pipeline.cli.powerx import cli
from pipeline.models.bundle import ImportAttempt
from pipeline.signing.keys import generate_keypair, public_key_id
from pipeline.signing.verify import Verification


@pytest.fixture
def source(tmp_path: Path) -> Source:
    source = Source(tmp_path / "a")
    source.release("hello", "1.0.0")
    return source


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path / "b")


def logged(site: Site) -> list[dict[str, object]]:
    """The log's lines as JSON, oldest first."""
    path = import_log_path(site.store)
    return [json.loads(line) for line in path.read_text().splitlines()]


def attempt(number: int, reason: str = "") -> ImportAttempt:
    return ImportAttempt(
        time=datetime(2026, 12, 2, tzinfo=UTC),
        bundle_file=f"{number}.bundle",
        result="refused",
        reason=reason or f"attempt {number}",
        exit_code=1,
    )


def test_every_attempt_is_a_line_refusals_with_their_reason(
    source: Source, site: Site, tmp_path: Path, run_cli: RunCli
) -> None:
    good = tmp_path / "good.bundle"
    source.export(good)
    tampered = tmp_path / "tampered.bundle"

    def flip(name: str, data: bytes) -> bytes:
        return data[:-1] + bytes([data[-1] ^ 1]) if name.startswith("artifacts/") else data

    rewrite_bundle(good, tampered, change=flip)
    stranger_key = tmp_path / "stranger.key"
    stranger_key.write_bytes(generate_keypair(PASSPHRASE)[0])
    stranger = tmp_path / "stranger.bundle"
    source.export(stranger, key=stranger_key)
    assert run_cli(cli, *site.argv(tampered)).code == 1
    assert run_cli(cli, *site.argv(stranger)).code == 1
    assert run_cli(cli, *site.argv(good)).code == 0
    not_a_bundle = tmp_path / "empty.bundle"
    not_a_bundle.write_bytes(b"")
    unreadable = run_cli(cli, *site.argv(not_a_bundle))

    flipped, untrusted, imported, empty = logged(site)
    signer = f"key {public_key_id(exporter_key()[1])}"
    assert (flipped["result"], flipped["exitCode"], flipped["signer"]) == ("refused", 1, signer)
    assert "checksum mismatch for artifacts/" in str(flipped["reason"])
    assert (flipped["environment"], flipped["operator"]) == ("prod", "admin")
    assert flipped["bundleFile"] == "tampered.bundle" and flipped["sequence"] is not None
    assert flipped["digest"] == imported["digest"]  # same bundle.json, one flipped artifact
    assert untrusted["result"] == "refused" and untrusted["signer"] is None
    assert "the bundle's signature is not trusted" in str(untrusted["reason"])
    assert untrusted["environment"] is None and len(str(untrusted["digest"])) == 64
    assert (imported["result"], imported["exitCode"], imported["reason"]) == ("imported", 0, None)
    assert imported["signer"] == signer and len(str(imported["commit"])) == 40
    assert empty["result"] == "refused" and empty["digest"] is None
    assert empty["exitCode"] == unreadable.code and unreadable.code != 0
    for line in logged(site):
        ImportAttempt.model_validate(line)


def test_an_unwritable_log_is_a_warning_not_another_exit_code(
    source: Source, site: Site, tmp_path: Path
) -> None:
    import_log_path(site.store).mkdir(parents=True)  # a folder where the log should be
    good = tmp_path / "good.bundle"
    source.export(good)
    broken = tmp_path / "broken.bundle"
    rewrite_bundle(
        good, broken, change=lambda name, data: data + b"x" if "release" in name else data
    )
    refused = run(["powerx", *site.argv(broken)])
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "the import was not logged" in refused.stderr
    assert "imports.jsonl" in refused.stderr
    imported = run(["powerx", *site.argv(good)])
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "the import was not logged" in imported.stderr and "imported prod" in imported.stdout


def test_a_long_reason_is_shortened_to_one_atomic_line() -> None:
    line = attempt_line(attempt(1, "why " * 5_000))
    assert len(line) <= MAX_LINE_BYTES and line.endswith(b"\n") and line.count(b"\n") == 1
    reason = ImportAttempt.model_validate_json(line).reason
    assert reason is not None and reason.endswith(SHORTENED)


def test_the_log_is_rotated_and_read_newest_first(tmp_path: Path) -> None:
    store = tmp_path / "store"
    count = 0
    while not rotated_log_path(store).exists():
        count += 1
        append_attempt(store, attempt(count, f"{count} " + "x" * 1_900))
        assert import_log_path(store).stat().st_size <= MAX_LOG_BYTES
    for _ in range(count):
        count += 1
        append_attempt(store, attempt(count, f"{count} " + "x" * 1_900))
        assert import_log_path(store).stat().st_size <= MAX_LOG_BYTES
    assert rotated_log_path(store).stat().st_size <= MAX_LOG_BYTES
    found, unreadable = read_attempts(store, limit=10_000)
    assert unreadable == 0
    numbers = [int(a.bundle_file.split(".")[0]) for a in found]
    assert numbers[0] == count and numbers == sorted(numbers, reverse=True)
    assert len(numbers) < count  # the oldest were dropped at the second rotation
    assert [a.bundle_file for a in read_attempts(store, limit=2)[0]] == [
        f"{count}.bundle",
        f"{count - 1}.bundle",
    ]


def test_unreadable_lines_are_counted_not_fatal(tmp_path: Path) -> None:
    store = tmp_path / "store"
    append_attempt(store, attempt(1))
    with import_log_path(store).open("ab") as handle:
        handle.write(b"{not json\n")
    append_attempt(store, attempt(2))
    found, unreadable = read_attempts(store, limit=10)
    assert [a.bundle_file for a in found] == ["2.bundle", "1.bundle"] and unreadable == 1


def test_a_log_larger_than_the_read_budget_is_read_from_its_tail(tmp_path: Path) -> None:
    store = tmp_path / "store"
    path = import_log_path(store)
    path.parent.mkdir(parents=True)
    lines = [attempt_line(attempt(n, f"{n} " + "y" * 1_900)) for n in range(1, 1_200)]
    path.write_bytes(b"".join(lines))  # grown past the bound by something else
    assert path.stat().st_size > MAX_LOG_BYTES + MAX_LINE_BYTES
    found, unreadable = read_attempts(store, limit=5_000)
    assert unreadable == 0  # the cut first line is dropped, not miscounted
    assert found[0].bundle_file == "1199.bundle" and len(found) < 1_199


def test_a_keyless_signer_names_its_identity_and_issuer() -> None:
    verification = Verification(
        mode="keyless",
        signer="https://github.com/acme/release/.github/workflows/export.yml@refs/heads/main",
        issuer="https://token.actions.githubusercontent.com",
        digest="0" * 64,
        statement=None,
        release=None,
    )
    assert describe_signer(verification) == (
        "keyless https://github.com/acme/release/.github/workflows/export.yml@refs/heads/main"
        " (https://token.actions.githubusercontent.com)"
    )
