"""The few fields of GitHub's answers that the release pipeline uses, as small typed models.

Each `from_api` reads GitHub's documented JSON (REST API version 2022-11-28) and keeps
only what we need; a missing or mistyped field raises `KeyError`, `TypeError` or a pydantic
`ValidationError`, which the client turns into a clear `GitHubUnavailableError`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pipeline.models.base import Strict

GHOST = "ghost"
"""The login GitHub shows for a deleted account (the API answers `"user": null`)."""

ReviewState = Literal["APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED", "PENDING"]


def login_of(user: Any) -> str:
    """The `login` of a GitHub user object, or `ghost` for a deleted account."""
    if user is None:
        return GHOST
    login = user["login"]
    if not isinstance(login, str):
        raise TypeError("login is not a string")
    return login


class PullRequest(Strict):
    """A pull request: a release request."""

    number: int
    html_url: str
    state: Literal["open", "closed"]
    draft: bool = False
    head_ref: str
    head_sha: str
    base_ref: str
    user_login: str

    @classmethod
    def from_api(cls, data: Any) -> PullRequest:
        """Read a pull request object from `/repos/{owner}/{repo}/pulls`."""
        return cls(
            number=data["number"],
            html_url=data["html_url"],
            state=data["state"],
            draft=data.get("draft") or False,
            head_ref=data["head"]["ref"],
            head_sha=data["head"]["sha"],
            base_ref=data["base"]["ref"],
            user_login=login_of(data.get("user")),
        )


class Review(Strict):
    """A pull request review: an approval when `state` is APPROVED.

    `commit_id` is the head commit the reviewer saw, so an approval of an older commit is
    stale; `submitted_at` is None for a PENDING review.
    """

    id: int
    user_login: str
    state: ReviewState
    commit_id: str | None = None
    submitted_at: datetime | None = None

    @classmethod
    def from_api(cls, data: Any) -> Review:
        """Read a review object from `/repos/{owner}/{repo}/pulls/{number}/reviews`."""
        return cls(
            id=data["id"],
            user_login=login_of(data.get("user")),
            state=data["state"],
            commit_id=data.get("commit_id"),
            submitted_at=data.get("submitted_at"),
        )


class Comment(Strict):
    """A comment on a pull request's conversation (an issue comment)."""

    id: int
    html_url: str
    body: str = ""
    created_at: datetime | None = None

    @classmethod
    def from_api(cls, data: Any) -> Comment:
        """Read a comment object from `/repos/{owner}/{repo}/issues/{number}/comments`."""
        return cls(
            id=data["id"],
            html_url=data["html_url"],
            body=data.get("body") or "",
            created_at=data.get("created_at"),
        )
