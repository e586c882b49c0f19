"""`powerx export`: a signed, indexed, streaming bundle of one environment."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pytest
from bundle_support import ENV, Site, Source, site_policy
from conftest import RunCli

from pipeline.bundle.manifest import verify_manifest
from pipeline.cli.powerx import cli
from pipeline.errors import GateError, InputError
from pipeline.models.signing import SigningPolicy


@pytest.fixture
def source(tmp_path: Path) -> Source:
    return Source(tmp_path)


def test_full_export_indexes_and_signs_everything(source: Source, tmp_path: Path) -> None:
    base = source.release("base", "1.0.0", deploy=False)
    app = source.release("app", "1.0.0", dependencies={"base": ">=1.0"})
    ok = source.release("hello", "1.0.0", channels=["online"])
    output = tmp_path / "prod.bundle"
    result = source.export(output)
    with tarfile.open(output) as tar:
        names = tar.getnames()
        raw = tar.extractfile("bundle.json").read()  # type: ignore[union-attr]
        signature = tar.extractfile("bundle.json.sigstore.json").read()  # type: ignore[union-attr]
        for entry in result.manifest.files:
            data = tar.extractfile(entry.path).read()  # type: ignore[union-attr]
            assert hashlib.sha256(data).hexdigest() == entry.sha256
    assert names[:2] == ["bundle.json", "bundle.json.sigstore.json"]
    assert names[2:] == [entry.path for entry in result.manifest.files]
    assert f"artifacts/{base}.pxp" in names and f"artifacts/{app}.pxp" in names
    assert f"artifacts/{ok}.pxp" in names
    assert "environment/environment.yaml" in names
    roles = {(r.plugin, r.role) for r in result.manifest.releases}
    assert roles == {("app", "deployed"), ("hello", "deployed"), ("base", "dependency")}
    policy = SigningPolicy.model_validate(site_policy())
    verification = verify_manifest(raw, signature, policy, now=result.manifest.created)
    assert verification.mode == "key"
    assert json.loads(raw)["source"]["commit"] == source.repo.head()
    assert result.warnings == (
        "hello@1.0.0 is not released for the offline channel (channels: online)",
    )


def test_incremental_export_carries_only_what_is_new(source: Source, tmp_path: Path) -> None:
    source.release("hello", "1.0.0")
    source.release("world", "1.0.0")
    first = source.export(tmp_path / "full.bundle")
    source.release("hello", "1.1.0")
    by_bundle = source.export(tmp_path / "inc.bundle", since=str(tmp_path / "full.bundle"))
    by_rev = source.export(tmp_path / "inc2.bundle", since="HEAD~1")
    for result in (by_bundle, by_rev):
        included = {(r.plugin, r.version) for r in result.included}
        assert included == {("hello", "1.1.0")}
        assert {(r.plugin, r.version) for r in result.manifest.releases} == {
            ("hello", "1.1.0"),
            ("world", "1.0.0"),
        }
    assert by_bundle.manifest.sequence > first.manifest.sequence
    assert by_bundle.manifest.since is not None
    assert by_bundle.manifest.since.bundle == first.digest


def test_export_refuses_a_damaged_store_object(source: Source, tmp_path: Path) -> None:
    digest = source.release("hello", "1.0.0")
    stored = source.store / "sha256" / digest[:2] / digest
    stored.chmod(0o644)
    data = bytearray(stored.read_bytes())
    data[100] ^= 1
    stored.write_bytes(bytes(data))
    output = tmp_path / "prod.bundle"
    with pytest.raises(GateError, match="does not hash to the release's sha256"):
        source.export(output)
    assert not output.exists()
    assert not any(tmp_path.glob(".prod.bundle.*"))


def test_export_refuses_missing_artifacts_and_dependencies(source: Source, tmp_path: Path) -> None:
    source.release("app", "1.0.0", dependencies={"base": ">=1.0"})
    with pytest.raises(GateError, match=r"app@1\.0\.0 depends on base >=1\.0"):
        source.export(tmp_path / "a.bundle")
    with pytest.raises(InputError, match="does not exist"):
        source.export(tmp_path / "b.bundle", environment="nowhere")
    source.release("base", "1.0.0", deploy=False)
    with pytest.raises(GateError, match="not in any store"):
        source.export(tmp_path / "c.bundle", stores=())


def test_export_cli_with_loose_artifacts(
    source: Source, tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    source.release("hello", "1.0.0")
    output = tmp_path / "prod.bundle"
    argv = ["export", "--env", ENV, "-o", str(output), "--repo", str(source.repo.path),
            "--artifact", str(tmp_path / "out" / "hello-1.0.0.pxp"), "--key", str(source.key),
            "--valid-for", "7d"]  # fmt: skip
    monkeypatch.delenv("PX_PASSPHRASE", raising=False)
    assert run_cli(cli, *argv).code == 2
    monkeypatch.setenv("PX_PASSPHRASE", "correct horse battery staple")
    result = run_cli(cli, *argv)
    assert result.code == 0, result.err
    assert "exported prod (full)" in result.out and "+ hello@1.0.0 (deployed)" in result.out
    assert "warning" not in result.err
    assert run_cli(cli, *argv[:-1], "soon").code == 2
    Site(tmp_path / "b")  # the site can be set up beside it


def test_export_edge_cases(source: Source, tmp_path: Path) -> None:
    from datetime import timedelta

    source.release("hello", "1.0.0")
    with pytest.raises(InputError, match="validity must be positive"):
        source.export(tmp_path / "x.bundle", valid_for=timedelta(0))
    staging = source.export(tmp_path / "staging.bundle", environment="staging")
    assert staging.manifest.releases == []
    with pytest.raises(InputError, match="is a bundle of 'staging', not 'prod'"):
        source.export(tmp_path / "y.bundle", since=str(tmp_path / "staging.bundle"))
    (tmp_path / "notes.txt").write_text("not a bundle")
    with pytest.raises(InputError, match="cannot read bundle"):
        source.export(tmp_path / "z.bundle", since=str(tmp_path / "notes.txt"))
    with pytest.raises(InputError, match="cannot read key"):
        source.export(tmp_path / "k.bundle", key=tmp_path / "missing.key")
    # a revision from before the environment had anything: everything is new
    since_root = source.export(tmp_path / "r.bundle", since="HEAD~2")
    assert [r.included for r in since_root.manifest.releases] == [True]


def test_canary_versions_travel_too(source: Source, tmp_path: Path) -> None:
    from factories import API, yaml_text

    stable = source.release("hello", "1.0.0")
    canary = source.release("hello", "1.1.0", deploy=False)
    state = {
        "apiVersion": API, "kind": "PluginState", "plugin": "hello", "version": "1.0.0",
        "digest": stable,
        "canary": {"version": "1.1.0", "digest": canary, "weight": 10, "step": 0,
                   "startedAt": "2026-11-24T10:00:00Z", "stepStartedAt": "2026-11-24T10:00:00Z"},
    }  # fmt: skip
    source.repo.commit({"environments/prod/plugins/hello.yaml": yaml_text(state)}, "canary")
    result = source.export(tmp_path / "prod.bundle")
    assert {(r.version, r.role) for r in result.manifest.releases} == {
        ("1.0.0", "deployed"),
        ("1.1.0", "deployed"),
    }
    wrong = {**state, "digest": canary}
    source.repo.commit({"environments/prod/plugins/hello.yaml": yaml_text(wrong)}, "oops")
    with pytest.raises(GateError, match=r"differs from hello@1\.0\.0's artifact"):
        source.export(tmp_path / "bad.bundle")


def test_manifest_parsing_and_foreign_signatures(source: Source, tmp_path: Path) -> None:
    from factories import PASSPHRASE

    from pipeline.bundle.manifest import manifest_digest, parse_manifest
    from pipeline.signing.keys import load_private_key
    from pipeline.signing.sign import sign_with_key

    with pytest.raises(InputError, match="not valid JSON"):
        parse_manifest(b"{")
    with pytest.raises(InputError, match="apiVersion: Field required"):
        parse_manifest(b'{"kind": "Release"}')
    source.release("hello", "1.0.0")
    result = source.export(tmp_path / "prod.bundle")
    with tarfile.open(tmp_path / "prod.bundle") as tar:
        raw = tar.extractfile("bundle.json").read()  # type: ignore[union-attr]
    from pipeline.models.signing import ReleasePredicate

    predicate = ReleasePredicate.model_validate(
        {"plugin": "hello", "version": "1.0.0", "sourceCommit": "0" * 40, "builder": "x"}
    )
    key = load_private_key(source.key.read_bytes(), PASSPHRASE)
    release_style = sign_with_key(manifest_digest(raw), "bundle.json", predicate, key)
    policy = SigningPolicy.model_validate(site_policy())
    with pytest.raises(GateError, match="not an offline-bundle attestation"):
        verify_manifest(raw, release_style, policy, now=result.manifest.created)
    with pytest.raises(GateError, match="cannot be read"):
        verify_manifest(raw, b"{}", policy, now=result.manifest.created)
