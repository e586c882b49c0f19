"""Pick the artifact store for a configured location, by URI scheme.

| location                         | implementation                              |
|----------------------------------|---------------------------------------------|
| `/srv/artifacts`, `./artifacts`  | `ContentAddressedDirectory` (read-write)    |
| `file:///srv/artifacts`          | `ContentAddressedDirectory` (read-write)    |
| `https://mirror.example/prefix`  | `HttpsArtifactSource` (read-only)           |
| `http://127.0.0.1:8080/prefix`   | `HttpsArtifactSource`, only with `allow_http_loopback` |
| `oci://registry.example/team/px` | `OciStore` (read-write, an OCI registry repository) |

Adding an object store later (say `s3://bucket/prefix`) takes one class and one line:
implement `ArtifactStore` (`put`, `fetch`, `exists`) keeping the `sha256/<aa>/<hex>` key
layout and `cas:sha256:<hex>` URIs, fetch through `write_verified` so digest and size are
checked before anything reaches `dest`, then call
`register_scheme("s3", lambda location, options: S3Store(location, options))`.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pipeline.errors import InputError
from pipeline.store.base import ArtifactSource, ArtifactStore
from pipeline.store.cas import ContentAddressedDirectory
from pipeline.store.https import HttpsArtifactSource
from pipeline.urls import redact_url


@dataclass(frozen=True)
class StoreOptions:
    """Settings a store may need beyond its location (each store uses what applies)."""

    authorization: str | None = field(default=None, repr=False)
    verify: ssl.SSLContext | Path | None = None
    """An `ssl.SSLContext` or a CA bundle `Path` for HTTPS; None trusts the system CAs."""
    timeout: float = 30.0
    attempts: int = 3
    backoff: float = 0.5
    allow_http_loopback: bool = False
    credentials_env: str | None = None
    """oci://: the environment variable holding `user:password` (else the Docker config)."""


StoreFactory = Callable[[str, StoreOptions], ArtifactSource]

_FACTORIES: dict[str, StoreFactory] = {}


def register_scheme(scheme: str, factory: StoreFactory) -> None:
    """Make `store_for` build `factory(location, options)` for `<scheme>://` locations."""
    _FACTORIES[scheme.lower()] = factory


def store_for(location: str, options: StoreOptions | None = None) -> ArtifactSource:
    """The store (or read-only source) for a configured location; see the module table."""
    options = options or StoreOptions()
    if not location.strip():
        raise InputError("the artifact store location is empty")
    scheme = urlsplit(location).scheme.lower() if "://" in location else ""
    factory = _FACTORIES.get(scheme or "file")
    if factory is None:
        raise InputError(
            f"unknown artifact store scheme {scheme!r} in {redact_url(location)!r}",
            hint=f"use a directory path or one of: {', '.join(sorted(_FACTORIES))}",
        )
    return factory(location, options)


def writable_store_for(location: str, options: StoreOptions | None = None) -> ArtifactStore:
    """Like `store_for`, but refuse a location that cannot store artifacts."""
    store = store_for(location, options)
    if not isinstance(store, ArtifactStore):
        raise InputError(
            f"the artifact store {redact_url(location)!r} is read-only",
            hint="publish to a writable store (a directory or file:// location)",
        )
    return store


def _directory(location: str, options: StoreOptions) -> ArtifactSource:
    if "://" not in location:
        return ContentAddressedDirectory(Path(location))
    parts = urlsplit(location)
    if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
        raise InputError(
            f"unsupported file URI {redact_url(location)!r}",
            hint="use file:///absolute/path (local only)",
        )
    return ContentAddressedDirectory(Path(unquote(parts.path)))


def _https(location: str, options: StoreOptions) -> ArtifactSource:
    return HttpsArtifactSource(
        base_url=location,
        verify=options.verify,
        authorization=options.authorization,
        timeout=options.timeout,
        attempts=options.attempts,
        backoff=options.backoff,
        allow_http_loopback=options.allow_http_loopback,
    )


def _oci(location: str, options: StoreOptions) -> ArtifactSource:
    from pipeline.store.oci.store import RegistryAccess, open_store  # httpx loads on use

    if isinstance(options.verify, ssl.SSLContext):
        raise InputError("an oci:// store takes a CA file, not an SSL context")
    return open_store(location, RegistryAccess(options.credentials_env, options.verify))


register_scheme("file", _directory)
register_scheme("https", _https)
register_scheme("http", _https)
register_scheme("oci", _oci)
