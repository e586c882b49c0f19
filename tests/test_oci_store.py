"""The oci:// artifact store against a real registry (Debian's docker-registry, no auth)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from registry import Registry, make_package
from registry_proxy import Behaviour, proxy

from pipeline.errors import GateError, InputError
from pipeline.fsutil import hash_file
from pipeline.store import StoreOptions, store_for, writable_store_for
from pipeline.store.oci.artifact import (
    ARTIFACT_TYPE,
    EMPTY_CONFIG_DIGEST,
    bundle_layer,
    package_layer,
    package_tag,
)
from pipeline.store.oci.client import OCI_MANIFEST, ManifestNotFoundError, fallback_tag
from pipeline.store.oci.reference import OciReference
from pipeline.store.oci.store import OciStore, RegistryAccess


def test_a_package_goes_in_by_tag_and_comes_back_by_digest(
    registry: Registry, tmp_path: Path
) -> None:
    package = make_package(tmp_path, "hello", "1.2.0+build.7", padding=3_000_000)
    digest, size = hash_file(package)
    store = writable_store_for(registry.location("px/roundtrip"))
    assert isinstance(store, OciStore)
    assert not store.exists(digest)

    stored = store.put(package)

    assert (stored.uri, stored.sha256, stored.size) == (f"cas:sha256:{digest}", digest, size)
    assert store.exists(digest)
    assert store.pushed is not None and store.pushed.signature_digest is None
    with RegistryAccess().client(store.reference) as client:
        assert client.tags() == [package_tag("hello", "1.2.0+build.7")] == ["hello-1.2.0_build.7"]
        manifest, media_type, manifest_digest = client.get_manifest("hello-1.2.0_build.7")
        assert media_type == OCI_MANIFEST and manifest_digest == store.pushed.manifest_digest
        document = json.loads(manifest)
        assert document["artifactType"] == ARTIFACT_TYPE
        assert document["config"]["digest"] == f"sha256:{EMPTY_CONFIG_DIGEST}"
        layer, annotations = package_layer(manifest, "test")
        assert (layer.digest, layer.size) == (digest, size)
        assert annotations["dev.powerx.plugin"] == "hello"
        assert client.list_repository_manifests() == {"hello-1.2.0_build.7": manifest_digest}

    dest = tmp_path / "fetched" / "hello.pxp"
    store_for(registry.location("px/roundtrip")).fetch(stored.uri, digest, size, dest)
    assert hash_file(dest) == (digest, size)
    assert store.put(package) == stored  # storing the same bytes again: the same URI


def test_fetch_refuses_a_uri_that_names_other_bytes(registry: Registry, tmp_path: Path) -> None:
    store = store_for(registry.location("px/other"))
    with pytest.raises(InputError, match="names sha256"):
        store.fetch("cas:sha256:" + "a" * 64, "b" * 64, 1, tmp_path / "x")
    with pytest.raises(InputError, match="not in the registry"):
        store.fetch("cas:sha256:" + "a" * 64, "a" * 64, 1, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_a_flipped_byte_is_refused_and_nothing_is_written(
    registry: Registry, tmp_path: Path
) -> None:
    package = make_package(tmp_path, padding=2_000_000)
    stored = writable_store_for(registry.location("px/flip")).put(package)
    with proxy(registry.base, Behaviour(flip_blob_byte=True)) as flipping:
        dest = tmp_path / "dest" / "hello.pxp"
        with pytest.raises(GateError, match="sha256 mismatch") as refused:
            store_for(flipping.location("px/flip")).fetch(
                stored.uri, stored.sha256, stored.size, dest
            )
    assert refused.value.exit_code == 1
    assert not dest.exists() and list(dest.parent.iterdir()) == []


@pytest.mark.parametrize("ignore_range", [False, True], ids=["range", "no-range"])
def test_an_interrupted_pull_resumes(
    registry: Registry, tmp_path: Path, ignore_range: bool
) -> None:
    package = make_package(tmp_path, padding=6_000_000)
    stored = writable_store_for(registry.location("px/resume")).put(package)
    behaviour = Behaviour(cut_blob_after=2_500_000, cut_times=2, ignore_range=ignore_range)
    with proxy(registry.base, behaviour) as cutting:
        dest = tmp_path / "dest.pxp"
        store_for(cutting.location("px/resume")).fetch(stored.uri, stored.sha256, stored.size, dest)
    assert hash_file(dest) == (stored.sha256, stored.size)
    assert behaviour.cut_times == 0
    # each try asks from the last whole chunk received before the cut (at most the cut)
    assert len(behaviour.ranges) == 2
    offsets = [int(r.removeprefix("bytes=").rstrip("-")) for r in behaviour.ranges]
    assert 0 < offsets[0] <= 2_500_000
    if ignore_range:  # the whole blob again: what was received is skipped, not written twice
        assert offsets[1] == offsets[0]
    else:
        assert offsets[0] < offsets[1] <= offsets[0] + 2_500_000


def test_a_pull_that_keeps_breaking_gives_up(registry: Registry, tmp_path: Path) -> None:
    package = make_package(tmp_path, padding=1_000_000)
    stored = writable_store_for(registry.location("px/broken")).put(package)
    behaviour = Behaviour(cut_blob_after=10, cut_times=100, ignore_range=True)
    with proxy(registry.base, behaviour) as cutting:
        dest = tmp_path / "dest.pxp"
        with pytest.raises(InputError, match="cannot reach the registry"):
            store_for(cutting.location("px/broken")).fetch(
                stored.uri, stored.sha256, stored.size, dest
            )
    assert not dest.exists()


def test_referrers_fall_back_to_the_tag_schema_on_distribution_2_8(
    registry: Registry, tmp_path: Path
) -> None:
    package = make_package(tmp_path)
    bundle = tmp_path / "bundle.json"
    bundle.write_text('{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}')
    store = OciStore(OciReference.parse(registry.location("px/fallback")), RegistryAccess())
    signing = store.signed_with(bundle)
    signing.put(package)
    pushed = signing.pushed
    assert pushed is not None and pushed.signature_digest is not None
    with RegistryAccess().client(store.reference) as client:
        index = json.loads(client.get_manifest(fallback_tag(pushed.manifest_digest))[0])
        assert [m["digest"] for m in index["manifests"]] == [f"sha256:{pushed.signature_digest}"]
        found = client.referrers(
            pushed.manifest_digest, "application/vnd.dev.sigstore.bundle.v0.3+json"
        )
        assert [m["digest"] for m in found] == [f"sha256:{pushed.signature_digest}"]
        assert client.referrers(pushed.manifest_digest, "application/other") == []
        referrer = client.get_manifest(f"sha256:{pushed.signature_digest}")[0]
        assert json.loads(referrer)["subject"]["digest"] == f"sha256:{pushed.manifest_digest}"
        assert bundle_layer(referrer, "t").size == bundle.stat().st_size
        # signing again adds nothing twice
        signing.put(package)
        index = json.loads(client.get_manifest(fallback_tag(pushed.manifest_digest))[0])
        assert len(index["manifests"]) == 1
    pulled = store.pull_signed(pushed.reference, tmp_path / "pulled")
    assert pulled.bundle == bundle.read_bytes() and (pulled.plugin, pulled.version) == (
        "hello",
        "1.0.0",
    )
    assert hash_file(pulled.package) == hash_file(package)


def test_the_referrers_api_is_used_where_the_registry_has_it(
    registry: Registry, tmp_path: Path
) -> None:
    package = make_package(tmp_path, "api", "2.0.0")
    bundle = tmp_path / "bundle.json"
    bundle.write_text("{}")
    behaviour = Behaviour(referrers_api=True)
    with proxy(registry.base, behaviour) as standin:
        store = OciStore(OciReference.parse(standin.location("px/api")), RegistryAccess())
        signing = store.signed_with(bundle)
        signing.put(package)
        pushed = signing.pushed
        assert pushed is not None
        subject = f"sha256:{pushed.manifest_digest}"
        assert [m["digest"] for m in behaviour.referrers[subject]] == [
            f"sha256:{pushed.signature_digest}"
        ]
        client = RegistryAccess().client(store.reference)
        with client, pytest.raises(ManifestNotFoundError):  # no tag-schema index was needed
            client.get_manifest(fallback_tag(pushed.manifest_digest))
        pulled = store.pull_signed(pushed.reference, tmp_path / "pulled")
    assert pulled.bundle == b"{}"


def test_tags_delete_and_missing_things(registry: Registry, tmp_path: Path) -> None:
    store = writable_store_for(registry.location("px/gc"))
    assert isinstance(store, OciStore)
    with RegistryAccess().client(store.reference) as client:
        assert client.tags() == []
        assert client.manifest_digest("nothing-1.0.0") is None
        store.put(make_package(tmp_path, "gc", "1.0.0"))
        assert store.pushed is not None
        digest = store.pushed.manifest_digest
        assert client.manifest_digest("gc-1.0.0") == digest
        assert client.delete_manifest(digest) is True
        assert client.delete_manifest(digest) is False
        assert client.tags() == []
        with pytest.raises(ManifestNotFoundError, match="no manifest"):
            client.get_manifest("gc-1.0.0")
    with pytest.raises(InputError, match="not addressed by digest"):
        store.pull_signed(store.reference.with_tag("gc-1.0.0"), tmp_path)


def test_a_manifest_that_is_not_ours_is_refused(registry: Registry, tmp_path: Path) -> None:
    reference = OciReference.parse(registry.location("px/foreign"))
    with RegistryAccess().client(reference) as client:
        client.push_bytes(b"{}")
        foreign = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.empty.v1+json",
                    "digest": f"sha256:{EMPTY_CONFIG_DIGEST}",
                    "size": 2,
                },
                "layers": [],
            }
        ).encode()
        digest = client.put_manifest(foreign, OCI_MANIFEST, "foreign")
    store = OciStore(reference, RegistryAccess())
    with pytest.raises(GateError, match="not a PowerX package"):
        store.pull_signed(reference.with_digest(digest), tmp_path)
    with pytest.raises(GateError, match="unsigned"):
        store.put(make_package(tmp_path))
        assert store.pushed is not None
        store.pull_signed(store.pushed.reference, tmp_path / "p")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("oci://user:pw@127.0.0.1:5000/px", "user info"),
        ("https://127.0.0.1/px", "not an oci:// location"),
        ("oci://127.0.0.1:5000", "names no repository"),
        ("oci://127.0.0.1:5000/PX", "bad repository name"),
        ("oci://127.0.0.1:99999/px", "bad registry port"),
        ("oci://bad_host/px", "bad registry host"),
        ("oci://127.0.0.1/px:bad+tag", "bad tag"),
        ("oci://127.0.0.1/px@sha256:abc", "bad digest"),
    ],
)
def test_bad_locations_are_refused_without_echoing_secrets(text: str, problem: str) -> None:
    with pytest.raises(InputError, match=problem) as refused:
        OciReference.parse(text)
    assert "pw@" not in refused.value.diagnostics()


def test_locations_parse() -> None:
    reference = OciReference.parse(
        "oci://Registry.Example:8443/team/px-plugins:hello-1.0.0@sha256:" + "c" * 64
    )
    assert (reference.host, reference.port, reference.repository) == (
        "registry.example",
        8443,
        "team/px-plugins",
    )
    assert (reference.tag, reference.digest) == ("hello-1.0.0", "c" * 64)
    assert not reference.loopback and OciReference.parse("oci://[::1]:5000/x").loopback
    assert OciReference.parse("oci://[::1]:5000/x").authority == "[::1]:5000"
    assert str(reference.with_tag("v1")) == "oci://registry.example:8443/team/px-plugins:v1"
    with pytest.raises(InputError, match="names a tag or digest"):
        store_for("oci://127.0.0.1:5000/px:latest")
    with pytest.raises(InputError, match="CA file, not an SSL context"):
        import ssl

        store_for("oci://127.0.0.1:5000/px", StoreOptions(verify=ssl.create_default_context()))
