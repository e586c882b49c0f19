"""A small loopback HTTP proxy in front of the test registry, to misbehave on purpose.

It forwards every request to the real registry (`Location` headers rewritten back to
itself) and can:

- flip one byte of every blob it serves (`flip_blob_byte`),
- cut the connection after `cut_blob_after` bytes of the first `cut_times` blob downloads,
- drop `Range` headers (`ignore_range`: a registry that cannot resume),
- send upload sessions (`Location`) to another origin (`upload_origin`),
- speak the referrers API (`referrers_api`): it acknowledges a manifest's `subject` with
  `OCI-Subject` and answers `GET /v2/<name>/referrers/<digest>` with an OCI index, as the
  distribution spec describes (a stand-in for registries that have it; 2.8 has not),
- demand bearer tokens (`bearer=(user, password)`): a 401 with `WWW-Authenticate: Bearer
  realm=".../token",service="standin",scope="repository:<name>:<actions>"`, and a token
  endpoint that checks Basic credentials and grants exactly the asked scope (or name
  another realm, `token_realm`).

It records what it saw (`ranges`, `scopes`, `authorizations`) so tests can assert the client's behaviour.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

_MANIFEST = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)$")
_REFERRERS = re.compile(r"^/v2/(?P<name>.+)/referrers/(?P<digest>sha256:[0-9a-f]{64})$")
_NAME = re.compile(r"^/v2/(?P<name>.+)/(?:manifests|blobs|tags|referrers)/")
_HOP = {"host", "connection", "keep-alive", "transfer-encoding", "authorization", "content-length"}


@dataclass
class Behaviour:
    """What the proxy does besides forwarding."""

    flip_blob_byte: bool = False
    cut_blob_after: int | None = None
    cut_times: int = 1
    ignore_range: bool = False
    referrers_api: bool = False
    bearer: tuple[str, str] | None = None
    upload_origin: str | None = None
    token_realm: str | None = None
    token_padding: int = 0
    """Bytes of padding the token service adds to its answer (an oversized answer)."""
    ranges: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    referrers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        behaviour = self.server.behaviour
        path = urlsplit(self.path).path
        if "Authorization" in self.headers and path != "/token":
            behaviour.authorizations.append(self.headers["Authorization"])
        if path == "/token" and behaviour.bearer is not None:
            return self._token(behaviour)
        if behaviour.bearer is not None and path != "/v2/" and not self._authorized(behaviour):
            return None
        referrers = _REFERRERS.match(path)
        if referrers and behaviour.referrers_api and self.command == "GET":
            return self._referrers(behaviour, referrers.group("digest"))
        self._forward(behaviour)
        return None

    def _authorized(self, behaviour: Behaviour) -> bool:
        name = _NAME.match(urlsplit(self.path).path)
        actions = "pull" if self.command in ("GET", "HEAD") else "pull,push"
        scope = f"repository:{name.group('name') if name else ''}:{actions}"
        header = self.headers.get("Authorization", "")
        granted = behaviour.tokens.get(header.removeprefix("Bearer "), "")
        if header.startswith("Bearer ") and granted and actions in granted.rsplit(":", 1)[-1]:
            return True
        realm = behaviour.token_realm or f"{self.server.origin}/token"
        self._reply(
            401,
            b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
            {
                "Content-Type": "application/json",
                "WWW-Authenticate": f'Bearer realm="{realm}",service="standin",scope="{scope}"',
            },
        )
        return False

    def _token(self, behaviour: Behaviour) -> None:
        assert behaviour.bearer is not None
        expected = base64.b64encode(":".join(behaviour.bearer).encode()).decode()
        if self.headers.get("Authorization") != f"Basic {expected}":
            return self._reply(401, b'{"details":"bad credentials"}', {})
        query = parse_qs(urlsplit(self.path).query)
        scope = query.get("scope", [""])[0]
        assert query.get("service") == ["standin"], query
        behaviour.scopes.append(scope)
        token = secrets.token_hex(16)
        behaviour.tokens[token] = scope
        answer = {"token": token, "expires_in": 300, "padding": "x" * behaviour.token_padding}
        body = json.dumps(answer).encode()
        return self._reply(200, body, {"Content-Type": "application/json"})

    def _referrers(self, behaviour: Behaviour, digest: str) -> None:
        wanted = parse_qs(urlsplit(self.path).query).get("artifactType", [None])[0]
        manifests = [
            item
            for item in behaviour.referrers.get(digest, [])
            if wanted is None or item.get("artifactType") == wanted
        ]
        body = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": manifests,
            }
        ).encode()
        headers = {"Content-Type": "application/vnd.oci.image.index.v1+json"}
        if wanted:
            headers["OCI-Filters-Applied"] = "artifactType"
        self._reply(200, body, headers)

    def _forward(self, behaviour: Behaviour) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        if "Range" in headers:
            behaviour.ranges.append(headers["Range"])
            if behaviour.ignore_range:
                del headers["Range"]
        upstream = self.server.upstream
        request = self.server.client.build_request(
            self.command, upstream + self.path, headers=headers, content=body
        )
        response = self.server.client.send(request, stream=True)
        try:
            out = {k: v for k, v in response.headers.items() if k.lower() not in _HOP}
            if "location" in {k.lower() for k in out}:
                key = next(k for k in out if k.lower() == "location")
                origin = behaviour.upload_origin or self.server.origin
                out[key] = out[key].replace(upstream, origin)
            extra = self._subject(behaviour, body, response.status_code)
            out.update(extra)
            self._stream(behaviour, response, out)
        finally:
            response.close()

    def _subject(self, behaviour: Behaviour, body: bytes, status: int) -> dict[str, str]:
        match = _MANIFEST.match(urlsplit(self.path).path)
        if not (behaviour.referrers_api and self.command == "PUT" and match and status == 201):
            return {}
        document = json.loads(body)
        subject = document.get("subject")
        if not subject:
            return {}
        descriptor = {
            "mediaType": document["mediaType"],
            "digest": f"sha256:{hashlib.sha256(body).hexdigest()}",
            "size": len(body),
            "artifactType": document.get("artifactType"),
        }
        behaviour.referrers.setdefault(subject["digest"], []).append(descriptor)
        return {"OCI-Subject": subject["digest"]}

    def _stream(
        self, behaviour: Behaviour, response: httpx.Response, headers: dict[str, str]
    ) -> None:
        blob = "/blobs/sha256:" in self.path and self.command == "GET"
        announced = response.headers.get("Content-Length")
        self.send_response(response.status_code)
        for key, value in headers.items():
            self.send_header(key, value)
        if self.command == "HEAD":
            self.send_header("Content-Length", announced or "0")
            self.end_headers()
            return
        data = response.iter_raw(256 * 1024)
        if announced is None:
            whole = b"".join(data)
            self.send_header("Content-Length", str(len(whole)))
            data, announced = iter([whole]), str(len(whole))
        else:
            self.send_header("Content-Length", announced)
        self.end_headers()
        cut = None
        if blob and behaviour.cut_blob_after is not None and behaviour.cut_times > 0:
            behaviour.cut_times -= 1
            cut = behaviour.cut_blob_after
        sent, flipped = 0, not (blob and behaviour.flip_blob_byte)
        for chunk in data:
            if not flipped and chunk:
                chunk = bytes([chunk[0] ^ 0x01]) + chunk[1:]
                flipped = True
            if cut is not None and sent + len(chunk) >= cut:
                self.wfile.write(chunk[: cut - sent])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.wfile.write(chunk)
            sent += len(chunk)

    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str, behaviour: Behaviour, verify: str | bool) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = upstream
        self.behaviour = behaviour
        self.origin = f"http://127.0.0.1:{self.server_address[1]}"
        self.client = httpx.Client(verify=verify, timeout=60, follow_redirects=False)


@dataclass(frozen=True)
class Proxy:
    """A running proxy: `authority` to put in oci:// locations, `behaviour` to inspect."""

    authority: str
    behaviour: Behaviour

    def location(self, repository: str) -> str:
        return f"oci://{self.authority}/{repository}"

    @property
    def origin(self) -> str:
        return f"http://{self.authority}"


@contextmanager
def proxy(upstream: str, behaviour: Behaviour, verify: str | bool = True) -> Iterator[Proxy]:
    """A proxy to `upstream` (`http(s)://host:port`) for the duration of the block."""
    server = _Server(upstream, behaviour, verify)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Proxy(f"127.0.0.1:{server.server_address[1]}", behaviour)
    finally:
        server.shutdown()
        server.server_close()
        server.client.close()
