"""HTTP to one registry repository: the scheme rule, authentication, bounded and resumable reads.

Scheme: https, with the system CAs or a private CA file. Plain http only to a loopback
registry, and only when it does not speak TLS (the first request tries https; the Docker
client treats `localhost` the same way). Every request, redirects included, is checked
against that rule. Credentials go to the registry only: httpx drops the `Authorization`
header when a redirect leaves it (blobs are often served from a storage bucket), and a URL
the registry names (an upload `Location`, a `Link`) on another host is sent none.

Authentication: requests go anonymously until the registry answers 401; its
`WWW-Authenticate` challenge then says Basic (send the credentials) or Bearer (fetch a
token for `repository:<name>:pull[,push]`, see `auth.fetch_token`), and the request is sent
again once. A second refusal is an `InputError` (exit 2) whose message and hint never
contain the credentials.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from pipeline.errors import GateError, InputError
from pipeline.store.oci.auth import CredentialLookup, fetch_token, parse_challenge, read_capped
from pipeline.store.oci.reference import OciReference
from pipeline.urls import redact_url
from pipeline.webserver import is_loopback

_IDEMPOTENT = frozenset({"GET", "HEAD"})
_ERROR_BODY_LIMIT = 16 * 1024
_DEFAULT_PORTS = {"https": 443, "http": 80}


@dataclass(frozen=True)
class TransportSettings:
    """Timeouts and retries (connection trouble; interrupted downloads resume)."""

    timeout: float = 60.0
    attempts: int = 5
    """Tries per request (GET and HEAD) and per stalled download (progress resets it)."""
    backoff: float = 0.2


class RegistryTransport:
    """Requests to `/v2/<repository>/...` of one registry, authenticated as needed."""

    def __init__(
        self,
        reference: OciReference,
        lookup: CredentialLookup,
        *,
        ca_file: Path | None,
        settings: TransportSettings,
    ) -> None:
        self.reference = reference
        self.lookup = lookup
        self.settings = settings
        self._http = httpx.Client(
            verify=_ssl_context(ca_file),
            timeout=httpx.Timeout(settings.timeout),
            follow_redirects=True,
            max_redirects=5,
            event_hooks={"request": [_check_scheme]},
        )
        self._origin: str | None = None
        self._basic: str | None = None
        self._tokens: dict[bool, str] = {}

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    @property
    def where(self) -> str:
        """The repository, for messages."""
        return self.reference.repository_location()

    def origin(self) -> str:
        """`https://host[:port]` (or `http://` for a loopback registry without TLS)."""
        if self._origin is None:
            self._origin = self._pick_origin()
        return self._origin

    def _pick_origin(self) -> str:
        https = f"https://{self.reference.authority}"
        if not self.reference.loopback:
            return https
        try:
            self._http.get(f"{https}/v2/").close()
            return https
        except httpx.TransportError as error:
            self._refuse_untrusted(error)
            if not _tls_problem(error):
                raise self._unreachable(error) from None
        return f"http://{self.reference.authority}"

    def url(self, target: str) -> str:
        """An absolute URL (a Location header) as is; a path below `/v2/<repository>/`."""
        if target.startswith(("https://", "http://")):
            return target
        return f"{self.origin()}/v2/{self.reference.repository}/{target}"

    def request(
        self,
        method: str,
        target: str,
        *,
        push: bool = False,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | Iterator[bytes] | None = None,
    ) -> httpx.Response:
        """Send a request (body read), authenticating on a 401 challenge."""
        response = self._send(method, target, push, params, headers, content, stream=False)
        return response

    @contextmanager
    def stream(
        self, target: str, headers: Mapping[str, str], params: Mapping[str, str] | None = None
    ) -> Iterator[httpx.Response]:
        """A GET whose body is read by the caller, closed at the end of the block."""
        response = self._send("GET", target, False, params, headers, None, stream=True)
        try:
            yield response
        finally:
            response.close()

    def _send(
        self,
        method: str,
        target: str,
        push: bool,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        content: bytes | Iterator[bytes] | None,
        *,
        stream: bool,
    ) -> httpx.Response:
        url = httpx.URL(self.url(target))
        if params:
            url = url.copy_merge_params(dict(params))
        ours = self._is_registry(url)
        for attempt in range(2):
            authorization = self._authorization(push) if ours else {}
            request = self._http.build_request(
                method, url, headers={**(headers or {}), **authorization}, content=content
            )
            response = self._retrying(request, stream)
            if response.status_code != 401:
                return response
            response.close()
            if attempt or not ours or not (content is None or isinstance(content, bytes)):
                break  # no second try, and no credentials for another host's challenge
            self._authenticate(response, push)
        raise self.denied(response)

    def _retrying(self, request: httpx.Request, stream: bool) -> httpx.Response:
        tries = self.settings.attempts if request.method in _IDEMPOTENT else 1
        for attempt in range(tries):
            try:
                return self._http.send(request, stream=stream)
            except httpx.TransportError as error:
                self._refuse_untrusted(error)
                if attempt + 1 >= tries:
                    raise self._unreachable(error) from None
                time.sleep(self.settings.backoff * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _is_registry(self, url: httpx.URL) -> bool:
        """Whether `url` is on the registry's host and port (where credentials may go)."""
        origin = httpx.URL(self.origin())
        return (url.host, url.port or _DEFAULT_PORTS.get(url.scheme)) == (
            origin.host,
            origin.port or _DEFAULT_PORTS.get(origin.scheme),
        )

    def _authorization(self, push: bool) -> dict[str, str]:
        token = self._tokens.get(push) or (None if push else self._tokens.get(True))
        if token:
            return {"Authorization": f"Bearer {token}"}
        return {"Authorization": self._basic} if self._basic else {}

    def _authenticate(self, response: httpx.Response, push: bool) -> None:
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        credentials = self.lookup.credentials
        if challenge is not None and challenge.scheme == "basic":
            if credentials is None or self._basic is not None:
                raise self.denied(response)
            self._basic = credentials.basic()
        elif challenge is not None and challenge.scheme == "bearer":  # new, or expired
            scope = f"repository:{self.reference.repository}:{'pull,push' if push else 'pull'}"
            self._tokens[push] = fetch_token(self._http, challenge, scope, credentials, self.lookup)
        else:
            raise self.denied(response)

    def denied(self, response: httpx.Response) -> InputError:
        """The refusal of a 401/403: what was refused, and what to do (no credentials)."""
        return InputError(
            f"{self.where}: access denied (HTTP {response.status_code})",
            hint=self.lookup.refusal_hint(),
        )

    def expect(self, response: httpx.Response, ok: tuple[int, ...], action: str) -> None:
        """Nothing if the status is one of `ok`; else an error saying what failed."""
        status = response.status_code
        if status in ok:
            return
        if status in (401, 403):
            raise self.denied(response)
        detail = _registry_error(response)
        error = InputError if 400 <= status < 500 else GateError
        raise error(
            f"could not {action} {self.where}: HTTP {status}{detail}",
            hint="see the registry's answer above; check the repository and the registry",
        )

    def location(self, response: httpx.Response) -> str:
        """The absolute URL of a response's `Location` (an upload session)."""
        target = response.headers.get("Location")
        if not target:
            raise GateError(f"{self.where}: the registry sent no upload Location")
        return str(response.request.url.join(target))

    def bounded_response(
        self,
        target: str,
        limit: int,
        headers: Mapping[str, str],
        what: str,
        params: Mapping[str, str] | None = None,
    ) -> tuple[bytes, httpx.Headers] | None:
        """The body (at most `limit` bytes) and headers of a GET; None on 404."""
        with self.stream(target, headers, params) as response:
            if response.status_code == 404:
                return None
            self.expect(response, (200,), f"read a {what} from")
            body = read_capped(response, limit)
            if body is None:
                raise GateError(
                    f"{self.where}: the {what} is larger than {limit:,} bytes",
                    hint="the registry sent something else than expected",
                )
            return body, response.headers

    def bounded_get(self, target: str, limit: int, headers: Mapping[str, str], what: str) -> bytes:
        """Like `bounded_response`, the body only; 404 is an InputError."""
        found = self.bounded_response(target, limit, headers, what)
        if found is None:
            raise InputError(f"no {what} {target} in {self.where}")
        return found[0]

    def resumable_download(self, target: str, size: int, start: int = 0) -> Iterator[bytes]:
        """The bytes of a blob from `start`; a broken transfer continues with `Range` (or,
        where the registry ignores `Range`, skips what was received)."""
        received, failures = start, 0
        while True:
            headers = {"Accept-Encoding": "identity"}
            if received:
                headers["Range"] = f"bytes={received}-"
            start = received
            try:
                with self.stream(target, headers) as response:
                    skip = self._resume_offset(response, received, size)
                    for chunk in response.iter_raw():  # as received: no re-chunking copy
                        if skip:
                            dropped = min(skip, len(chunk))
                            chunk, skip = chunk[dropped:], skip - dropped
                        if chunk:
                            received += len(chunk)
                            yield chunk
                    return
            except httpx.TransportError as error:
                self._refuse_untrusted(error)
                failures = 1 if received > start else failures + 1
                if failures >= self.settings.attempts:
                    raise self._unreachable(error) from None
                time.sleep(self.settings.backoff * 2 ** (failures - 1))

    def _resume_offset(self, response: httpx.Response, received: int, size: int) -> int:
        """How many bytes of this answer were received already (and are skipped)."""
        if response.status_code == 404:
            raise InputError(
                f"{self.where}: the blob is not in the registry",
                hint="push it first, or point at the repository that holds it",
            )
        if response.status_code == 206 and received:
            first = _range_start(response.headers.get("Content-Range", ""))
            if first is None or first > received:
                raise GateError(f"{self.where}: the registry answered a wrong Range")
            return received - first
        self.expect(response, (200,), "download a blob from")
        announced = response.headers.get("Content-Length", "")
        if announced.isdigit() and int(announced) != size:
            raise GateError(
                f"{self.where}: the blob is {int(announced):,} bytes (Content-Length),"
                f" expected {size:,}",
                hint="the registry holds other bytes than the release names",
            )
        return received

    def _refuse_untrusted(self, error: httpx.TransportError) -> None:
        if "CERTIFICATE_VERIFY_FAILED" in str(error):
            raise GateError(
                f"the TLS certificate of {self.reference.authority} is not trusted",
                hint="pass --ca-file with the CA that issued the registry's certificate",
            ) from None

    def _unreachable(self, error: httpx.TransportError) -> InputError:
        return InputError(
            f"cannot reach the registry {self.reference.authority}: {type(error).__name__}",
            hint="check the registry location, that it runs, and the network",
        )


def _check_scheme(request: httpx.Request) -> None:
    url = request.url
    if url.scheme == "https" or (url.scheme == "http" and is_loopback(url.host)):
        return
    raise InputError(
        f"refusing {redact_url(url)}: registries are reached over https",
        hint="plain http is used only for a registry on this machine (loopback)",
    )


def _ssl_context(ca_file: Path | None) -> ssl.SSLContext:
    if ca_file is None:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as error:
        raise InputError(f"cannot load the CA file {ca_file}: {error}") from None


def _tls_problem(error: BaseException) -> bool:
    """Whether the failure is the TLS handshake (the server does not speak TLS)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError) or "SSL" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _range_start(header: str) -> int | None:
    """The first byte of `Content-Range: bytes <first>-<last>/<size>`."""
    unit, _, rest = header.partition(" ")
    first = rest.split("-", 1)[0]
    return int(first) if unit == "bytes" and first.isdigit() else None


def _registry_error(response: httpx.Response) -> str:
    """`: CODE message` from a registry's JSON error body (bounded), or ""."""
    try:
        if not response.is_stream_consumed:
            response.read()
        body: Any = response.json() if len(response.content) <= _ERROR_BODY_LIMIT else {}
        first = (body.get("errors") or [{}])[0]
        return f": {first.get('code', '')} {first.get('message', '')}".rstrip()
    except (ValueError, AttributeError, TypeError, IndexError, httpx.HTTPError):
        return ""
