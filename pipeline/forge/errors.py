"""Errors from talking to a forge (GitHub), each with the exit code of `pipeline.errors`.

```
GitHubError (PowerXError, exit 3)
├── GitHubRequestError (InputError, exit 2)   GitHub refused the request (4xx)
│   ├── GitHubAuthError                       401, or 403 that is not a rate limit
│   ├── GitHubNotFoundError                   404
│   └── GitHubValidationError                 422, with GitHub's `message` and `errors`
└── GitHubUnavailableError (exit 3)           network, 5xx or an unreadable answer, after retries
    └── GitHubRateLimitError                  still rate limited, or told to wait too long
```

Messages never hold the token: the client scrubs every text before it builds an error.
"""

from __future__ import annotations

from pipeline.errors import InputError, PowerXError


class GitHubError(PowerXError):
    """Something went wrong talking to GitHub; `endpoint` is e.g. `GET /repos/o/r/pulls`."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        status: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.endpoint = endpoint
        self.status = status


class GitHubRequestError(GitHubError, InputError):
    """GitHub refused the request (a 4xx answer other than a rate limit): exit 2."""


class GitHubAuthError(GitHubRequestError):
    """401, or a 403 that is not a rate limit: the token is wrong or lacks a permission."""


class GitHubNotFoundError(GitHubRequestError):
    """404: no such repository, pull request, team or membership (or the token cannot see it)."""


class GitHubValidationError(GitHubRequestError):
    """422: GitHub understood the request but will not do it; `errors` holds its reasons."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        github_message: str,
        errors: list[str],
        hint: str | None = None,
    ) -> None:
        super().__init__(message, endpoint=endpoint, status=422, hint=hint)
        self.github_message = github_message
        self.errors = errors


class GitHubUnavailableError(GitHubError):
    """GitHub could not be reached, kept failing, or answered something we cannot read."""


class GitHubRateLimitError(GitHubUnavailableError):
    """GitHub's rate limit held after our retries, or asked us to wait longer than we will."""
