"""The wire under `GitHubClient`: one REST call, retried, checked and parsed (`RestSession`).

Wire format: GitHub REST API version 2022-11-28 (`X-GitHub-Api-Version`). Every call goes
through `RestSession._request`, which

- retries network failures and 5xx answers with exponential backoff (1 s, 2 s, 4 s, ...);
- retries rate limits (429, or 403 with `x-ratelimit-remaining: 0`, `retry-after` or a
  "rate limit" message) after the wait GitHub asks for (`retry-after` seconds, else until
  `x-ratelimit-reset`, else at least a minute), and gives up at once when that wait is longer
  than `max_wait`, since retrying earlier only prolongs the limit;
- never retries any other 4xx, and turns it into a `GitHubRequestError` naming the endpoint.

The token is sent only in the `Authorization` header to `api_url`'s origin. It never appears
in an error message, a log record or the client's `repr`: every text we build from an answer
or an exception goes through `_scrub` first, and exceptions from httpx are not chained.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, Self, TypeVar

import httpx
from pydantic import ValidationError

from pipeline import __version__
from pipeline.errors import InputError
from pipeline.forge.errors import (
    GitHubAuthError,
    GitHubNotFoundError,
    GitHubRateLimitError,
    GitHubRequestError,
    GitHubUnavailableError,
    GitHubValidationError,
)
from pipeline.jsonio import load_json
from pipeline.urls import refuse_credentials

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
USER_AGENT = f"powerx-release/{__version__}"
PER_PAGE = 100
"""The largest page GitHub serves; fewer round trips."""

REPO_PATTERN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*)/[A-Za-z0-9._-]+$")
REDACTED = "***"
MAX_DETAIL = 500
"""At most this many characters of GitHub's own message go into ours."""
MAX_ANSWER_BYTES = 64 * 1024 * 1024
"""Largest JSON answer from the API we parse (a page of 100 items is far smaller)."""

_log = logging.getLogger("pipeline.forge.github")  # the logger's name since before the split

_T = TypeVar("_T")


class RestSession:
    """A session with GitHub's REST API for one repository: the token, the connection pool,
    and `_request`, `_paginate` and `_parse` for the calls `GitHubClient` makes."""

    def __init__(
        self,
        repo: str,
        token: str,
        *,
        api_url: str = DEFAULT_API_URL,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10,
        retries: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        max_wait: float = 60,
        backoff: float = 1,
    ) -> None:
        self.owner, self.name = _split_repo(repo)
        self.repo = repo
        _check_token(token)
        refuse_credentials(
            api_url,
            "the GitHub API URL",
            hint="give the token in GITHUB_TOKEN, never inside GITHUB_API_URL",
        )
        self.api_url = api_url.rstrip("/")
        self.retries = max(retries, 0)
        self.max_wait = max_wait
        self.backoff = backoff
        self._token = token
        self._sleep = sleep
        self._clock = clock
        self._http = httpx.Client(
            base_url=self.api_url,
            transport=transport,
            timeout=timeout,
            follow_redirects=True,  # httpx drops Authorization on a cross-origin redirect
            headers={
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "Authorization": f"Bearer {token}",
                "User-Agent": USER_AGENT,
            },
        )

    def __repr__(self) -> str:
        return f"GitHubClient(repo={self.repo!r}, api_url={self.api_url!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    # -- plumbing -----------------------------------------------------------------------

    def _repo_path(self, tail: str) -> str:
        return f"/repos/{self.owner}/{self.name}/{tail}"

    def _scrub(self, text: str) -> str:
        """`text` without the token."""
        return text.replace(self._token, REDACTED)

    def _request(
        self,
        method: str,
        url: str,
        permission: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """Send one call, retrying what is worth retrying; raise for any non-2xx answer."""
        endpoint = f"{method} {httpx.URL(url).path}"
        attempt = 0
        while True:
            try:
                response = self._http.request(method, url, params=params, json=json)
            except httpx.TransportError as error:
                detail = self._scrub(str(error) or type(error).__name__)
                if attempt >= self.retries:
                    raise GitHubUnavailableError(
                        f"cannot reach GitHub for {endpoint} after {attempt + 1} attempt(s): "
                        f"{detail}",
                        endpoint=endpoint,
                        hint=f"check the network and the API URL ({self.api_url})",
                    ) from None
                self._wait(self._backoff(attempt), endpoint, detail, attempt)
                attempt += 1
                continue
            delay = self._retry_delay(response, attempt, endpoint)
            if delay is None:
                return self._check(response, endpoint, permission)
            if attempt >= self.retries:
                raise self._gave_up(response, endpoint, attempt + 1)
            self._wait(delay, endpoint, f"{response.status_code}", attempt)
            attempt += 1

    def _wait(self, delay: float, endpoint: str, reason: str, attempt: int) -> None:
        _log.warning(
            "GitHub %s failed (%s); retrying in %.1f s (retry %d of %d)",
            endpoint,
            reason,
            delay,
            attempt + 1,
            self.retries,
        )
        self._sleep(delay)

    def _backoff(self, attempt: int) -> float:
        return float(min(self.backoff * 2**attempt, self.max_wait))

    def _retry_delay(self, response: httpx.Response, attempt: int, endpoint: str) -> float | None:
        """Seconds to wait before trying again, or None when the answer is final."""
        status = response.status_code
        if status >= 500:
            return self._backoff(attempt)
        if status == 429 or (status == 403 and _is_rate_limited(response)):
            return self._rate_limit_delay(response, attempt, endpoint)
        return None

    def _rate_limit_delay(self, response: httpx.Response, attempt: int, endpoint: str) -> float:
        """GitHub's documented wait: `retry-after`, else `x-ratelimit-reset`, else a minute+."""
        headers = response.headers
        retry_after = headers.get("retry-after", "").strip()
        reset = headers.get("x-ratelimit-reset", "").strip()
        if retry_after.isdigit():
            asked = float(retry_after)
        elif headers.get("x-ratelimit-remaining") == "0" and reset.isdigit():
            asked = max(float(reset) - self._clock(), 0.0) + 1
        else:
            return float(min(60.0 * 2**attempt, self.max_wait))
        if asked > self.max_wait:
            raise GitHubRateLimitError(
                f"GitHub rate limit hit at {endpoint} ({response.status_code}); GitHub asks "
                f"to wait {asked:.0f} s, more than the {self.max_wait:.0f} s we wait",
                endpoint=endpoint,
                status=response.status_code,
                hint="run again later; a GitHub App token has a higher rate limit",
            )
        return asked

    def _gave_up(self, response: httpx.Response, endpoint: str, attempts: int) -> Exception:
        """The error for an answer that was still retryable after the last attempt."""
        status = response.status_code
        detail = self._message(response)[0]
        text = f"{endpoint} failed {attempts} time(s); last answer {status} {detail}"
        if status >= 500:
            return GitHubUnavailableError(
                f"GitHub is unavailable: {text}",
                endpoint=endpoint,
                status=status,
                hint="see https://www.githubstatus.com and run again later",
            )
        return GitHubRateLimitError(
            f"GitHub rate limit: {text}",
            endpoint=endpoint,
            status=status,
            hint="run again later; a GitHub App token has a higher rate limit",
        )

    def _check(self, response: httpx.Response, endpoint: str, permission: str) -> httpx.Response:
        """`response` if it is a success, else the matching `GitHubError`."""
        status = response.status_code
        if 200 <= status < 300:
            return response
        message, reasons = self._message(response)
        if status in (401, 403):
            raise GitHubAuthError(
                f"GitHub refused {endpoint}: {status} {message}",
                endpoint=endpoint,
                status=status,
                hint=f"check GITHUB_TOKEN's permissions: is it valid and unexpired, and does "
                f"it have {permission}?",
            )
        if status == 404:
            raise GitHubNotFoundError(
                f"not found on GitHub: {endpoint} (404 {message})",
                endpoint=endpoint,
                status=status,
                hint="check the repository, number or team name; GitHub also answers 404 "
                "for what GITHUB_TOKEN is not allowed to see",
            )
        if status == 422:
            listed = "; ".join(reasons)
            raise GitHubValidationError(
                f"GitHub rejected {endpoint}: {message}" + (f": {listed}" if listed else ""),
                endpoint=endpoint,
                github_message=message,
                errors=reasons,
            )
        if 400 <= status < 500:
            raise GitHubRequestError(
                f"GitHub refused {endpoint}: {status} {message}", endpoint=endpoint, status=status
            )
        raise GitHubUnavailableError(
            f"unexpected answer from GitHub to {endpoint}: {status} {message}",
            endpoint=endpoint,
            status=status,
        )

    def _message(self, response: httpx.Response) -> tuple[str, list[str]]:
        """GitHub's `message` and `errors` from an error answer, scrubbed and shortened."""
        try:
            data = load_json(response.content, "GitHub's answer", max_bytes=MAX_ANSWER_BYTES)
        except InputError:
            data = None
        if not isinstance(data, dict):
            text = response.text.strip() or response.reason_phrase
            return self._scrub(text[:MAX_DETAIL]), []
        message = str(data.get("message") or response.reason_phrase)
        errors = data.get("errors")
        reasons = [_reason(item) for item in errors] if isinstance(errors, list) else []
        return self._scrub(message[:MAX_DETAIL]), [self._scrub(r[:MAX_DETAIL]) for r in reasons]

    def _paginate(self, path: str, permission: str) -> list[Any]:
        """Every item of a list endpoint, following `Link: <...>; rel="next"`."""
        url: str = path
        params: dict[str, str] | None = {"per_page": str(PER_PAGE)}
        items: list[Any] = []
        while True:
            response = self._request("GET", url, permission, params=params)
            items.extend(self._parse(as_list, response, "GET", path))
            next_url = response.links.get("next", {}).get("url")
            if not next_url:
                return items
            self._check_origin(next_url, f"GET {path}")
            url, params = next_url, None

    def _check_origin(self, url: str, endpoint: str) -> None:
        """Refuse to follow a page link away from `api_url`: it would carry the token."""
        target, base = httpx.URL(url), httpx.URL(self.api_url)
        if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
            raise GitHubUnavailableError(
                f"GitHub's next-page link for {endpoint} leads to another server "
                f"({target.scheme}://{target.host}); not following it with the token",
                endpoint=endpoint,
            )

    def _parse(
        self, convert: Callable[[Any], _T], response: httpx.Response, method: str, path: str
    ) -> _T:
        """`convert` applied to the JSON body of a successful answer."""
        try:
            data = load_json(response.content, "GitHub's answer", max_bytes=MAX_ANSWER_BYTES)
        except InputError:
            raise GitHubUnavailableError(
                f"GitHub answered {method} {path} with something that is not JSON",
                endpoint=f"{method} {path}",
                status=response.status_code,
            ) from None
        return self._convert(convert, data, method, path)

    def _convert(self, convert: Callable[[Any], _T], data: Any, method: str, path: str) -> _T:
        """`convert(data)`, or a clear error when GitHub's JSON lacks what we need."""
        endpoint = f"{method} {path}"
        try:
            return convert(data)
        except (KeyError, TypeError, AttributeError, ValidationError) as error:
            detail = _short(error)
            raise GitHubUnavailableError(
                f"unexpected answer from GitHub to {endpoint}: {self._scrub(detail)}",
                endpoint=endpoint,
                hint="is the API URL a GitHub REST API (v3, version 2022-11-28)?",
            ) from None


def _split_repo(repo: str) -> tuple[str, str]:
    if not REPO_PATTERN.match(repo):
        raise InputError(
            f"not a GitHub repository: {repo!r}",
            hint="name it as owner/name, e.g. powerx/release-repo",
        )
    owner, name = repo.split("/")
    return owner, name


def _check_token(token: str) -> None:
    if not token or token != token.strip() or any(ch.isspace() for ch in token):
        raise InputError(
            "the GitHub token is empty or contains whitespace",
            hint="set GITHUB_TOKEN to the token alone, without quotes, spaces or newlines",
        )


def _is_rate_limited(response: httpx.Response) -> bool:
    """Whether a 403 is GitHub's primary or secondary rate limit rather than a refusal."""
    headers = response.headers
    if headers.get("x-ratelimit-remaining") == "0" or "retry-after" in headers:
        return True
    return "rate limit" in response.text.lower()


def _reason(item: Any) -> str:
    """One entry of a 422's `errors`: a string, or {resource, field, code, message}."""
    if isinstance(item, dict):
        if item.get("message"):
            return str(item["message"])
        parts = [str(item[key]) for key in ("resource", "field", "code") if item.get(key)]
        return " ".join(parts) or str(item)
    return str(item)


def _short(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"missing field {error}"
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"{where}: {first['msg']}"
    return str(error)


def as_list(data: Any) -> list[Any]:
    """A JSON array answer (TypeError for anything else)."""
    if not isinstance(data, list):
        raise TypeError(f"expected a JSON array, got {type(data).__name__}")
    return data
