"""A small GitHub REST API client: pull requests, reviews, comments and team membership.

The calls are here; how each one travels (retries, rate limits, errors, pagination, keeping
the token out of every message) is `pipeline.forge.rest`."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pipeline.forge.errors import GitHubNotFoundError, GitHubValidationError
from pipeline.forge.models import Comment, PullRequest, Review, login_of
from pipeline.forge.rest import DEFAULT_API_URL, PER_PAGE, RestSession, as_list

__all__ = ["DEFAULT_API_URL", "GitHubClient"]


# Fine-grained token permissions each call needs, for the hint of a 401/403.
_PULLS_READ = "'Pull requests: read' on the repository"
_PULLS_WRITE = "'Pull requests: write' on the repository"
_MEMBERS_READ = "the organization permission 'Members: read' (classic tokens: read:org)"


class GitHubClient(RestSession):
    """Talks to one repository on GitHub (or GitHub Enterprise Server via `api_url`).

    `retries` is how many times a failed call is tried again; `sleep` and `clock` are
    injectable for tests; `max_wait` caps any single wait in seconds.
    """

    # -- pull requests ------------------------------------------------------------------

    def create_pull_request(
        self, head: str, base: str, title: str, body: str, *, draft: bool = False
    ) -> PullRequest:
        """Open a pull request from branch `head` into `base` (POST .../pulls, 201).

        A second one for the same head fails with a `GitHubValidationError` ("A pull request
        already exists for owner:branch."); `ensure_pull_request` is the idempotent form.
        """
        payload = {"title": title, "head": head, "base": base, "body": body, "draft": draft}
        response = self._request("POST", self._repo_path("pulls"), _PULLS_WRITE, json=payload)
        return self._parse(PullRequest.from_api, response, "POST", self._repo_path("pulls"))

    def find_pull_request(self, head_branch: str, base: str | None = None) -> PullRequest | None:
        """The open pull request from `head_branch` (into `base`, if given), or None.

        `head_branch` is a branch of this repository, or `user:branch` for a fork.
        """
        head = head_branch if ":" in head_branch else f"{self.owner}:{head_branch}"
        params = {"state": "open", "head": head, "per_page": str(PER_PAGE)}
        if base is not None:
            params["base"] = base
        path = self._repo_path("pulls")
        response = self._request("GET", path, _PULLS_READ, params=params)
        pulls = self._parse(as_list, response, "GET", path)
        if not pulls:
            return None
        return self._convert(PullRequest.from_api, pulls[0], "GET", path)

    def ensure_pull_request(
        self, head: str, base: str, title: str, body: str, *, draft: bool = False
    ) -> tuple[PullRequest, bool]:
        """The open pull request from `head` into `base`, opened if there is none.

        Returns the pull request and whether this call created it, so publishing twice
        is harmless (also when another run opens the same pull request meanwhile).
        """
        existing = self.find_pull_request(head, base)
        if existing is not None:
            return existing, False
        try:
            return self.create_pull_request(head, base, title, body, draft=draft), True
        except GitHubValidationError as error:
            if not any("already exists" in reason for reason in error.errors):
                raise
            raced = self.find_pull_request(head, base)
            if raced is None:
                raise
            return raced, False

    def get_pull_request(self, number: int) -> PullRequest:
        """One pull request by number (GET .../pulls/{number})."""
        path = self._repo_path(f"pulls/{int(number)}")
        response = self._request("GET", path, _PULLS_READ)
        return self._parse(PullRequest.from_api, response, "GET", path)

    def list_reviews(self, number: int) -> list[Review]:
        """All reviews of a pull request, oldest first, across every page."""
        path = self._repo_path(f"pulls/{int(number)}/reviews")
        items = self._paginate(path, _PULLS_READ)
        return [self._convert(Review.from_api, item, "GET", path) for item in items]

    def list_commits(self, number: int) -> list[str]:
        """The commit ids of a pull request, oldest first; the last one is the head.

        GitHub lists at most 250 commits here; compare a review's `commit_id` with
        `get_pull_request(number).head_sha` to tell a stale approval.
        """
        path = self._repo_path(f"pulls/{int(number)}/commits")
        items = self._paginate(path, _PULLS_READ)
        return [self._convert(_sha, item, "GET", path) for item in items]

    def create_comment(self, number: int, body: str) -> Comment:
        """Add a comment to a pull request's conversation (POST .../issues/{number}/comments)."""
        path = self._repo_path(f"issues/{int(number)}/comments")
        response = self._request("POST", path, _PULLS_WRITE, json={"body": body})
        return self._parse(Comment.from_api, response, "POST", path)

    def list_comments(self, number: int) -> list[Comment]:
        """The comments of a pull request's conversation, oldest first."""
        path = self._repo_path(f"issues/{int(number)}/comments")
        items = self._paginate(path, _PULLS_READ)
        return [self._convert(Comment.from_api, item, "GET", path) for item in items]

    # -- teams --------------------------------------------------------------------------

    def team_members(self, org: str, team_slug: str) -> set[str]:
        """The logins of a team's members (including those of its child teams)."""
        path = f"/orgs/{_segment(org)}/teams/{_segment(team_slug)}/members"
        items = self._paginate(path, _MEMBERS_READ)
        return {self._convert(login_of, item, "GET", path) for item in items}

    def is_team_member(self, org: str, team_slug: str, user: str) -> bool:
        """Whether `user` is an active member of the team (a pending invitation is not).

        GitHub answers 404 both for a non-member and for a team the token cannot see, so
        both are False here.
        """
        path = f"/orgs/{_segment(org)}/teams/{_segment(team_slug)}/memberships/{_segment(user)}"
        try:
            response = self._request("GET", path, _MEMBERS_READ)
        except GitHubNotFoundError:
            return False
        return self._parse(_membership_active, response, "GET", path)


def _segment(text: str) -> str:
    """One URL path segment, escaped."""
    return quote(text, safe="")


def _sha(item: Any) -> str:
    sha = item["sha"]
    if not isinstance(sha, str):
        raise TypeError("sha is not a string")
    return sha


def _membership_active(data: Any) -> bool:
    state = data["state"]
    if state not in ("active", "pending"):
        raise TypeError(f"unknown membership state {state!r}")
    return bool(state == "active")
