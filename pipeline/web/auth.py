"""Who is asking: tokens, login sessions, a trusted proxy header; CSRF and login limits.

An identity comes from (first match): the trusted reverse-proxy header (only when
`powerx serve --trust-proxy-header NAME` names it), `Authorization: Bearer <token>`, or
the session cookie a browser got at /login. Sessions are random ids kept in memory with
an expiry (a restart logs everyone out); a session made from a token ends when the token
is revoked or expires. Reading needs no identity only while the console listens on
loopback; every action needs one (`Gate`, `require_identity`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from pipeline.errors import InputError
from pipeline.web.tokens import TokenStore, now_utc

SESSION_COOKIE = "powerx_session"
SESSION_SECONDS = 12 * 3600.0
LOGIN_FAILURES = 10
"""Failed logins allowed per client address within LOGIN_WINDOW seconds."""
LOGIN_WINDOW = 600.0
IDENTITY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
"""What a user name from a proxy header may look like (it becomes a commit trailer)."""
PUBLIC_PATHS = ("/login", "/logout", "/static/")
"""Answered without an identity even off loopback (logging in must be possible)."""
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


class RefusedError(InputError):
    """A request refused with an HTTP status: 401, 403, 409 or 429."""

    def __init__(self, status: int, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


@dataclass(frozen=True)
class Identity:
    """An authenticated user, and how they proved it."""

    login: str
    via: Literal["token", "session", "proxy"]
    session: str | None = None
    """The session key (a session's id hash, or the proxy user): what the CSRF token binds."""


current_identity: ContextVar[Identity | None] = ContextVar("current_identity", default=None)
"""The identity of the request being answered (set by `Gate`), for pages to show."""


@dataclass
class Session:
    """A browser's login: who, from which token, until when."""

    login: str
    token_id: str
    expires: float


@dataclass
class LoginLimiter:
    """Counts failed logins per client address; too many within the window: refused."""

    failures: dict[str, deque[float]] = field(default_factory=dict)

    def check(self, client: str) -> None:
        """RefusedError (429) while `client` has too many recent failures."""
        recent = self._recent(client)
        if len(recent) >= LOGIN_FAILURES:
            wait = int(LOGIN_WINDOW - (time.monotonic() - recent[0])) + 1
            raise RefusedError(
                429,
                f"too many failed logins from {client}",
                hint=f"try again in {wait} s",
            )

    def fail(self, client: str) -> None:
        self._recent(client).append(time.monotonic())

    def _recent(self, client: str) -> deque[float]:
        recent = self.failures.setdefault(client, deque())
        while recent and time.monotonic() - recent[0] > LOGIN_WINDOW:
            recent.popleft()
        return recent


class Auth:
    """The console's identities: its token file, its sessions, the trusted proxy header."""

    def __init__(
        self, tokens: TokenStore, *, loopback: bool, proxy_header: str | None = None
    ) -> None:
        self.tokens = tokens
        self.loopback = loopback
        self.proxy_header = proxy_header.lower() if proxy_header else None
        self.secure_cookies = not loopback
        """Off loopback the console is reached through TLS (a reverse proxy): Secure."""
        self.sessions: dict[str, Session] = {}
        self.limiter = LoginLimiter()
        self._secret = secrets.token_bytes(32)

    def identify(self, request: Request) -> Identity | None:
        """Who sent `request` (None: nobody); RefusedError (401) for a bad token or header."""
        if self.proxy_header is not None:
            user = request.headers.get(self.proxy_header)
            if user is not None:
                if not IDENTITY_PATTERN.match(user):
                    raise RefusedError(
                        401, f"the {self.proxy_header} header holds no valid user name"
                    )
                return Identity(user, "proxy", session=f"proxy:{user}")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            record = self.tokens.find(token.strip())
            if record is None:
                raise RefusedError(
                    401,
                    "the bearer token is not valid (unknown or revoked)",
                    hint="create one with `powerx console token create --as LOGIN`",
                )
            if record.expired(now_utc()):
                raise RefusedError(
                    401,
                    "the bearer token has expired",
                    hint="create a new one with `powerx console token create --as LOGIN`",
                )
            return Identity(record.login, "token")
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id:
            key = self._session_key(session_id)
            session = self.sessions.get(key)
            if session is not None:
                if session.expires > time.time() and self.tokens.valid(session.token_id, now_utc()):
                    return Identity(session.login, "session", session=key)
                del self.sessions[key]
        return None

    def login(self, token: str, client: str) -> tuple[str, str]:
        """Check a token from the login form: (login, new session id); RefusedError if bad."""
        self.limiter.check(client)
        record = self.tokens.find(token.strip())
        if record is None or record.expired(now_utc()):
            self.limiter.fail(client)
            raise RefusedError(
                401,
                "that token is not valid (unknown, revoked or expired)",
                hint="ask for a token made with `powerx console token create --as LOGIN`",
            )
        session_id = secrets.token_urlsafe(32)
        self.sessions[self._session_key(session_id)] = Session(
            record.login, record.id, time.time() + SESSION_SECONDS
        )
        return record.login, session_id

    def logout(self, identity: Identity) -> None:
        if identity.via == "session" and identity.session is not None:
            self.sessions.pop(identity.session, None)

    def session_cookie(self, response: Response, session_id: str) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            session_id,
            max_age=int(SESSION_SECONDS),
            path="/",
            httponly=True,
            samesite="strict",
            secure=self.secure_cookies,
        )

    def csrf_token(self, identity: Identity | None) -> str:
        """The CSRF token of `identity`'s session ('' without one: bearer clients need none)."""
        if identity is None or identity.session is None:
            return ""
        return hmac.new(self._secret, identity.session.encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, request: Request, identity: Identity, submitted: str | None) -> None:
        """RefusedError (403) unless a browser's request carries its session's CSRF token."""
        if identity.via == "token":
            return  # a bearer header is never sent by a browser on its own
        expected = self.csrf_token(identity)
        given = submitted or request.headers.get(CSRF_HEADER) or ""
        if not given or not hmac.compare_digest(expected, given):
            raise RefusedError(
                403,
                "the form's CSRF token is missing or wrong",
                hint="open the page again and resend the form from it",
            )

    @staticmethod
    def _session_key(session_id: str) -> str:
        return hashlib.sha256(session_id.encode()).hexdigest()


def check_origin(request: Request, hosts: tuple[str, ...] = ()) -> None:
    """RefusedError (403) for a state-changing request another site's page sent: its
    Origin must be this request's Host, or one of `hosts` (`--allowed-host`: a reverse
    proxy may pass another Host on)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise RefusedError(403, f"refused a cross-site request (Sec-Fetch-Site: {site})")
    origin = request.headers.get("origin")
    if origin is None:
        return
    if origin == "null" and site == "same-origin":
        return  # a same-origin form post under Referrer-Policy: no-referrer (the browser vouches)
    parts = urlsplit(origin)
    if parts.netloc != request.headers.get("host") and parts.hostname not in hosts:
        raise RefusedError(403, "refused a request from another origin")


def require_identity(identity: Identity | None) -> Identity:
    """`identity`, or RefusedError (401) when nobody is logged in."""
    if identity is None:
        raise RefusedError(
            401,
            "this needs a login",
            hint="log in at /login, or send Authorization: Bearer <token>",
        )
    return identity


def local_path(target: str | None) -> str:
    """`target` when it is a path of this console (no scheme, no host), else /."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target or any(ord(c) < 32 for c in target):
        return "/"
    return target


def login_url(request: Request) -> str:
    """/login, asked to come back to the page `request` was for."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?next=" + quote(local_path(here), safe="")


Refuse = Callable[[Request, RefusedError], Awaitable[Response]]


class Gate:
    """ASGI wrapper: identifies each request and, off loopback, lets no anonymous read."""

    def __init__(self, app: ASGIApp, auth: Auth, refuse: Refuse) -> None:
        self.app = app
        self.auth = auth
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            identity = self.auth.identify(request)
            public = request.url.path.startswith(PUBLIC_PATHS)
            if identity is None and not self.auth.loopback and not public:
                raise RefusedError(
                    401,
                    "this console needs a login (it listens beyond this machine)",
                    hint="log in at /login, or send Authorization: Bearer <token>",
                )
        except RefusedError as refusal:
            answer = await self.refuse(request, refusal)
            await answer(scope, receive, send)
            return
        marker = current_identity.set(identity)
        try:
            await self.app(scope, receive, send)
        finally:
            current_identity.reset(marker)


MAX_FORM_BYTES = 64 * 1024


async def read_fields(request: Request) -> dict[str, str]:
    """A POST's fields: a URL-encoded form or a JSON object of strings (InputError else)."""
    import json
    from urllib.parse import parse_qsl

    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise InputError(f"the request body is larger than {MAX_FORM_BYTES} bytes")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            raise InputError("the request body is not JSON") from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise InputError("the JSON body must be an object of strings")
        return {str(k): v for k, v in data.items()}
    if kind in ("application/x-www-form-urlencoded", ""):
        try:
            return dict(parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False))
        except UnicodeDecodeError:
            raise InputError("the form is not UTF-8") from None
    raise InputError(f"cannot read a {kind} body", hint="send a form (urlencoded) or a JSON object")
