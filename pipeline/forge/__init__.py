"""The forge layer: release requests are GitHub pull requests, approvals are their reviews.

- `GitHubClient`: pull requests, reviews, commits, comments and team membership over
  GitHub's REST API, with retries, rate-limit handling and a token that never leaks.
- `token_from_env` / `api_url_from_env`: read `GITHUB_TOKEN` and `GITHUB_API_URL`.
- The models (`PullRequest`, `Review`, `Comment`) and errors (`GitHubError` and friends).
"""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.errors import InputError
from pipeline.forge.errors import (
    GitHubAuthError,
    GitHubError,
    GitHubNotFoundError,
    GitHubRateLimitError,
    GitHubRequestError,
    GitHubUnavailableError,
    GitHubValidationError,
)
from pipeline.forge.github import DEFAULT_API_URL, GitHubClient
from pipeline.forge.models import Comment, PullRequest, Review, ReviewState

__all__ = [
    "DEFAULT_API_URL",
    "Comment",
    "GitHubAuthError",
    "GitHubClient",
    "GitHubError",
    "GitHubNotFoundError",
    "GitHubRateLimitError",
    "GitHubRequestError",
    "GitHubUnavailableError",
    "GitHubValidationError",
    "PullRequest",
    "Review",
    "ReviewState",
    "api_url_from_env",
    "token_from_env",
]


def token_from_env(env: Mapping[str, str]) -> str:
    """The GitHub token from `GITHUB_TOKEN`; an `InputError` when it is missing or blank."""
    token = env.get("GITHUB_TOKEN", "").strip()
    if not token:
        raise InputError(
            "GITHUB_TOKEN is not set: GitHub's REST API (pull requests, reviews, teams) needs "
            "a token",
            hint="export GITHUB_TOKEN (in GitHub Actions: `env: GITHUB_TOKEN: "
            "${{ secrets.GITHUB_TOKEN }}` with the `pull-requests` permission); "
            "on another forge, pass --no-pr and open the request by hand",
        )
    return token


def api_url_from_env(env: Mapping[str, str]) -> str:
    """GitHub's API URL: `GITHUB_API_URL` (set by GitHub Actions, also on GHES) or the default."""
    return env.get("GITHUB_API_URL", "").strip() or DEFAULT_API_URL
