"""The console's HTTP face (Starlette): every registered view as HTML or JSON, and /static/.

One home for content negotiation (`wants_json`): a view's URL answers JSON when it ends in
`.json` or the request's Accept header prefers application/json, else the HTML page. Every
answer, errors included, carries the security headers of `SECURITY_HEADERS` (a CSP that
allows no inline script or style). Errors answer 400 (bad parameter), 404 (nothing there)
or 500, as JSON or a small page, never a traceback.

Who may read and act: `auth.Gate` identifies every request (off loopback it lets no
anonymous read), the actions (`actions.py`, registered by `registered_actions`) check
role and CSRF; refusals answer 401/403/409/429 (a browser without a login is sent to
/login). Only the Host names of `ConsoleSettings.allowed_hosts` and loopback's are
answered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline import __version__
from pipeline.errors import InputError
from pipeline.gitrepo import GitRepo
from pipeline.policy.release_approvals import release_origins
from pipeline.promotion.audit_index import AuditIndex
from pipeline.web import (
    audit,
    canary,
    evidence,
    imports,
    local,
    market,
    market_report,
    matrix,
    release,
)
from pipeline.web.auth import Auth, Gate, RefusedError, current_identity, login_url
from pipeline.web.views import Action, Data, NotFoundError, Params, Source, View

HERE = Path(__file__).parent
STATIC = HERE / "static"
HTMX = "htmx-2.0.11.min.js"
"""The vendored htmx (static/README.md: where it came from, its sha256)."""
STATIC_FILES = {
    HTMX: "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "site-audit-filter.js": "text/javascript; charset=utf-8",  # the static site's (site.py)
    "market-search.js": "text/javascript; charset=utf-8",  # the catalog's search (market.py)
}
"""Everything /static/ serves: a fixed list, so no path ever reaches the file system."""
STATIC_CACHE = "public, max-age=31536000, immutable"
"""For a file whose name carries its version (htmx): it never changes at that URL."""
UNVERSIONED_CACHE = "no-cache"
"""For our own stylesheet, which changes with the console: always revalidated."""

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}

VIEWS: list[View] = [
    *matrix.VIEWS,
    *release.VIEWS,
    *evidence.VIEWS,
    *canary.VIEWS,
    *audit.VIEWS,
    *local.VIEWS,
    *imports.VIEWS,
    *market_report.VIEWS,  # /market/report before /market/{plugin}
    *market.VIEWS,
]
"""Every view the console serves, in the order the index lists them."""

log = logging.getLogger(__name__)


def wants_json(request: Request) -> bool:
    """True when the URL ends in .json, or Accept ranks application/json above text/html."""
    if request.url.path.endswith(".json"):
        return True
    ranks = {"application/json": 0.0, "text/html": 0.0}
    for part in request.headers.get("accept", "").split(","):
        kind, *options = (piece.strip() for piece in part.split(";"))
        if kind.lower() in ranks:
            quality = 1.0
            for option in options:
                name, _, value = option.partition("=")
                if name.strip() == "q":
                    try:
                        quality = float(value)
                    except ValueError:
                        quality = 0.0
            ranks[kind.lower()] = max(ranks[kind.lower()], quality)
    return ranks["application/json"] > 0 and ranks["application/json"] >= ranks["text/html"]


class SecurityHeaders:
    """ASGI wrapper adding `SECURITY_HEADERS` to every HTTP answer (error pages too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [
                    (name.encode(), value.encode())
                    for name, value in SECURITY_HEADERS.items()
                    if name.encode() not in present
                ]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
"""The Host headers the console always answers (with `ConsoleSettings.allowed_hosts`)."""


# --- who may do what (pipeline/web/auth.py, actions.py, repo_actions.py) -----------------


def registered_actions() -> list[Action]:
    """Every action the console offers: the repo's, and the local host's where present."""
    from pipeline.web import repo_actions

    actions = list(repo_actions.ACTIONS)
    try:
        from pipeline.web import local_actions  # type: ignore[attr-defined,unused-ignore]
    except ImportError:  # pragma: no cover - the local host's actions are optional
        return actions
    return [*actions, *local_actions.ACTIONS]


@dataclass(frozen=True)
class ConsoleSettings:
    """How `powerx serve` runs the console: who may reach it and what actions may touch."""

    loopback: bool = True
    """Listening on loopback only: reading needs no login."""
    allowed_hosts: tuple[str, ...] = ()
    """Host names (besides loopback's) the console answers to (`--allowed-host`)."""
    tokens: Path | None = None
    """The token file (None: its default place)."""
    proxy_header: str | None = None
    """The trusted reverse proxy's user header (`--trust-proxy-header`)."""
    install_roots: tuple[Path, ...] = ()
    approval_keys: Mapping[str, object] = field(default_factory=dict)


# -------------------------------------------------------------------------------------------


class Console:
    """The console of one release repo: its templates, its views, its error answers."""

    def __init__(
        self,
        repo_dir: Path,
        store_dir: Path | None = None,
        settings: ConsoleSettings | None = None,
        *,
        index_in_background: bool = True,
    ) -> None:
        from pipeline.web.tokens import TokenStore, default_tokens_path

        self.repo_dir = repo_dir
        self.store_dir = store_dir
        self.settings = settings or ConsoleSettings()
        tokens = TokenStore(self.settings.tokens or default_tokens_path())
        self.auth = Auth(
            tokens, loopback=self.settings.loopback, proxy_header=self.settings.proxy_header
        )
        self.git = GitRepo(repo_dir)  # a bad --repo is refused now, not on the first request
        # a server answers from the commits until its first index is built; a site build
        # (index_in_background=False) builds it at its first use and then reads it
        self.audit = AuditIndex(self.git, persist=True, background=index_in_background)
        if index_in_background:  # release pages ask which commit added each release manifest
            self._read_release_origins()
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )

    def _read_release_origins(self) -> None:
        """Start reading the history into the release origin index, so that a server's
        first view of each release is cheap (an empty repo has nothing to read)."""
        try:
            head = self.git.resolve("HEAD")
        except InputError:
            return
        release_origins(self.git).read_all_in_background(head)

    def source(self) -> Source:
        """The repo read at its head now (a new commit shows on the next request).

        One GitRepo for the console's life: its parse caches are keyed by blob id, so they
        stay right across new heads and make every later request cheaper.
        """
        settings = self.settings
        return Source(
            self.git,
            self.git.resolve("HEAD"),
            self.store_dir,
            audit=self.audit,
            install_roots=settings.install_roots,
            approval_keys=settings.approval_keys,
        )

    def page(self, template: str, data: Data, *, status: int = 200) -> HTMLResponse:
        user = current_identity.get()
        context = {
            "data": data,
            "version": __version__,
            "views": VIEWS,
            "htmx": HTMX,
            "user": user,
            "csrf": self.auth.csrf_token(user),
        }
        html = self.templates.get_template(template).render(context)
        return HTMLResponse(html, status_code=status, headers={"vary": "Accept"})

    def answer(self, request: Request, template: str, data: Data) -> Response:
        if wants_json(request):
            return JSONResponse(data, headers={"vary": "Accept"})
        return self.page(template, data)

    def error(self, request: Request, status: int, error: str, message: str, hint: str) -> Response:
        data = {"error": error, "message": message, "hint": hint}
        if wants_json(request):
            return JSONResponse(data, status_code=status, headers={"vary": "Accept"})
        return self.page("error.html", {**data, "status": status}, status=status)

    def endpoint(self, view: View) -> Callable[[Request], Any]:
        async def run(request: Request) -> Response:
            params = Params({**request.query_params, **request.path_params})
            data = await run_in_threadpool(lambda: view.data(self.source(), params))
            return self.answer(request, view.template, data)

        return run

    async def index(self, request: Request) -> Response:
        def data() -> Data:
            source = self.source()
            head = source.head
            return {
                "repo": str(source.git.root),
                "head": {"commit": head.id, "summary": head.message.strip().split("\n")[0]},
                "views": [
                    {"name": v.name, "title": v.title, "url": v.url} for v in VIEWS if v.listed
                ],
            }

        return self.answer(request, "index.html", await run_in_threadpool(data))

    async def csv(self, request: Request) -> Response:
        params = Params(request.query_params)
        lines: Iterator[str] = await run_in_threadpool(
            lambda: audit.audit_csv(self.source(), params)
        )
        return StreamingResponse(
            iterate_in_threadpool(lines),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": 'attachment; filename="audit.csv"'},
        )

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC_FILES:
            raise NotFoundError(f"there is no static file {name!r}", hint="see /static/README.md")
        return Response(
            (STATIC / name).read_bytes(),
            media_type=STATIC_FILES[name],
            headers={"cache-control": STATIC_CACHE if name == HTMX else UNVERSIONED_CACHE},
        )

    async def on_input_error(self, request: Request, error: Exception) -> Response:
        assert isinstance(error, InputError)
        if isinstance(error, RefusedError):
            return await self.refuse(request, error)
        if isinstance(error, NotFoundError):
            return self.error(request, 404, "not found", error.message, error.hint or "")
        return self.error(request, 400, "bad request", error.message, error.hint or "")

    async def on_http_error(self, request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        if error.status_code == 404:
            hint = "start at / for the list of views"
            message = f"there is no page {request.url.path}"
            return self.error(request, 404, "not found", message, hint)
        return self.error(request, error.status_code, "refused", str(error.detail), "")

    async def refuse(self, request: Request, refusal: RefusedError) -> Response:
        """A 401/403/409/429; a browser without a login is sent to /login instead."""
        browser = not wants_json(request) and "authorization" not in request.headers
        if refusal.status == 401 and browser and request.method in ("GET", "HEAD"):
            return RedirectResponse(login_url(request), status_code=303)
        label = REFUSALS.get(refusal.status, "refused")
        return self.error(request, refusal.status, label, refusal.message, refusal.hint or "")

    async def on_bug(self, request: Request, error: Exception) -> Response:
        log.exception("the console failed on %s", request.url.path)
        message = "the console failed to answer this request (a bug: the server log has it)"
        return self.error(request, 500, "internal error", message, "")


REFUSALS = {401: "unauthorized", 403: "forbidden", 409: "conflict", 429: "too many requests"}


def create_app(
    repo_dir: Path, store_dir: Path | None = None, settings: ConsoleSettings | None = None
) -> ASGIApp:
    """The console of the release repo at `repo_dir` (InputError when it is not one), and of
    the local host's plugin store at `store_dir`."""
    from pipeline.web.actions import Actions

    console = Console(repo_dir, store_dir, settings)
    routes = [
        Route("/", console.index, methods=["GET", "HEAD"]),
        Route("/index.json", console.index, methods=["GET", "HEAD"]),
        Route("/audit.csv", console.csv, methods=["GET", "HEAD"]),
        Route("/static/{name}", console.static, methods=["GET", "HEAD"]),
    ]
    for view in VIEWS:  # the .json spelling first: /audit/{commit} would match it too
        routes.append(Route(f"{view.url}.json", console.endpoint(view), methods=["GET", "HEAD"]))
        routes.append(Route(view.url, console.endpoint(view), methods=["GET", "HEAD"]))
    routes += Actions(console, registered_actions()).routes()
    app = Starlette(
        routes=routes,
        exception_handlers={
            InputError: console.on_input_error,
            HTTPException: console.on_http_error,
            Exception: console.on_bug,
        },
    )
    # only our names: a page that rebinds its own domain to 127.0.0.1 gets 400
    hosts = [*LOOPBACK_HOSTS, *console.settings.allowed_hosts]
    gate = Gate(app, console.auth, console.refuse)
    trusted = TrustedHostMiddleware(gate, allowed_hosts=hosts)
    return SecurityHeaders(trusted)
