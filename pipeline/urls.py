"""The one home of the rule for credentials inside configured URLs.

A URL we are configured with (the GitHub API base URL, webhook URLs, artifact store URLs,
the Prometheus URL) must not carry credentials: user info (`user:secret@host`) is refused
everywhere, and so is a query parameter whose name says it holds a secret (`?token=`,
`?api_key=`, `?X-Amz-Signature=`, ...) where the URL is a base that we add paths to.
Secrets belong in the environment variables each command names.

Whatever we print, raise or `repr()` shows a URL through `redact_url`, which never keeps
user info, query or fragment in any encoding, and for webhooks (whose secret is usually
the path) not the path either. Refusals never echo the URL they refuse.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlsplit

from pipeline.errors import InputError

_SECRET_NAME = re.compile(
    r"token|secret|passw|pwd|key|sig|auth|credential|session|code", re.IGNORECASE
)


def redact_url(url: object, *, keep_path: bool = True) -> str:
    """`scheme://host[:port][/path]`: safe to print (no user info, query or fragment).

    With `keep_path=False` the path is shown as `/…` (webhook URLs hide their secret there).
    Anything that does not parse prints as `<invalid URL>`, never as itself.
    """
    try:
        parts = urlsplit(str(url).strip())
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<invalid URL>"
    if not parts.scheme or not host or any(c.isspace() or c in "@%\\" for c in host):
        return "<invalid URL>"
    if ":" in host:  # IPv6
        host = f"[{host}]"
    if port is not None:
        host = f"{host}:{port}"
    if keep_path:
        path = parts.path if "@" not in unquote(parts.path) else "/…"
    else:
        path = "/…" if parts.path not in ("", "/") or parts.query else ""
    return f"{parts.scheme}://{host}{path}"


def credential_problem(url: str, *, query_allowed: bool = False) -> str | None:
    """Why `url` carries credentials (user info, or a secret-named query parameter), or None."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None  # not a URL at all: the caller's own check names that
    if "@" in parts.netloc or "@" in unquote(parts.netloc):
        return "it carries user info (user:password@)"
    if not query_allowed:
        for name, _ in parse_qsl(parts.query, keep_blank_values=True):
            if _SECRET_NAME.search(name):
                return f"its query parameter {name!r} looks like a credential"
    return None


def refuse_credentials(
    url: str, what: str, *, hint: str, query_allowed: bool = False, keep_path: bool = True
) -> str:
    """`url` unchanged, or InputError (exit 2) that says why without echoing the secret."""
    problem = credential_problem(url, query_allowed=query_allowed)
    if problem is not None:
        raise InputError(
            f"{what} {redact_url(url, keep_path=keep_path)} is refused: {problem}",
            hint=hint,
        )
    return url
