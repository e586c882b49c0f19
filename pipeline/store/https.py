"""Download artifacts over HTTPS (httpx), verifying digest and size while streaming.

Fail closed: only `https://` URLs are fetched (also after redirects); plain `http://` is
accepted only when explicitly allowed *and* the host is a loopback address. The optional
`Authorization` header is never printed: it is kept out of `repr()` and error messages, and
displayed URLs lose their query string and user info (pre-signed URLs carry secrets there).
httpx drops the header itself when a redirect leaves the origin.

Connection errors, timeouts, HTTP 429 and 5xx are retried with exponential backoff; every
attempt starts a fresh temporary file. The body is read as sent (`Accept-Encoding:
identity`, no decoding) and never past the expected size.
"""

from __future__ import annotations

import ipaddress
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx

from pipeline.errors import GateError, InputError, PowerXError
from pipeline.store.base import (
    CAS_PREFIX,
    COPY_BUFFER,
    check_sha256,
    check_size,
    expect_uri_digest,
    object_key,
    parse_cas_uri,
    write_verified,
)
from pipeline.urls import redact_url, refuse_credentials

_T = TypeVar("_T")
_CREDENTIALS_HINT = "give credentials as the Authorization header (an environment variable)"


class _RetryableError(Exception):
    """A failure worth another attempt (connection trouble, 429, 5xx)."""


@dataclass(frozen=True)
class HttpsArtifactSource:
    """A read-only `ArtifactSource` over HTTPS.

    `fetch` takes an absolute `https://` URL, or a `cas:sha256:<hex>` URI resolved against
    `base_url` as `<base_url>/sha256/<aa>/<hex>` (a mirror of a `ContentAddressedDirectory`).
    `verify` is a CA bundle file or an `ssl.SSLContext`; None trusts the system CAs.
    """

    base_url: str | None = None
    verify: ssl.SSLContext | Path | None = None
    authorization: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    attempts: int = 3
    backoff: float = 0.5
    allow_http_loopback: bool = False

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise InputError(f"attempts must be at least 1, not {self.attempts}")
        if self.base_url is not None:
            refuse_credentials(self.base_url, "the artifact store URL", hint=_CREDENTIALS_HINT)
            self._check_url(httpx.URL(self.base_url))

    def fetch(self, uri: str, sha256: str, size: int, dest: Path) -> Path:
        """Download `uri` to `dest`; GateError (and no file) unless digest and size match."""
        digest, size = check_sha256(sha256), check_size(size)
        url = self._resolve(uri, digest)
        with self._client() as client:
            return self._retrying(url, lambda: self._download(client, url, digest, size, dest))

    def exists(self, sha256: str) -> bool:
        """Whether `<base_url>/sha256/<aa>/<hex>` answers a HEAD request with 2xx."""
        url = self._resolve(CAS_PREFIX + check_sha256(sha256), sha256)
        with self._client() as client:
            return self._retrying(url, lambda: self._head(client, url))

    def url_for(self, sha256: str) -> str:
        """The URL of an object below `base_url`."""
        if self.base_url is None:
            raise InputError(
                "a cas: URI needs a base URL to resolve against",
                hint="configure the artifact store location (https://host/prefix)",
            )
        return f"{self.base_url.rstrip('/')}/{object_key(sha256)}"

    def _resolve(self, uri: str, digest: str) -> httpx.URL:
        if uri.startswith(CAS_PREFIX):
            expect_uri_digest(parse_cas_uri(uri), digest, uri)
            uri = self.url_for(digest)
        refuse_credentials(  # a pre-signed URL may carry its signature in the query
            uri, "the artifact URL", query_allowed=True, hint=_CREDENTIALS_HINT
        )
        try:
            url = httpx.URL(uri)
        except httpx.InvalidURL:  # its message may quote the URL: not shown
            raise InputError(f"not a URL: {display(uri)}") from None
        self._check_url(url)
        return url

    def _check_url(self, url: httpx.URL) -> None:
        if url.scheme == "https" and url.host:
            return
        if url.scheme == "http" and url.host:
            if self.allow_http_loopback and _is_loopback(url.host):
                return
            raise InputError(
                f"refusing plain http: {display(url)}",
                hint="artifacts are only downloaded over https"
                + ("" if self.allow_http_loopback else " (http is allowed for loopback only)"),
            )
        raise InputError(
            f"not an https URL: {display(url)}", hint="use https://host/path or cas:sha256:<hex>"
        )

    def _client(self) -> httpx.Client:
        return httpx.Client(
            verify=self._ssl_context(),
            timeout=httpx.Timeout(self.timeout),
            follow_redirects=True,
            max_redirects=5,
            event_hooks={"request": [lambda request: self._check_url(request.url)]},
        )

    def _ssl_context(self) -> ssl.SSLContext:
        if isinstance(self.verify, ssl.SSLContext):
            return self.verify
        if self.verify is None:
            return ssl.create_default_context()
        try:
            return ssl.create_default_context(cafile=str(self.verify))
        except (OSError, ssl.SSLError) as error:
            raise InputError(f"cannot load CA bundle {self.verify}: {error}") from None

    def _headers(self) -> dict[str, str]:
        headers = {"Accept-Encoding": "identity"}
        if self.authorization:
            headers["Authorization"] = self.authorization
        return headers

    def _retrying(self, url: httpx.URL, action: Callable[[], _T]) -> _T:
        failure = ""
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                return action()
            except _RetryableError as error:
                failure = str(error)
        raise PowerXError(
            f"cannot download {display(url)} after {self.attempts} attempt(s): {failure}",
            hint="the server or the network failed; try again later",
        )

    def _download(
        self, client: httpx.Client, url: httpx.URL, digest: str, size: int, dest: Path
    ) -> Path:
        try:
            with client.stream("GET", url, headers=self._headers()) as response:
                _check_status(response, url)
                announced = response.headers.get("Content-Length")
                if announced is not None and announced.isdigit() and int(announced) != size:
                    raise _gate_size(url, int(announced), size)
                return write_verified(
                    response.iter_raw(COPY_BUFFER),
                    dest,
                    sha256=digest,
                    size=size,
                    source=display(url),
                )
        except httpx.TransportError as error:
            _refuse_untrusted(error, url)
            raise _RetryableError(_describe(error)) from None

    def _head(self, client: httpx.Client, url: httpx.URL) -> bool:
        try:
            response = client.head(url, headers=self._headers())
        except httpx.TransportError as error:
            _refuse_untrusted(error, url)
            raise _RetryableError(_describe(error)) from None
        if response.status_code in (404, 410):
            return False
        _check_status(response, url)
        return True


def _gate_size(url: httpx.URL, announced: int, size: int) -> GateError:
    return GateError(
        f"{display(url)} is {announced:,} bytes (Content-Length), expected {size:,}",
        hint="the artifact is not the one the release manifest names",
    )


def _check_status(response: httpx.Response, url: httpx.URL) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    if status == 429 or status >= 500:
        raise _RetryableError(f"HTTP {status} {response.reason_phrase}")
    if status in (404, 410):
        raise InputError(
            f"artifact not found: {display(url)} (HTTP {status})",
            hint="check the artifact URI and the store location",
        )
    if status in (401, 403):
        raise InputError(
            f"access denied to {display(url)} (HTTP {status})",
            hint="check the credentials given as the Authorization header",
        )
    raise InputError(f"unexpected HTTP {status} {response.reason_phrase} from {display(url)}")


def _refuse_untrusted(error: httpx.TransportError, url: httpx.URL) -> None:
    if "CERTIFICATE_VERIFY_FAILED" in str(error):
        raise GateError(
            f"the TLS certificate of {url.host} is not trusted: {error}",
            hint="pass the CA bundle that issued the server's certificate",
        ) from None


def _describe(error: httpx.TransportError) -> str:
    if isinstance(error, httpx.RemoteProtocolError) and "complete message body" in str(error):
        return f"the body was truncated: {error}"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def display(url: httpx.URL | str) -> str:
    """A URL safe to print: no user info, no query string, no fragment."""
    return redact_url(url)
