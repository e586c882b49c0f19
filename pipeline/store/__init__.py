"""Where release artifacts live: content-addressed, verified on every fetch.

    store = writable_store_for(config.artifact_store)    # e.g. /srv/powerx/artifacts
    stored = store.put(Path("hello-1.2.0.pxp"))          # -> StoredArtifact(uri, sha256, size)
    # the release manifest records stored.uri ("cas:sha256:<hex>"), sha256 and size
    store_for(location).fetch(uri, sha256, size, dest)   # GateError unless the bytes match

See `pipeline.store.base` for the URI scheme and `pipeline.store.registry` for locations.
"""

from __future__ import annotations

from pipeline.store.base import (
    CAS_PREFIX,
    COPY_BUFFER,
    ArtifactSource,
    ArtifactStore,
    StoredArtifact,
    cas_uri,
    object_key,
    parse_cas_uri,
    write_verified,
)
from pipeline.store.cas import ContentAddressedDirectory
from pipeline.store.https import HttpsArtifactSource
from pipeline.store.registry import (
    StoreFactory,
    StoreOptions,
    register_scheme,
    store_for,
    writable_store_for,
)

__all__ = [
    "CAS_PREFIX",
    "COPY_BUFFER",
    "ArtifactSource",
    "ArtifactStore",
    "ContentAddressedDirectory",
    "HttpsArtifactSource",
    "StoreFactory",
    "StoreOptions",
    "StoredArtifact",
    "cas_uri",
    "object_key",
    "parse_cas_uri",
    "register_scheme",
    "store_for",
    "writable_store_for",
    "write_verified",
]
