"""HTTPS downloads over real TLS: a throwaway CA, a local server on 127.0.0.1, real httpx."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from tlsfiles import Tls, make_tls

from pipeline.errors import EXIT_BUG, EXIT_GATE, EXIT_INPUT, GateError, InputError, PowerXError
from pipeline.store import (
    ContentAddressedDirectory,
    HttpsArtifactSource,
    StoreOptions,
    cas_uri,
    object_key,
    store_for,
)
from pipeline.store.https import display

TOKEN = "Bearer s3cr3t-t0ken-value"
BODY = os.urandom(2 * 1024 * 1024 + 123)
DIGEST = hashlib.sha256(BODY).hexdigest()


# --- a throwaway CA and a server certificate for 127.0.0.1 -----------------------------


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("pki"))


# --- a small scriptable HTTP(S) server ----------------------------------------------------


@dataclass
class Route:
    """One canned answer: `fail_first` 503s, then `status` with `body`."""

    body: bytes = b""
    status: int = 200
    content_length: int | None = None  # None: the real length; -1: omit (close-delimited)
    headers: dict[str, str] = field(default_factory=dict)
    fail_first: int = 0


@dataclass
class Server:
    base: str
    routes: dict[str, Route]
    requests: list[tuple[str, str, dict[str, str]]]
    root: Path | None = None

    def url(self, path: str) -> str:
        return self.base + path

    def hits(self, path: str) -> int:
        return sum(1 for _, requested, _ in self.requests if requested == path)


def _handler(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self._answer(send_body=True)

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def _answer(self, *, send_body: bool) -> None:
            server.requests.append((self.command, self.path, dict(self.headers.items())))
            route = server.routes.get(self.path)
            if route is None and server.root is not None:
                file = server.root / self.path.lstrip("/")
                route = Route(file.read_bytes()) if file.is_file() else None
            if route is None:
                route = Route(b"not found", status=404)
            if route.fail_first > 0:
                route.fail_first -= 1
                route = Route(b"try later", status=503)
            self.send_response(route.status)
            length = len(route.body) if route.content_length is None else route.content_length
            if length >= 0:
                self.send_header("Content-Length", str(length))
            for name, value in route.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if send_body:
                # the client may stop reading early, as it should past the size cap
                with contextlib.suppress(BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    self.wfile.write(route.body)
            self.close_connection = True

    return Handler


ServerFactory = Callable[..., Server]


@pytest.fixture
def serve(pki: Tls) -> Iterator[ServerFactory]:
    """Start servers (HTTPS by default) on 127.0.0.1; all are shut down after the test."""
    running: list[ThreadingHTTPServer] = []

    def start(
        routes: dict[str, Route] | None = None, *, tls: bool = True, root: Path | None = None
    ) -> Server:
        server = Server("", routes or {}, [], root)
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
        httpd.daemon_threads = True
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(pki.certificate, pki.key)
            httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        port = httpd.server_address[1]
        server.base = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True).start()
        running.append(httpd)
        return server

    yield start
    for httpd in running:
        httpd.shutdown()
        httpd.server_close()


def source(pki: Tls, **kwargs: object) -> HttpsArtifactSource:
    settings: dict[str, object] = {"verify": pki.ca_file, "backoff": 0.01, "timeout": 10.0}
    settings.update(kwargs)
    return HttpsArtifactSource(**settings)  # type: ignore[arg-type]


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def nothing_in(folder: Path) -> bool:
    return list(folder.iterdir()) == []


# --- tests ------------------------------------------------------------------------------


def test_download_verifies_over_real_tls(pki: Tls, serve: ServerFactory, out: Path) -> None:
    server = serve({"/a.pxp": Route(BODY)})
    dest = out / "a.pxp"
    assert source(pki).fetch(server.url("/a.pxp"), DIGEST, len(BODY), dest) == dest
    assert dest.read_bytes() == BODY
    assert sorted(p.name for p in out.iterdir()) == ["a.pxp"]
    method, _, headers = server.requests[0]
    assert method == "GET"
    assert headers["Accept-Encoding"] == "identity"
    assert "Authorization" not in headers


def test_ssl_context_is_accepted(pki: Tls, serve: ServerFactory, out: Path) -> None:
    server = serve({"/a.pxp": Route(BODY)})
    context = ssl.create_default_context(cafile=str(pki.ca_file))
    source(pki, verify=context).fetch(server.url("/a.pxp"), DIGEST, len(BODY), out / "a")
    assert (out / "a").read_bytes() == BODY


def test_untrusted_certificate_is_refused(pki: Tls, serve: ServerFactory, out: Path) -> None:
    server = serve({"/a.pxp": Route(BODY)})
    with pytest.raises(GateError, match="is not trusted") as caught:
        source(pki, verify=None).fetch(server.url("/a.pxp"), DIGEST, len(BODY), out / "a")
    assert "CA bundle" in (caught.value.hint or "")
    assert server.requests == []
    assert nothing_in(out)


def test_bad_ca_bundle(pki: Tls, tmp_path: Path, out: Path) -> None:
    (tmp_path / "bad.pem").write_text("not a certificate")
    for bad in (tmp_path / "bad.pem", tmp_path / "missing.pem"):
        with pytest.raises(InputError, match="cannot load CA bundle"):
            source(pki, verify=bad).fetch("https://127.0.0.1:1/a", DIGEST, 1, out / "a")


def test_wrong_digest(pki: Tls, serve: ServerFactory, out: Path) -> None:
    other = bytes(len(BODY))
    server = serve({"/a.pxp": Route(other)})
    with pytest.raises(GateError) as caught:
        source(pki).fetch(server.url("/a.pxp"), DIGEST, len(BODY), out / "a.pxp")
    error = caught.value
    assert error.exit_code == EXIT_GATE
    assert f"expected {DIGEST}" in error.message
    assert f"found {hashlib.sha256(other).hexdigest()}" in error.message
    assert server.hits("/a.pxp") == 1  # a verification failure is not retried
    assert nothing_in(out)


def test_existing_dest_survives_a_refused_download(
    pki: Tls, serve: ServerFactory, out: Path
) -> None:
    server = serve({"/a.pxp": Route(b"x" * len(BODY))})
    dest = out / "a.pxp"
    dest.write_bytes(b"the previous release")
    with pytest.raises(GateError):
        source(pki).fetch(server.url("/a.pxp"), DIGEST, len(BODY), dest)
    assert dest.read_bytes() == b"the previous release"
    assert [p.name for p in out.iterdir()] == ["a.pxp"]


def test_announced_length_must_match(pki: Tls, serve: ServerFactory, out: Path) -> None:
    server = serve({"/long": Route(BODY + b"extra"), "/short": Route(BODY[:-1])})
    with pytest.raises(GateError, match=r"\(Content-Length\), expected"):
        source(pki).fetch(server.url("/long"), DIGEST, len(BODY), out / "a")
    with pytest.raises(GateError, match=r"\(Content-Length\), expected"):
        source(pki).fetch(server.url("/short"), DIGEST, len(BODY), out / "a")
    assert nothing_in(out)


def test_too_long_body_without_length_stops_at_the_cap(
    pki: Tls, serve: ServerFactory, out: Path
) -> None:
    huge = BODY + os.urandom(16 * 1024 * 1024)
    server = serve({"/a.pxp": Route(huge, content_length=-1)})
    with pytest.raises(GateError, match=f"longer than the expected {len(BODY):,} bytes"):
        source(pki).fetch(server.url("/a.pxp"), DIGEST, len(BODY), out / "a.pxp")
    assert nothing_in(out)


def test_short_body_without_length(pki: Tls, serve: ServerFactory, out: Path) -> None:
    server = serve({"/a.pxp": Route(BODY[:1000], content_length=-1)})
    with pytest.raises(GateError, match=f"1,000 bytes, shorter than the expected {len(BODY):,}"):
        source(pki).fetch(server.url("/a.pxp"), DIGEST, len(BODY), out / "a.pxp")
    assert nothing_in(out)


def test_truncated_body_is_retried_then_refused(pki: Tls, serve: ServerFactory, out: Path) -> None:
    server = serve({"/a.pxp": Route(BODY[: len(BODY) // 2], content_length=len(BODY))})
    with pytest.raises(PowerXError) as caught:
        source(pki).fetch(server.url("/a.pxp"), DIGEST, len(BODY), out / "a.pxp")
    error = caught.value
    assert error.exit_code == EXIT_BUG
    assert "after 3 attempt(s)" in error.message
    assert "the body was truncated" in error.message
    assert f"received {len(BODY) // 2} bytes, expected {len(BODY)}" in error.message
    assert server.hits("/a.pxp") == 3
    assert nothing_in(out)


def test_not_found(pki: Tls, serve: ServerFactory, out: Path) -> None:
    server = serve()
    with pytest.raises(InputError, match=r"artifact not found: .*/a.pxp \(HTTP 404\)") as caught:
        source(pki).fetch(server.url("/a.pxp"), DIGEST, len(BODY), out / "a.pxp")
    assert caught.value.exit_code == EXIT_INPUT
    assert server.hits("/a.pxp") == 1  # not retried
    assert nothing_in(out)


@pytest.mark.parametrize(
    ("status", "message"),
    [(401, "access denied"), (403, "access denied"), (418, "unexpected HTTP 418")],
)
def test_client_errors(
    pki: Tls, serve: ServerFactory, out: Path, status: int, message: str
) -> None:
    server = serve({"/a": Route(b"no", status=status)})
    with pytest.raises(InputError, match=message):
        source(pki).fetch(server.url("/a"), DIGEST, len(BODY), out / "a")
    assert nothing_in(out)


def test_server_errors_are_retried(pki: Tls, serve: ServerFactory, out: Path) -> None:
    server = serve({"/a.pxp": Route(BODY, fail_first=2)})
    source(pki, attempts=3).fetch(server.url("/a.pxp"), DIGEST, len(BODY), out / "a.pxp")
    assert (out / "a.pxp").read_bytes() == BODY
    assert server.hits("/a.pxp") == 3


@pytest.mark.parametrize("status", [429, 500, 503])
def test_server_errors_give_up(pki: Tls, serve: ServerFactory, out: Path, status: int) -> None:
    server = serve({"/a.pxp": Route(b"down", status=status)})
    with pytest.raises(PowerXError, match=f"after 2 attempt\\(s\\): HTTP {status}"):
        source(pki, attempts=2).fetch(server.url("/a.pxp"), DIGEST, len(BODY), out / "a.pxp")
    assert server.hits("/a.pxp") == 2
    assert nothing_in(out)


def test_connection_refused(pki: Tls, serve: ServerFactory, out: Path) -> None:
    server = serve()
    url = server.url("/a.pxp")
    server_port = url.split(":")[2].split("/")[0]
    with socket.socket() as sock:  # a port nothing listens on: bind one and close it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert str(port) != server_port
    with pytest.raises(PowerXError, match="ConnectError") as caught:
        source(pki, attempts=2).fetch(f"https://127.0.0.1:{port}/a", DIGEST, 1, out / "a")
    assert "truncated" not in caught.value.message
    with pytest.raises(PowerXError, match="ConnectError"):
        source(pki, attempts=1, base_url=f"https://127.0.0.1:{port}").exists(DIGEST)


def test_authorization_is_sent_but_never_shown(pki: Tls, serve: ServerFactory, out: Path) -> None:
    server = serve({"/a.pxp": Route(BODY), "/bad": Route(b"x" * len(BODY))})
    client = source(pki, authorization=TOKEN)
    client.fetch(server.url("/a.pxp"), DIGEST, len(BODY), out / "a.pxp")
    assert server.requests[0][2]["Authorization"] == TOKEN
    assert TOKEN not in repr(client)
    shown = []
    for path in ("/bad", "/missing"):
        with pytest.raises(PowerXError) as caught:
            client.fetch(server.url(path), DIGEST, len(BODY), out / "b")
        shown.append(caught.value.diagnostics())
    assert all("s3cr3t" not in text for text in shown)
    assert "s3cr3t" not in repr(StoreOptions(authorization=TOKEN))


def test_authorization_is_dropped_on_a_cross_origin_redirect(
    pki: Tls, serve: ServerFactory, out: Path
) -> None:
    target = serve({"/a.pxp": Route(BODY)})
    origin = serve({"/a.pxp": Route(status=302, headers={"Location": target.url("/a.pxp")})})
    source(pki, authorization=TOKEN).fetch(origin.url("/a.pxp"), DIGEST, len(BODY), out / "a")
    assert (out / "a").read_bytes() == BODY
    assert origin.requests[0][2]["Authorization"] == TOKEN
    assert "Authorization" not in target.requests[0][2]


def test_plain_http_is_refused(pki: Tls, serve: ServerFactory, out: Path) -> None:
    plain = serve({"/a.pxp": Route(BODY)}, tls=False)
    with pytest.raises(InputError, match="refusing plain http") as caught:
        source(pki).fetch(plain.url("/a.pxp"), DIGEST, len(BODY), out / "a")
    assert "loopback only" in (caught.value.hint or "")
    with pytest.raises(InputError, match="refusing plain http"):
        source(pki, allow_http_loopback=True).fetch(
            "http://mirror.example/a.pxp", DIGEST, len(BODY), out / "a"
        )
    with pytest.raises(InputError, match="refusing plain http"):
        HttpsArtifactSource(base_url="http://mirror.example/x", allow_http_loopback=True)
    assert plain.requests == []
    assert nothing_in(out)


def test_plain_http_allowed_for_loopback(pki: Tls, serve: ServerFactory, out: Path) -> None:
    plain = serve({"/a.pxp": Route(BODY)}, tls=False)
    allowed = source(pki, allow_http_loopback=True)
    allowed.fetch(plain.url("/a.pxp"), DIGEST, len(BODY), out / "a")
    assert (out / "a").read_bytes() == BODY
    localhost = plain.url("/a.pxp").replace("127.0.0.1", "localhost")
    allowed.fetch(localhost, DIGEST, len(BODY), out / "b")
    assert (out / "b").read_bytes() == BODY


def test_redirect_to_plain_http_is_refused(pki: Tls, serve: ServerFactory, out: Path) -> None:
    plain = serve({"/a.pxp": Route(BODY)}, tls=False)
    secure = serve({"/a.pxp": Route(status=302, headers={"Location": plain.url("/a.pxp")})})
    with pytest.raises(InputError, match="refusing plain http"):
        source(pki).fetch(secure.url("/a.pxp"), DIGEST, len(BODY), out / "a")
    assert plain.requests == []
    assert nothing_in(out)


def test_bad_urls(pki: Tls, out: Path) -> None:
    client = source(pki)
    for bad in ("ftp://host/a", "https:///nohost", "/local/path"):
        with pytest.raises(InputError, match="not an https URL"):
            client.fetch(bad, DIGEST, 1, out / "a")
    with pytest.raises(InputError, match="not a URL"):
        client.fetch("https://[::1", DIGEST, 1, out / "a")
    with pytest.raises(InputError, match="needs a base URL"):
        client.fetch(cas_uri(DIGEST), DIGEST, 1, out / "a")
    with pytest.raises(InputError, match="names sha256"):
        source(pki, base_url="https://m.example").fetch(
            cas_uri(hashlib.sha256(b"x").hexdigest()), DIGEST, 1, out / "a"
        )
    with pytest.raises(InputError, match="attempts must be at least 1"):
        HttpsArtifactSource(attempts=0)
    assert nothing_in(out)


def test_display_hides_secrets() -> None:
    assert (
        display("https://user:pw@host.example/a.pxp?X-Amz-Signature=abc#frag")
        == "https://host.example/a.pxp"
    )
    assert display("https://[::1") == "<invalid URL>"


def test_mirror_of_a_content_addressed_directory(
    pki: Tls, serve: ServerFactory, tmp_path: Path, out: Path
) -> None:
    local = ContentAddressedDirectory(tmp_path / "store")
    artifact = tmp_path / "hello.pxp"
    artifact.write_bytes(BODY)
    stored = local.put(artifact)
    server = serve({"/mirror/" + object_key(DIGEST): Route(local.object_path(DIGEST).read_bytes())})
    mirror = store_for(
        server.url("/mirror/"), StoreOptions(verify=pki.ca_file, backoff=0.01, attempts=2)
    )
    assert isinstance(mirror, HttpsArtifactSource)
    assert mirror.url_for(DIGEST) == server.url("/mirror/" + object_key(DIGEST))
    mirror.fetch(stored.uri, stored.sha256, stored.size, out / "hello.pxp")
    assert (out / "hello.pxp").read_bytes() == BODY
    assert mirror.exists(DIGEST)
    assert not mirror.exists(hashlib.sha256(b"other").hexdigest())
    assert [method for method, _, _ in server.requests] == ["GET", "HEAD", "HEAD"]


def test_served_store_root(pki: Tls, serve: ServerFactory, tmp_path: Path, out: Path) -> None:
    local = ContentAddressedDirectory(tmp_path / "store")
    artifact = tmp_path / "hello.pxp"
    artifact.write_bytes(BODY)
    stored = local.put(artifact)
    server = serve(root=local.root)
    mirror = source(pki, base_url=server.base)
    mirror.fetch(stored.uri, stored.sha256, stored.size, out / "hello.pxp")
    assert (out / "hello.pxp").read_bytes() == BODY


def test_exists_gives_up_on_server_errors(pki: Tls, serve: ServerFactory) -> None:
    server = serve({"/" + object_key(DIGEST): Route(status=500)})
    with pytest.raises(PowerXError, match="HTTP 500"):
        source(pki, base_url=server.base, attempts=2).exists(DIGEST)
    assert server.hits("/" + object_key(DIGEST)) == 2
