"""Registry credentials, and the two challenges a registry may answer with (Basic, Bearer).

Credentials come from, in order:

1. the environment variable named by `--registry-credentials-env NAME`, holding
   `user:password` (a token as the password works for most registries);
2. the Docker config file, `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`),
   its `auths` entry for the registry (`host[:port]`, with or without `https://`), with a
   base64 `auth` (`user:password`) or `username` and `password`.

Credential helpers (`credsStore`, `credHelpers`) are not run: when one is configured for the
registry and no inline entry exists, a refused request says so and names the option to use.
No credentials: requests go anonymously. Credentials are never printed: `Credentials` hides
them from `repr()`, and no message quotes them.

The Bearer flow (distribution's token authentication): a 401 with `WWW-Authenticate: Bearer
realm="...",service="...",scope="..."` sends the client to `realm?service=..&scope=..`
(with Basic credentials when it has some); the JSON answer's `token` (or `access_token`) is
then sent as `Authorization: Bearer <token>`. The realm must be https (http for loopback),
so credentials never travel in clear text off this machine.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from pipeline.errors import InputError, Location
from pipeline.jsonio import load_json
from pipeline.urls import redact_url
from pipeline.webserver import is_loopback

CONFIG_ENV = "DOCKER_CONFIG"
MAX_CONFIG_BYTES = 1024 * 1024
MAX_TOKEN_BYTES = 64 * 1024
_CHALLENGE_PARAM = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')


@dataclass(frozen=True)
class Credentials:
    """A user name and a password (or token); neither is ever shown."""

    username: str = field(repr=False)
    password: str = field(repr=False)
    source: str
    """Where they came from, safe to print (`$NAME`, `/home/me/.docker/config.json`)."""

    def basic(self) -> str:
        """The `Authorization` header value for HTTP Basic."""
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True)
class CredentialLookup:
    """What was found for one registry: credentials, or the helper configured instead."""

    credentials: Credentials | None
    helper: str | None = None
    """A credential helper configured for the registry (not run; said in refusals)."""

    def refusal_hint(self) -> str:
        """What to do when the registry refuses these credentials (or their absence)."""
        if self.credentials is not None:
            return (
                f"the registry refused the credentials from {self.credentials.source}:"
                " check the user name and password (they are not shown)"
            )
        if self.helper is not None:
            return (
                f"the Docker config names the credential helper {self.helper!r}, which is"
                " not run: put user:password in an environment variable and pass"
                " --registry-credentials-env NAME"
            )
        return (
            "the registry wants credentials: pass --registry-credentials-env NAME (user:password"
            " in $NAME) or log in so $DOCKER_CONFIG/config.json has an auths entry"
        )


def lookup_credentials(
    authority: str,
    *,
    env_name: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> CredentialLookup:
    """The credentials for registry `authority` (`host[:port]`), see the module docstring."""
    environ = os.environ if environ is None else environ
    if env_name:
        return CredentialLookup(_from_environment(env_name, environ))
    return _from_docker_config(authority, _config_path(environ))


def _from_environment(name: str, environ: Mapping[str, str]) -> Credentials:
    value = environ.get(name)
    if not value:
        raise InputError(
            f"the environment variable {name} (--registry-credentials-env) is not set",
            hint=f"set {name} to user:password",
        )
    username, colon, password = value.partition(":")
    if not colon or not username:
        raise InputError(
            f"the environment variable {name} does not hold user:password",
            hint="its value is not shown; write it as user:password",
        )
    return Credentials(username, password, f"${name}")


def _config_path(environ: Mapping[str, str]) -> Path:
    folder = environ.get(CONFIG_ENV)
    return (Path(folder) if folder else Path.home() / ".docker") / "config.json"


def _from_docker_config(authority: str, path: Path) -> CredentialLookup:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        return CredentialLookup(None)
    except OSError as error:
        raise InputError(f"cannot read the Docker config {path}: {error.strerror}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise InputError(f"the Docker config {path} is larger than {MAX_CONFIG_BYTES:,} bytes")
    try:  # the one bounded JSON reader (size, depth, constants)
        config = load_json(raw, str(path), max_bytes=MAX_CONFIG_BYTES, what="Docker config")
    except InputError as error:
        raise InputError(
            f"the Docker config {path} is not JSON: {error.message}",
            location=error.location or Location(str(path)),
        ) from None
    if not isinstance(config, dict):
        raise InputError(f"the Docker config {path} is not a JSON object")
    auths, helpers = _section(config, "auths", path), _section(config, "credHelpers", path)
    entry = next(
        (value for key, value in auths.items() if _config_key(key) == authority.lower()), None
    )
    if isinstance(entry, dict) and (entry.get("auth") or entry.get("username")):
        return CredentialLookup(_entry_credentials(entry, path, authority))
    helper = next(
        (str(value) for key, value in helpers.items() if _config_key(key) == authority.lower()),
        config.get("credsStore"),
    )
    return CredentialLookup(None, helper=str(helper) if helper else None)


def _section(config: Mapping[str, object], name: str, path: Path) -> Mapping[str, object]:
    """The object `name` of the Docker config ({} when absent); InputError if not an object."""
    section = config.get(name) or {}
    if not isinstance(section, dict):
        raise InputError(
            f"the Docker config {path}: {name!r} is not a JSON object",
            location=Location(str(path)),
            hint='write it as {"registry:port": {...}}',
        )
    return section


def _config_key(key: str) -> str:
    """`https://host:port/v1/` -> `host:port` (how the config file may spell a registry)."""
    text = key.strip().lower()
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text)
    return text.split("/", 1)[0]


def _entry_credentials(entry: Mapping[str, object], path: Path, authority: str) -> Credentials:
    where = f"{path} (auths entry for {authority})"
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise InputError(
                f"{where}: 'auth' is not base64 of user:password", location=Location(str(path))
            ) from None
        username, colon, password = decoded.partition(":")
        if not colon or not username:
            raise InputError(
                f"{where}: 'auth' does not hold user:password", location=Location(str(path))
            )
        return Credentials(username, password, str(path))
    name, secret = entry.get("username"), entry.get("password")
    if not isinstance(name, str) or not isinstance(secret, str):
        raise InputError(
            f"{where}: needs 'auth', or 'username' and 'password'", location=Location(str(path))
        )
    return Credentials(name, secret, str(path))


@dataclass(frozen=True)
class Challenge:
    """A parsed `WWW-Authenticate` header: the scheme (lower case) and its parameters."""

    scheme: str
    params: Mapping[str, str]


def parse_challenge(header: str) -> Challenge | None:
    """`Bearer realm="..",service=".."` -> Challenge; None for an empty header."""
    scheme, _, rest = header.strip().partition(" ")
    if not scheme:
        return None
    params = {
        match.group(1).lower(): (
            match.group(2).replace('\\"', '"') if match.group(2) is not None else match.group(3)
        )
        for match in _CHALLENGE_PARAM.finditer(rest)
    }
    return Challenge(scheme.lower(), params)


def fetch_token(
    client: httpx.Client,
    challenge: Challenge,
    scope: str,
    credentials: Credentials | None,
    lookup: CredentialLookup,
) -> str:
    """A bearer token from the challenge's realm for `scope` (InputError when refused)."""
    realm = challenge.params.get("realm", "")
    try:
        url = httpx.URL(realm)
    except httpx.InvalidURL:
        url = httpx.URL("invalid:")
    if not url.host or not (
        url.scheme == "https" or (url.scheme == "http" and is_loopback(url.host))
    ):
        raise InputError(
            f"the registry sends for tokens to {redact_url(realm)}, which is not https",
            hint="a token realm must be https (plain http only on loopback)",
        )
    params = {"scope": challenge.params.get("scope") or scope}
    if challenge.params.get("service"):
        params["service"] = challenge.params["service"]
    headers = {"Authorization": credentials.basic()} if credentials is not None else {}
    try:
        with client.stream("GET", url, params=params, headers=headers) as response:
            status = response.status_code
            raw = read_capped(response, MAX_TOKEN_BYTES) if status == 200 else None
    except httpx.TransportError as error:
        raise InputError(
            f"cannot reach the token service {redact_url(realm)}: {type(error).__name__}",
            hint="check that the registry's token service runs and is reachable",
        ) from None
    if status in (401, 403):
        raise InputError(
            f"the token service {redact_url(realm)} refused access (HTTP {status})",
            hint=lookup.refusal_hint(),
        )
    if raw is None:
        raise InputError(
            f"the token service {redact_url(realm)} answered HTTP {status}"
            + (f" with more than {MAX_TOKEN_BYTES:,} bytes" if status == 200 else ""),
            hint="check the registry's token service",
        )
    try:
        body = load_json(raw, redact_url(realm), max_bytes=MAX_TOKEN_BYTES, what="token answer")
        token = body.get("token") or body.get("access_token")
    except (InputError, AttributeError):
        token = None
    if not isinstance(token, str) or not token:
        raise InputError(f"the token service {redact_url(realm)} sent no token")
    return token


def read_capped(response: httpx.Response, limit: int) -> bytes | None:
    """A streamed answer's body, read no further than `limit` bytes (None: it is longer)."""
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)
