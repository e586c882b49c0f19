"""`OciStore`: the `ArtifactStore` over one repository of an OCI registry (`oci://...`).

`put` pushes a `.pxp` as our artifact (see `pipeline.store.oci.artifact`), tagged
`<plugin>-<version>`, and, when the store was given the package's Sigstore bundle
(`signed_with`), the bundle as a referrer of it. The URI it returns is the same content URI
every store returns, `cas:sha256:<hex of the .pxp>`: a release manifest names bytes, not a
place, so it stays valid when the artifacts are mirrored or carried to a site's internal
registry. `fetch` pulls that blob *by digest* (`/v2/<repository>/blobs/sha256:<hex>`),
never through a tag, and streams it through `write_verified`.

`pull_signed` is the other way in: an `oci://HOST/REPO@sha256:<manifest digest>` (what
`publish create` prints) gives the package and its signature bundle, for `px-plugin verify`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from pipeline.errors import GateError, InputError
from pipeline.packaging.archive import read_package_manifest
from pipeline.store.base import (
    StoredArtifact,
    cas_uri,
    check_sha256,
    check_size,
    expect_uri_digest,
    parse_cas_uri,
)
from pipeline.store.oci.artifact import (
    EMPTY_CONFIG,
    MAX_BUNDLE_BYTES,
    PLUGIN_ANNOTATION,
    SIGSTORE_BUNDLE_TYPE,
    VERSION_ANNOTATION,
    bundle_layer,
    package_layer,
    package_manifest,
    package_tag,
    signature_manifest,
)
from pipeline.store.oci.auth import lookup_credentials
from pipeline.store.oci.client import OCI_MANIFEST, RegistryClient
from pipeline.store.oci.reference import OciReference


@dataclass(frozen=True)
class RegistryAccess:
    """How to reach a registry: the credentials variable, a private CA, the environment."""

    credentials_env: str | None = None
    ca_file: Path | None = None
    environ: Mapping[str, str] | None = None

    def client(self, reference: OciReference) -> RegistryClient:
        """A client for the repository `reference` names."""
        lookup = lookup_credentials(
            reference.authority, env_name=self.credentials_env, environ=self.environ or os.environ
        )
        return RegistryClient(reference, credentials=lookup, ca_file=self.ca_file)


@dataclass(frozen=True)
class PushedPackage:
    """Where `put` left a package: its manifest (by digest) and its signature referrer."""

    reference: OciReference
    manifest_digest: str
    signature_digest: str | None


@dataclass(frozen=True)
class SignedPackage:
    """A package pulled from a registry, with the Sigstore bundle found as its referrer."""

    package: Path
    bundle: bytes
    plugin: str
    version: str


class OciStore:
    """An `ArtifactStore` in one registry repository; URIs are `cas:sha256:<hex>`."""

    def __init__(
        self, reference: OciReference, access: RegistryAccess, *, bundle: Path | None = None
    ) -> None:
        if reference.tag is not None or reference.digest is not None:
            raise InputError(
                f"the artifact store {reference.display()} names a tag or digest",
                hint="give the repository only: oci://HOST[:PORT]/REPOSITORY",
            )
        self.reference = reference
        self.access = access
        self.bundle = bundle
        self.pushed: PushedPackage | None = None

    def __repr__(self) -> str:
        return f"OciStore({self.reference.display()!r})"

    def signed_with(self, bundle: Path) -> OciStore:
        """This store, pushing `bundle` as the signature referrer of what it `put`s."""
        return OciStore(self.reference, self.access, bundle=bundle)

    def exists(self, sha256: str) -> bool:
        """Whether the repository holds the blob."""
        with self.access.client(self.reference) as client:
            return client.blob_exists(check_sha256(sha256))

    def put(self, path: Path) -> StoredArtifact:
        """Push the package (and its signature, see `signed_with`); tag `<plugin>-<version>`."""
        plugin = read_package_manifest(path)
        bundle = _read_bundle(self.bundle) if self.bundle is not None else None
        with self.access.client(self.reference) as client:
            client.push_bytes(EMPTY_CONFIG)
            digest, size = client.push_file(path)[:2]
            manifest = package_manifest(plugin.name, plugin.version, digest, size)
            manifest_digest = client.put_manifest(
                manifest, OCI_MANIFEST, package_tag(plugin.name, plugin.version)
            )
            signature = None
            if bundle is not None:
                client.push_bytes(bundle)
                referrer = signature_manifest(manifest_digest, len(manifest), bundle)
                signature = client.put_referrer(referrer, OCI_MANIFEST, manifest_digest)
        self.pushed = PushedPackage(
            self.reference.with_digest(manifest_digest), manifest_digest, signature
        )
        return StoredArtifact(cas_uri(digest), digest, size)

    def fetch(self, uri: str, sha256: str, size: int, dest: Path) -> Path:
        """Pull the blob `uri` (`cas:sha256:<hex>`) by digest, verified, to `dest`."""
        digest, size = check_sha256(sha256), check_size(size)
        expect_uri_digest(parse_cas_uri(uri), digest, uri)
        with self.access.client(self.reference) as client:
            return client.pull_blob(digest, size, dest)

    def pull_signed(self, reference: OciReference, folder: Path) -> SignedPackage:
        """The package `reference` (by digest) and its signature bundle, into `folder`.

        GateError "unsigned" when no signature referrer exists.
        """
        if reference.digest is None:
            raise InputError(
                f"{reference.display()} is not addressed by digest",
                hint="verify oci://HOST/REPOSITORY@sha256:<manifest digest>"
                " (powerx publish create prints it)",
            )
        where = reference.display()
        with self.access.client(reference) as client:
            manifest = client.get_manifest(f"sha256:{reference.digest}")[0]
            layer, annotations = package_layer(manifest, where)
            plugin = annotations.get(PLUGIN_ANNOTATION, "package")
            version = annotations.get(VERSION_ANNOTATION, "0")
            referrers = client.referrers(reference.digest, SIGSTORE_BUNDLE_TYPE)
            if not referrers:
                raise GateError(
                    f"{where} is unsigned: no Sigstore bundle refers to it",
                    hint="publish it with powerx publish create --store oci://... (which"
                    " pushes the signature), or push the signature bundle as a referrer",
                )
            bundle = _first_bundle(client, referrers, where)
            target = folder / f"{layer.digest}.pxp"  # no name from the registry on disk
            client.pull_blob(layer.digest, layer.size, target)
        return SignedPackage(target, bundle, plugin, version)


def _first_bundle(client: RegistryClient, referrers: list[dict[str, object]], where: str) -> bytes:
    """The bundle of the newest signature referrer (the last one listed)."""
    descriptor = referrers[-1]
    digest = check_sha256(str(descriptor.get("digest", "")))
    referrer = client.get_manifest(f"sha256:{digest}")[0]
    layer = bundle_layer(referrer, f"the signature of {where}")
    if layer.size > MAX_BUNDLE_BYTES:
        raise GateError(f"the signature of {where} is larger than {MAX_BUNDLE_BYTES:,} bytes")
    return client.read_blob(layer.digest, MAX_BUNDLE_BYTES)


def _read_bundle(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"cannot read the signature bundle {path}: {error.strerror}") from None
    if len(data) > MAX_BUNDLE_BYTES:
        raise InputError(f"the signature bundle {path} is larger than {MAX_BUNDLE_BYTES:,} bytes")
    return data


def open_store(location: str, access: RegistryAccess) -> OciStore:
    """The store for an `oci://HOST[:PORT]/REPOSITORY` location."""
    return OciStore(OciReference.parse(location), access)


def pull_signed(location: str, folder: Path, access: RegistryAccess) -> SignedPackage:
    """The package at `oci://HOST/REPOSITORY@sha256:<digest>` and its signature bundle."""
    reference = OciReference.parse(location)
    store = OciStore(replace(reference, tag=None, digest=None), access)
    return store.pull_signed(reference, folder)
