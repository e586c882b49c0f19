"""hello-world's web server: a page at `/`, a JSON API under `/api/`, `/healthz` for the host.

The PowerX host starts it as `python3 -m hello_world.server` in the installed version's
`dist/` folder, with these environment variables:

- `PORT`: the loopback port to listen on (we bind 127.0.0.1 only);
- `POWERX_API`: the host API's base URL, e.g. `http://127.0.0.1:7300/v1`;
- `POWERX_TOKEN`: this instance's bearer token for the host API;
- `POWERX_TENANT`, `POWERX_PLUGIN_NAME`, `POWERX_PLUGIN_VERSION`: who we run for, and as what.

The host reverse-proxies `/t/<tenant>/p/hello-world/<rest>` to `/<rest>` here, so the page
links only relatively. The tenant's name comes from the host API (`GET /tenant`, which needs
the `tenant-data:read` permission); when the host refuses or cannot be reached, the page and
the API say so (502 or 503, with the host's message) instead of failing. `/healthz` never calls
the host, so health does not depend on grants. SIGTERM and SIGINT stop the server cleanly.
"""

from __future__ import annotations

import html
import json
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.client import HTTPException
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import parse_qs, urlsplit
from urllib.request import ProxyHandler, Request, build_opener

from hello_world import __version__, greet

HOST_TIMEOUT = 5.0
"""Seconds to wait for the host API before answering 503."""


@dataclass(frozen=True)
class Settings:
    """What the host told us through the environment."""

    port: int
    api: str
    token: str
    tenant: str
    version: str

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Read the runtime contract's variables; ValueError names what is missing or wrong."""
        missing = [name for name in ("PORT", "POWERX_API", "POWERX_TOKEN") if not environ.get(name)]
        if missing:
            raise ValueError(
                f"{', '.join(missing)} not set: the PowerX host sets them when it starts "
                "this plugin (try `px-plugin dev examples/hello-world`)"
            )
        port = environ["PORT"]
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"PORT must be a port number (1-65535), not {port!r}")
        api = environ["POWERX_API"].rstrip("/")
        if urlsplit(api).scheme not in ("http", "https"):
            raise ValueError(f"POWERX_API must be an http(s) URL, not {api!r}")
        return cls(
            port=int(port),
            api=api,
            token=environ["POWERX_TOKEN"],
            tenant=environ.get("POWERX_TENANT", ""),
            version=environ.get("POWERX_PLUGIN_VERSION") or __version__,
        )


class HostError(Exception):
    """The host API did not give us the tenant; `status` is what we answer (502 or 503)."""

    def __init__(self, status: HTTPStatus, message: str, body: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = dict(body)

    def as_json(self) -> dict[str, Any]:
        """Our API's answer: the host's own fields (permission, grant) and our message."""
        return {**self.body, "error": self.message}


# The host is on loopback: never send its token through a proxy from the environment.
_OPENER = build_opener(ProxyHandler({}))


def fetch_tenant(settings: Settings) -> dict[str, Any]:
    """`GET <POWERX_API>/tenant`: `{"name": ..., "displayName": ...}`, or HostError."""
    url = f"{settings.api}/tenant"
    request = Request(  # noqa: S310 - Settings allows http(s) URLs only
        url,
        headers={"Authorization": f"Bearer {settings.token}", "Accept": "application/json"},
    )
    try:
        with _OPENER.open(request, timeout=HOST_TIMEOUT) as response:
            raw = response.read()
    except HTTPError as error:
        body = _json_object(error.read())
        said = body.get("error") or error.reason
        message = f"the host API refused GET {url}: {error.code} {said}"
        if body.get("grant"):
            message += f" (grant it with: {body['grant']})"
        raise HostError(HTTPStatus.BAD_GATEWAY, message, body) from None
    except (URLError, OSError, HTTPException) as error:  # refused, timed out, garbled
        reason = getattr(error, "reason", error)
        message = f"the host API at {settings.api} cannot be reached: {reason}"
        raise HostError(HTTPStatus.SERVICE_UNAVAILABLE, message, {}) from None
    tenant = _json_object(raw)
    if not isinstance(tenant.get("name"), str) or not tenant["name"]:
        message = f"the host API answered GET {url} without the tenant's name: {raw[:200]!r}"
        raise HostError(HTTPStatus.BAD_GATEWAY, message, {})
    return tenant


def _json_object(raw: bytes) -> dict[str, Any]:
    """`raw` as a JSON object, or {} when it is anything else."""
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def greeting(settings: Settings, language: str) -> dict[str, str]:
    """Our API's answer: the tenant, greeted in `language`, and the version saying it."""
    tenant = fetch_tenant(settings)
    shown = tenant.get("displayName")
    name = shown if isinstance(shown, str) and shown.strip() else tenant["name"]
    return {
        "greeting": greet(name, language=language),
        "tenant": tenant["name"],
        "version": settings.version,
    }


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">{base}
<title>hello-world</title>
</head>
<body>
<h1>hello-world {version}</h1>
<p id="greeting">{greeting}</p>
<p>From the API: <output id="api">loading api/greeting&hellip;</output></p>
<script>
fetch("api/greeting" + location.search)
  .then((response) => response.json())
  .then((data) => {{
    document.getElementById("api").textContent = data.greeting || data.error;
  }})
  .catch((error) => {{
    document.getElementById("api").textContent = String(error);
  }});
</script>
</body>
</html>
"""


class Handler(BaseHTTPRequestHandler):
    """GET /, /api/greeting and /healthz; everything else is 404."""

    server: PluginServer
    server_version = f"hello-world/{__version__}"
    protocol_version = "HTTP/1.1"  # keep-alive: the host's proxy reuses its connection
    disable_nagle_algorithm = True  # headers and body are two writes: send each at once

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        language = parse_qs(url.query).get("lang", ["en"])[0]
        if url.path == "/healthz":
            self._send(HTTPStatus.OK, b"ok\n", "text/plain; charset=utf-8")
        elif url.path == "/api/greeting":
            try:
                self._send_json(HTTPStatus.OK, greeting(self.server.settings, language))
            except HostError as error:
                self._send_json(error.status, error.as_json())
        elif url.path == "/":
            self._page(language)
        else:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {url.path}"})

    def _page(self, language: str) -> None:
        settings = self.server.settings
        try:
            status, text = HTTPStatus.OK, greeting(settings, language)["greeting"]
        except HostError as error:
            status, text = error.status, error.message
        prefix = self.headers.get("X-Forwarded-Prefix", "")
        # Behind the host, relative links resolve against our prefix even without a final '/'.
        base = f'\n<base href="{html.escape(prefix.rstrip("/"))}/">' if prefix[:1] == "/" else ""
        page = PAGE.format(
            base=base, version=html.escape(settings.version), greeting=html.escape(text)
        )
        self._send(status, page.encode(), "text/html; charset=utf-8")

    def _send_json(self, status: HTTPStatus, data: Mapping[str, Any]) -> None:
        self._send(status, json.dumps(data).encode() + b"\n", "application/json")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """One line per request on stderr, without the date (the host stamps its logs)."""
        sys.stderr.write(f"hello-world: {format % args}\n")


class PluginServer(ThreadingHTTPServer):
    """The HTTP server, holding the settings its handlers read."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__(("127.0.0.1", settings.port), Handler)


class Stop(BaseException):
    """Raised by the signal handler to end `serve_forever`.

    A BaseException, like KeyboardInterrupt: socketserver catches Exception around each
    request, and a signal may arrive while the main thread is still starting a request's thread.
    """


def _stop(signum: int, frame: FrameType | None) -> None:
    # One stop is enough: a second signal while we close must not interrupt the closing.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise Stop(signal.Signals(signum).name)


def main(environ: Mapping[str, str] = os.environ) -> int:
    """Serve until SIGTERM or SIGINT: 0 then, 2 for a bad environment, 1 if we cannot listen."""
    try:
        settings = Settings.from_environ(environ)
    except ValueError as error:
        print(f"hello-world: error: {error}", file=sys.stderr)
        return 2
    try:
        server = PluginServer(settings)
    except OSError as error:
        print(
            f"hello-world: error: cannot listen on 127.0.0.1:{settings.port}: {error.strerror}",
            file=sys.stderr,
        )
        return 1
    tenant = f" for tenant {settings.tenant}" if settings.tenant else ""
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        print(
            f"hello-world {settings.version} serving{tenant} on http://127.0.0.1:{settings.port}/",
            file=sys.stderr,
            flush=True,
        )
        server.serve_forever()
    except Stop as signalled:
        server.server_close()
        print(f"hello-world: stopped by {signalled}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
