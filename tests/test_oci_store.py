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
    PLUGIN_ANNOTATION,
    bundle_layer,
    package_layer,
    package_manifest,
    package_tag,
    signature_manifest,
)
from pipeline.store.oci.client import (
    OCI_MANIFEST,
    ManifestNotFoundError,
    fallback_tag,
)
from pipeline.store.oci.reference import OciReference
from pipeline.store.oci.store import OciStore, RegistryAccess
from pipeline.store.oci.upload import same_size


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


def test_a_signed_package_with_hostile_annotations_lands_under_its_digest(
    registry: Registry, tmp_path: Path
) -> None:
    package = make_package(tmp_path, "named", "1.0.0")
    bundle = tmp_path / "bundle.json"
    bundle.write_text("{}")
    store = writable_store_for(registry.location("px/named"))
    assert isinstance(store, OciStore)
    stored = store.put(package)
    document = json.loads(package_manifest("named", "1.0.0", stored.sha256, stored.size))
    document["annotations"][PLUGIN_ANNOTATION] = "../x\x00/" + "n" * 300
    manifest = json.dumps(document).encode()
    with RegistryAccess().client(store.reference) as client:
        digest = client.put_manifest(manifest, OCI_MANIFEST, "hostile")
        client.push_bytes(bundle.read_bytes())
        referrer = signature_manifest(digest, len(manifest), bundle.read_bytes())
        client.put_referrer(referrer, OCI_MANIFEST, digest)
    pulled = store.pull_signed(store.reference.with_digest(digest), tmp_path / "pulled")
    assert pulled.package == tmp_path / "pulled" / f"{stored.sha256}.pxp"
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
    store.put(make_package(tmp_path))
    assert store.pushed is not None
    with pytest.raises(GateError, match="unsigned"):
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


def test_registry_refusals_are_named(registry: Registry, tmp_path: Path) -> None:
    reference = OciReference.parse(registry.location("px/refusals"))
    with RegistryAccess().client(reference) as client:
        missing_blob = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.empty.v1+json",
                    "digest": "sha256:" + "d" * 64,
                    "size": 2,
                },
                "layers": [],
            }
        ).encode()
        with pytest.raises(
            InputError, match=r"could not store a manifest in .*HTTP 400: MANIFEST_BLOB_UNKNOWN"
        ):
            client.put_manifest(missing_blob, OCI_MANIFEST, "broken")
    package = make_package(tmp_path)
    stored = writable_store_for(registry.location("px/refusals")).put(package)
    with pytest.raises(GateError, match=r"Content-Length\), expected"):
        store_for(registry.location("px/refusals")).fetch(
            stored.uri, stored.sha256, stored.size + 1, tmp_path / "long.pxp"
        )
    assert not (tmp_path / "long.pxp").exists()


def test_an_unreachable_registry_is_named(tmp_path: Path) -> None:
    from prometheus import free_port

    store = store_for(f"oci://127.0.0.1:{free_port()}/px/nowhere")
    with pytest.raises(InputError, match=r"cannot reach the registry 127\.0\.0\.1"):
        store.exists("a" * 64)


def test_a_pull_that_gave_up_continues_from_its_partial_file(
    registry: Registry, tmp_path: Path
) -> None:
    package = make_package(tmp_path, padding=6_000_000)
    stored = writable_store_for(registry.location("px/partial")).put(package)
    partial, dest = tmp_path / "downloads" / "blob.partial", tmp_path / "blob.pxp"
    stalling = Behaviour(cut_blob_after=2_500_000, cut_times=100, ignore_range=True)
    with proxy(registry.base, stalling) as cutting:
        client = RegistryAccess().client(OciReference.parse(cutting.location("px/partial")))
        with client, pytest.raises(InputError, match="cannot reach the registry"):
            client.pull_blob(stored.sha256, stored.size, dest, partial=partial)
    held = partial.stat().st_size
    assert 0 < held < stored.size and not dest.exists()

    healthy = Behaviour()
    with proxy(registry.base, healthy) as fine:
        client = RegistryAccess().client(OciReference.parse(fine.location("px/partial")))
        with client:
            client.pull_blob(stored.sha256, stored.size, dest, partial=partial)
    assert healthy.ranges == [f"bytes={held}-"]
    assert hash_file(dest) == (stored.sha256, stored.size)
    assert not partial.exists()


def test_a_partial_file_of_other_bytes_is_refused_and_dropped(
    registry: Registry, tmp_path: Path
) -> None:
    stored = writable_store_for(registry.location("px/bad-partial")).put(make_package(tmp_path))
    partial, dest = tmp_path / "blob.partial", tmp_path / "blob.pxp"
    partial.write_bytes(b"not the start of the blob")
    reference = OciReference.parse(registry.location("px/bad-partial"))
    with RegistryAccess().client(reference) as client:
        with pytest.raises(GateError, match="sha256 mismatch"):
            client.pull_blob(stored.sha256, stored.size, dest, partial=partial)
        assert not partial.exists() and not dest.exists()
        partial.write_bytes(b"x" * (stored.size + 1))  # longer than the blob: ignored
        client.pull_blob(stored.sha256, stored.size, dest, partial=partial)
    assert hash_file(dest) == (stored.sha256, stored.size) and not partial.exists()


SIGSTORE = "application/vnd.dev.sigstore.bundle.v0.3+json"


@pytest.mark.parametrize(
    ("manifest", "problem"),
    [
        (b"{", "is not a JSON manifest"),
        (b'{"mediaType": "application/vnd.oci.image.index.v1+json"}', "not an OCI image manifest"),
        (json.dumps({"mediaType": OCI_MANIFEST, "layers": []}).encode(), "exactly one layer"),
        (
            json.dumps({"mediaType": OCI_MANIFEST, "layers": [{"mediaType": SIGSTORE}]}).encode(),
            "with a size",
        ),
        (
            json.dumps(
                {"mediaType": OCI_MANIFEST, "layers": [{"mediaType": SIGSTORE, "size": 1}]}
            ).encode(),
            "no sha256 digest",
        ),
    ],
)
def test_a_malformed_signature_manifest_is_refused(manifest: bytes, problem: str) -> None:
    with pytest.raises(GateError, match=problem):
        bundle_layer(manifest, "the signature")


def test_a_blob_in_another_repository_is_mounted_not_uploaded(
    registry: Registry, tmp_path: Path
) -> None:
    package = make_package(tmp_path, padding=500_000)
    digest, size = hash_file(package)
    first = OciReference.parse(registry.location("px/mount-from"))
    second = OciReference.parse(registry.location("px/mount-to"))
    with RegistryAccess().client(first) as client:
        assert client.push_blob(package, digest, size) is True
        assert client.push_blob(package, digest, size) is False  # already there
    with RegistryAccess().client(second) as client:
        client.upload_chunk = 100_000  # several PATCHes, were it uploaded
        assert client.push_blob(package, digest, size, mount_from="px/mount-from") is False
        assert client.blob_exists(digest)
        assert client.push_blob(package, digest, size) is False


def test_a_blob_goes_up_in_many_chunks(registry: Registry, tmp_path: Path) -> None:
    package = make_package(tmp_path, padding=450_000)
    digest, size = hash_file(package)
    with RegistryAccess().client(OciReference.parse(registry.location("px/chunks"))) as client:
        client.upload_chunk = 100_000
        assert size > 4 * client.upload_chunk
        assert client.push_blob(package, digest, size) is True
        client.pull_blob(digest, size, tmp_path / "back.pxp")
    assert hash_file(tmp_path / "back.pxp") == (digest, size)


def test_push_file_hashes_while_it_uploads_and_skips_a_blob_already_there(
    registry: Registry, tmp_path: Path
) -> None:
    package = make_package(tmp_path, padding=8 * 1024 * 1024)
    with RegistryAccess().client(OciReference.parse(registry.location("px/hashing"))) as client:
        client.upload_chunk = 128 * 1024  # dozens of PATCHes: the hash is known long before
        digest, size, sent = client.push_file(package)
        assert (digest, size, sent) == (*hash_file(package), True)
        client.pull_blob(digest, size, tmp_path / "back.pxp")
        assert hash_file(tmp_path / "back.pxp") == (digest, size)
        assert client.push_file(package) == (digest, size, False)  # upload abandoned
        assert client.blob_exists(digest)


def test_push_file_refuses_a_file_that_changed_while_it_was_read(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="changed while it was uploaded"):
        same_size(("0" * 64, 10), 12, tmp_path / "growing.pxp")
    assert same_size(("0" * 64, 12), 12, tmp_path / "steady.pxp") == "0" * 64
