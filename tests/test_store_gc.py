"""`powerx store gc`: what no release or environment references, listed (dry run) and
deleted (--apply), in a content-addressed directory and in a real registry."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bundle_support import ENV, Source, plugin_manifest
from conftest import RunCli
from factories import API, yaml_text
from registry import Registry

from pipeline.cli.powerx import cli
from pipeline.gitrepo import GitRepo
from pipeline.packaging import pack_plugin
from pipeline.store.cas import ContentAddressedDirectory
from pipeline.store.gc import DirectoryInventory, GcPlan, StoredItem, collect, referenced_digests
from pipeline.store.oci.client import fallback_tag
from pipeline.store.oci.reference import OciReference
from pipeline.store.oci.store import OciStore, RegistryAccess


def _pack(source: Source, name: str, version: str) -> Path:
    """A real package of name@version that no release names."""
    folder = source.root / "unreleased" / f"{name}-{version}"
    (folder / "dist").mkdir(parents=True)
    (folder / "plugin.yaml").write_text(yaml_text(plugin_manifest(name, version, ["true"])))
    (folder / "dist" / "main.py").write_text(f"print('{name} {version}')\n")
    return pack_plugin(folder, source.root / "unreleased-out").path


def _gc(run_cli: RunCli, source: Source, store: str, *extra: str) -> dict[str, object]:
    result = run_cli(
        cli, "store", "gc", "--store", store, "--repo", str(source.repo.path), "--format", "json",
        *extra,
    )  # fmt: skip
    assert result.code == 0, result.err
    data: dict[str, object] = json.loads(result.out)
    return data


def _names(items: object) -> list[str]:
    assert isinstance(items, list)
    return [f"{item['plugin']}@{item['version']}" for item in items]


@pytest.fixture
def source(tmp_path: Path) -> Source:
    return Source(tmp_path / "a")


def test_directory_store_dry_run_keep_and_apply(
    source: Source, tmp_path: Path, run_cli: RunCli
) -> None:
    stable = source.release("hello", "1.0.0")
    released = source.release("hello", "1.1.0", deploy=False)
    cas = ContentAddressedDirectory(source.store)
    old = cas.put(_pack(source, "hello", "0.8.0")).sha256
    older = cas.put(_pack(source, "hello", "0.9.0")).sha256
    canary = cas.put(_pack(source, "hello", "2.0.0")).sha256
    loose = tmp_path / "notes.txt"
    loose.write_text("not a package\n")
    junk = cas.put(loose).sha256
    source.repo.commit(
        {
            f"environments/{ENV}/plugins/hello.yaml": yaml_text(
                {
                    "apiVersion": API,
                    "kind": "PluginState",
                    "plugin": "hello",
                    "version": "1.0.0",
                    "digest": stable,
                    "canary": {
                        "version": "2.0.0",
                        "digest": canary,
                        "weight": 10,
                        "step": 0,
                        "startedAt": datetime.now(UTC).isoformat(),
                        "stepStartedAt": datetime.now(UTC).isoformat(),
                    },
                }
            )
        },
        "canary hello 2.0.0",
    )
    listed = _gc(run_cli, source, str(source.store))
    assert listed["applied"] is False and listed["deleted"] == []
    assert _names(listed["garbage"]) == ["hello@0.8.0", "hello@0.9.0", "None@None"]
    reasons = {item["sha256"]: item["reason"] for item in listed["kept"]}  # type: ignore[attr-defined]
    assert reasons == {
        stable: "referenced by releases/hello/1.0.0/release.yaml",
        released: "referenced by releases/hello/1.1.0/release.yaml",
        canary: f"referenced by environments/{ENV}/plugins/hello.yaml (canary)",
    }
    assert all(cas.exists(sha) for sha in (old, older, junk))  # a dry run deletes nothing
    text = run_cli(
        cli, "store", "gc", "--store", str(source.store), "--repo", str(source.repo.path)
    )
    assert "would delete hello@0.8.0" in text.out and "dry run: nothing deleted" in text.out
    kept = _gc(run_cli, source, str(source.store), "--keep", "4")  # 2.0.0, 1.1.0, 1.0.0, 0.9.0
    assert _names(kept["garbage"]) == ["hello@0.8.0", "None@None"]
    applied = _gc(run_cli, source, str(source.store), "--keep", "4", "--apply")
    assert _names(applied["deleted"]) == ["hello@0.8.0", "None@None"] and applied["note"] is None
    assert not cas.exists(old) and not cas.exists(junk)
    assert all(cas.exists(sha) for sha in (stable, released, canary, older))
    assert _gc(run_cli, source, str(source.store), "--keep", "4")["garbage"] == []


def test_a_referenced_artifact_is_never_deleted(source: Source) -> None:
    """Even a plan that lists it as garbage: `collect` holds the rule again."""
    stable = source.release("hello", "1.0.0")
    git = GitRepo(source.repo.path)
    referenced = referenced_digests(git, git.resolve("HEAD"))
    inventory = DirectoryInventory(ContentAddressedDirectory(source.store), "store")
    (item,) = inventory.items()
    assert item.sha256 == stable and (item.plugin, item.version) == ("hello", "1.0.0")
    assert collect(inventory, GcPlan(garbage=[item]), referenced) == []
    assert ContentAddressedDirectory(source.store).exists(stable)
    assert collect(inventory, GcPlan(garbage=[item]), {}) == [item]
    assert not ContentAddressedDirectory(source.store).exists(stable)


def test_bad_input(source: Source, run_cli: RunCli) -> None:
    base = ["store", "gc", "--repo", str(source.repo.path)]
    assert run_cli(cli, *base, "--store", str(source.store), "--rev", "nope").code == 2
    https = run_cli(cli, *base, "--store", "https://mirror.example/artifacts")
    assert https.code == 2 and "not a directory or oci:// store" in https.err
    tagged = run_cli(cli, *base, "--store", "oci://127.0.0.1:1/repo:tag")
    assert tagged.code == 2 and "gc takes a repository" in tagged.err
    assert run_cli(cli, *base, "--store", str(source.store), "--keep", "-1").code == 2


def test_registry_store(registry: Registry, source: Source, run_cli: RunCli) -> None:
    location = registry.location("gc/artifacts")
    reference = OciReference.parse(location)
    store = OciStore(reference, RegistryAccess())
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        source.release("hello", version, deploy=version == "1.0.0")
    packages = {v: source.root / "out" / f"hello-{v}.pxp" for v in ("1.0.0", "1.1.0", "1.2.0")}
    signature = source.repo.path / "releases/hello/1.1.0/hello-1.1.0.pxp.sigstore.json"
    for version, package in packages.items():
        pushed = store.signed_with(signature) if version == "1.1.0" else store
        pushed.put(package)
    client = RegistryAccess().client(reference)
    signed = client.manifest_digest("hello-1.1.0")
    assert signed is not None and client.referrers(signed)
    shutil.rmtree(source.repo.path / "releases/hello/1.1.0")
    shutil.rmtree(source.repo.path / "releases/hello/1.2.0")
    source.repo.commit({}, "retire hello 1.1.0 and 1.2.0")
    listed = _gc(run_cli, source, location)
    assert _names(listed["garbage"]) == ["hello@1.1.0", "hello@1.2.0"]
    assert client.manifest_digest("hello-1.1.0") == signed  # a dry run deletes nothing
    applied = run_cli(
        cli, "store", "gc", "--store", location, "--repo", str(source.repo.path), "--keep", "1",
        "--apply",
    )  # fmt: skip
    assert applied.code == 0, applied.err
    assert "deleted hello@1.1.0" in applied.out and "deleted hello@1.2.0" not in applied.out
    assert "registry's own garbage collection reclaims" in applied.out
    assert client.manifest_digest("hello-1.1.0") is None
    assert client.manifest_digest(fallback_tag(signed)) is None and not client.referrers(signed)
    assert client.manifest_digest("hello-1.0.0") is not None
    assert client.manifest_digest("hello-1.2.0") is not None  # the newest one is kept
    items = [
        StoredItem(i["sha256"], i["plugin"], i["version"], i["size"], i["where"])
        for i in _gc(run_cli, source, location, "--keep", "1")["kept"]  # type: ignore[attr-defined]
    ]
    assert {item.version for item in items} == {"1.0.0", "1.2.0"}
