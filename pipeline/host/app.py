"""The host's HTTP face (Starlette): the plugin proxy, the host API, and its own status.

- `/t/<tenant>/p/<plugin>/<path>`: reverse-proxied to that plugin's live instance on
  loopback, with `X-Forwarded-Prefix: /t/<tenant>/p/<plugin>` (so the plugin can build
  links) and `X-PowerX-Revision` on the answer (which build served it).
- `/v1/...`: the host API. The caller is the instance its bearer token was given to; each
  route needs one permission (`permissions.ROUTES`) that the tenant must have granted to that
  plugin, else 403 with a JSON body naming the permission and the grant command. Every call
  is recorded for the permission template.
- `/` (HTML) and `/_powerx/status` (JSON): what runs where, which revision, and why not.
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from pipeline.errors import InputError, PowerXError
from pipeline.host.host import Host
from pipeline.host.instance import Instance
from pipeline.host.permissions import authorize
from pipeline.host.tenants import MAX_DATA_BYTES
from pipeline.names import did_you_mean

MAX_BODY_BYTES = 10 * 1024 * 1024
"""Largest request body the proxy forwards to a plugin."""

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


OWN_HEADERS = frozenset({"date", "server"})
"""Headers the host's own server sets on every answer (not copied from the plugin's)."""


def _error(status: int, error: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": error, "message": message, **extra}, status_code=status)


def _unknown(kind: str, name: str, known: list[str]) -> JSONResponse:
    guess = did_you_mean(name, known)
    message = f"there is no {kind} {name!r} on this host" + (
        f": did you mean {guess!r}?" if guess else ""
    )
    return _error(404, f"unknown {kind}", message, known=known)


def create_app(host: Host) -> Starlette:
    """The Starlette app serving `host`."""
    client = httpx.AsyncClient(
        trust_env=False,
        timeout=httpx.Timeout(60.0, connect=5.0),
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
    )

    async def proxy(request: Request) -> Response:
        tenant = request.path_params["tenant"]
        plugin = request.path_params["plugin"]
        if tenant not in host.tenants:
            return _unknown("tenant", tenant, sorted(host.tenants))
        slot = host.slots.get((tenant, plugin))
        if slot is None:
            served = sorted(p for t, p in host.slots if t == tenant)
            return _unknown("plugin", plugin, served)
        live = slot.serving
        if live is None:
            view = slot.view()
            return _error(
                503,
                f"plugin {view.state}",
                f"{plugin} is not serving for {tenant} ({view.state}): {view.detail}",
                state=view.state,
            )
        live.begin_request()  # before any await: a swap now waits for this answer
        answer: Response | None = None
        try:
            answer = await _forward(request, live, tenant, plugin)
        finally:
            if not isinstance(answer, _Relayed):  # a relayed answer ends it when sent
                live.end_request()
        return answer

    async def _forward(request: Request, live: Instance, tenant: str, plugin: str) -> Response:
        """Relay `request` to `live`: its answer, or why there is none."""
        body = await _bounded_body(request, MAX_BODY_BYTES)  # never more in memory
        if body is None:
            return _error(413, "too large", f"a request body may hold {MAX_BODY_BYTES} bytes")
        prefix = f"/t/{tenant}/p/{plugin}"
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
        headers += [
            ("x-forwarded-prefix", prefix),
            ("x-forwarded-host", request.headers.get("host", "")),
            ("x-forwarded-proto", request.url.scheme),
        ]
        # The path goes on as the client sent it, still percent-encoded ('%2F' stays one
        # segment; Starlette's {path} would also drop a trailing '%0A'), and '?' only with
        # a query (httpx.URL(query=b"") would send 'path?').
        raw: bytes = request.scope.get("raw_path") or b""
        if raw.startswith(prefix.encode() + b"/"):
            rest = raw[len(prefix) :]
        else:  # the prefix itself was percent-encoded: encode the decoded rest again
            rest = quote(request.scope["path"][len(prefix) :]).encode()
        query = request.url.query.encode()
        url = httpx.URL(
            scheme="http",
            host="127.0.0.1",
            port=live.port,
            raw_path=rest + (b"?" + query if query else b""),
        )
        upstream = client.build_request(request.method, url, headers=headers, content=body)
        try:
            answer = await client.send(upstream, stream=True)
        except httpx.HTTPError as error:
            return _error(502, "bad gateway", f"{plugin} did not answer: {type(error).__name__}")
        out_headers = {
            k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP | OWN_HEADERS
        }
        out_headers["x-powerx-revision"] = live.version.revision
        return _Relayed(answer, live, out_headers)

    async def to_slash(request: Request) -> Response:
        return RedirectResponse(f"{request.url.path}/", status_code=307)

    async def host_api(request: Request, call: tuple[str, str]) -> tuple[Any, Response | None]:
        """The caller's identity, or the answer refusing it."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        identity = host.identify(token.strip()) if scheme.lower() == "bearer" else None
        if identity is None:
            return None, _error(
                401, "unauthorized", "send the instance's POWERX_TOKEN as 'Authorization: Bearer'"
            )
        settings = host.tenant_store.load(identity.tenant)
        refusal = authorize(
            call,
            plugin=identity.plugin,
            tenant=identity.tenant,
            granted=settings.granted(identity.plugin),
            declared=identity.instance.version.declared,
            store=host.store.root,
        )
        host.recorder.record(identity.plugin, identity.tenant, call, allowed=refusal is None)
        if refusal is not None:
            host.say(f"! refused: {refusal.message}")
            return identity, JSONResponse(refusal.body(), status_code=403)
        return identity, None

    async def tenant_info(request: Request) -> Response:
        identity, refused = await host_api(request, ("GET", "/v1/tenant"))
        if refused is not None:
            return refused
        settings = host.tenant_store.load(identity.tenant)
        return JSONResponse({"name": settings.name, "displayName": settings.title})

    async def tenant_data(request: Request) -> Response:
        reading = request.method in ("GET", "HEAD")
        route = ("GET" if reading else "PUT", "/v1/tenant/data/{key}")
        identity, refused = await host_api(request, route)
        if refused is not None:
            return refused
        key = request.path_params["key"]
        try:
            if reading:
                value = host.tenant_store.read_data(identity.tenant, identity.plugin, key)
                if value is None:
                    return _error(404, "not found", f"no data under {key!r}")
                return Response(value, media_type="application/octet-stream")
            body = await _bounded_body(request, MAX_DATA_BYTES)
            if body is None:
                return _error(413, "too large", f"a value may hold {MAX_DATA_BYTES} bytes")
            host.tenant_store.write_data(identity.tenant, identity.plugin, key, body)
        except InputError as error:
            return _error(400, "bad request", error.message)
        return Response(status_code=204)

    async def secret(request: Request) -> Response:
        identity, refused = await host_api(request, ("GET", "/v1/secrets/{name}"))
        if refused is not None:
            return refused
        name = request.path_params["name"]
        try:
            value = host.tenant_store.read_secret(identity.tenant, identity.plugin, name)
        except InputError as error:
            return _error(500, "secrets unreadable", error.message)
        if value is None:
            return _error(404, "not found", f"no secret {name!r} is set for {identity.plugin}")
        return PlainTextResponse(value)

    async def status(request: Request) -> Response:
        return JSONResponse(status_data(host))

    async def index(request: Request) -> Response:
        return HTMLResponse(index_page(host))

    routes = [
        Route("/", index),
        Route("/_powerx/status", status),
        Route("/v1/tenant", tenant_info),
        Route("/v1/tenant/data/{key}", tenant_data, methods=["GET", "PUT"]),
        Route("/v1/secrets/{name}", secret),
        Route("/t/{tenant}/p/{plugin}", to_slash, methods=_METHODS),
        Route("/t/{tenant}/p/{plugin}/{path:path}", proxy, methods=_METHODS),
    ]

    async def own_error(request: Request, error: Exception) -> Response:
        """A file of the store the host reads per request (tenant.yaml) is broken."""
        assert isinstance(error, PowerXError)
        host.say(f"! {request.method} {request.url.path}: {error.diagnostics()}")
        return _error(500, "host files", error.diagnostics())

    app = Starlette(routes=routes, exception_handlers={PowerXError: own_error})
    app.state.client = client  # closed by whoever serves the app (server.serving)
    return app


_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class _Relayed(StreamingResponse):
    """A plugin's answer streamed to the client; sent or not, it ends the request."""

    def __init__(self, answer: httpx.Response, live: Instance, headers: dict[str, str]) -> None:
        super().__init__(_relay(answer), status_code=answer.status_code, headers=headers)
        self.answer = answer
        self.live = live

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            try:
                await self.answer.aclose()
            finally:
                self.live.end_request()


async def _relay(answer: httpx.Response) -> AsyncIterator[bytes]:
    async for chunk in answer.aiter_raw():
        yield chunk


async def _bounded_body(request: Request, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def status_data(host: Host) -> dict[str, Any]:
    """What the host runs: per tenant and plugin, state, revision and why."""
    slots = sorted(host.slots.values(), key=lambda s: (s.tenant, s.plugin))
    return {
        "store": str(host.store.root),
        "tenants": host.tenants,
        "plugins": [
            {
                "tenant": v.tenant,
                "plugin": v.plugin,
                "state": v.state,
                "version": v.version,
                "revision": v.revision,
                "restarts": v.restarts,
                "detail": v.detail,
                "url": f"/t/{v.tenant}/p/{v.plugin}/",
                "port": v.port,
            }
            for v in (slot.view() for slot in slots)
        ],
    }


def index_page(host: Host) -> str:
    """A plain HTML page listing every tenant's plugins and what each one runs."""
    rows = []
    for item in status_data(host)["plugins"]:
        link = html.escape(item["url"])
        detail = html.escape(item["detail"] or "")
        rows.append(
            "<tr>"
            f"<td>{html.escape(item['tenant'])}</td>"
            f"<td><a href='{link}'>{html.escape(item['plugin'])}</a></td>"
            f"<td class='{item['state']}'>{item['state']}</td>"
            f"<td>{html.escape(item['revision'] or '-')}</td>"
            f"<td><pre>{detail}</pre></td>"
            "</tr>"
        )
    body = "\n".join(rows) or "<tr><td colspan='5'>no plugin is active in this store</td></tr>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>PowerX local host</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.3em .8em;text-align:left}}
.running{{color:green}}.failed,.refused{{color:#b00}}pre{{margin:0;white-space:pre-wrap}}</style>
</head><body><h1>PowerX local host</h1>
<p>Store: <code>{html.escape(str(host.store.root))}</code></p>
<table><tr><th>tenant</th><th>plugin</th><th>state</th><th>revision</th><th>detail</th></tr>
{body}
</table></body></html>
"""
