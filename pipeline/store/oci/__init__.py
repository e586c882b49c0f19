"""Artifacts in OCI registries: the `oci://HOST[:PORT]/REPOSITORY` artifact store.

    reference = OciReference.parse("oci://registry.example/team/powerx")
    with RegistryAccess(credentials_env="REGISTRY_LOGIN").client(reference) as client:
        client.push_blob(path, digest, size)             # streamed, chunked
        client.pull_blob(digest, size, dest)             # verified before dest, resumable
        client.referrers(manifest_digest, SIGSTORE_BUNDLE_TYPE)

| module         | what                                                              |
|----------------|-------------------------------------------------------------------|
| `reference`    | parsing and printing `oci://` locations (never with credentials)  |
| `auth`         | credentials (variable, Docker config) and the Basic/Bearer flows  |
| `transport`    | https (http on loopback only), CA file, 401 challenges, resuming  |
| `client`       | `RegistryClient`: blobs, manifests, tags, referrers (+ fallback)  |
| `artifact`     | our manifest layout and media types, the signature referrer       |
| `store`        | `OciStore`, the `ArtifactStore` for `oci://` (`store_for`)        |

Manifest references are tags or `sha256:<hex>` digests; digests given alone are bare hex.
This package loads httpx: `pipeline.store.registry` imports it only for `oci://` locations.
"""
