"""`powerx export`: a signed, indexed, streaming bundle of one environment."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pytest
from bundle_support import ENV, Site, Source, site_policy

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
    ok = source.release("hello", "1.0.0")
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
    source: Source, tmp_path: Path, run_cli, monkeypatch: pytest.MonkeyPatch
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
    assert run_cli(cli, *argv[:-1], "soon").code == 2
    Site(tmp_path / "b")  # the site can be set up beside it
