"""A small stand-in for GitHub's REST API, served over real HTTP on 127.0.0.1.

It speaks GitHub's documented wire format (API version 2022-11-28) for the endpoints the
release pipeline uses, holds their state in memory, and can be told to fail:

    with serve_github() as github:
        number = github.open_pull("release/foo-1.2.0")
        github.review(number, "alice", "APPROVED")
        github.add_team("powerx", "release-approvers", ["alice"])
        github.fail_next(502)                      # a one-off fault, before routing
        client = GitHubClient(github.repo, TOKEN, api_url=github.url)

Endpoints: GET/POST /repos/{o}/{r}/pulls, GET .../pulls/{n}, GET .../pulls/{n}/reviews,
GET .../pulls/{n}/commits, GET/POST .../issues/{n}/comments,
GET /orgs/{org}/teams/{slug}/members and .../memberships/{user}.
Lists honour `per_page` (capped at `max_per_page`) and `page`, and send `Link` headers.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

TOKEN = "ghp_TESTCANARYtoken0123456789abcdefGHIJ"
"""The token the stub accepts by default; recognisable so tests can look for leaks."""

DOCS = "https://docs.github.com/rest"
NOW = "2024-05-01T12:00:00Z"

Reply = tuple[int, dict[str, str], Any]


@dataclass
class Fault:
    """A canned answer served instead of the next request's real one."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass
class Recorded:
    """A request the stub received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


def sha_of(text: str) -> str:
    """A stable, fake 40-hex commit id."""
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def error_body(status: int, message: str | None = None, **extra: Any) -> dict[str, Any]:
    """GitHub's error JSON: `message`, `documentation_url`, `status` (and e.g. `errors`)."""
    return {
        "message": message or HTTPStatus(status).phrase,
        "documentation_url": DOCS,
        "status": str(status),
        **extra,
    }


class GitHubStub:
    """In-memory state of one repository and its organization's teams, plus faults."""

    def __init__(
        self,
        owner: str = "powerx",
        name: str = "release-repo",
        *,
        token: str = TOKEN,
        login: str = "powerx-bot",
    ) -> None:
        self.owner, self.name, self.token, self.login = owner, name, token, login
        self.url = ""
        self.max_per_page = 100
        self.pulls: dict[int, dict[str, Any]] = {}
        self.reviews: dict[int, list[dict[str, Any]]] = {}
        self.commits: dict[int, list[str]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.teams: dict[tuple[str, str], dict[str, str]] = {}
        self.faults: list[Fault] = []
        self.requests: list[Recorded] = []
        self._ids = 1000
        self._lock = threading.Lock()

    @property
    def repo(self) -> str:
        """`owner/name`."""
        return f"{self.owner}/{self.name}"

    # -- arranging state ----------------------------------------------------------------

    def open_pull(
        self, head: str, base: str = "main", *, title: str = "Release", user: str | None = None
    ) -> int:
        """Add an open pull request with one commit; returns its number."""
        with self._lock:
            return self._add_pull(head, base, title, "", False, user or self.login)

    def push(self, number: int, sha: str | None = None) -> str:
        """Add a commit to a pull request's head branch; returns its id."""
        with self._lock:
            sha = sha or sha_of(f"{number}-{len(self.commits[number])}")
            self.commits[number].append(sha)
            self.pulls[number]["head"]["sha"] = sha
            return sha

    def review(
        self, number: int, user: str, state: str = "APPROVED", *, commit_id: str | None = None
    ) -> int:
        """Add a review (of the current head unless `commit_id`); returns its id."""
        with self._lock:
            review_id = self._next_id()
            review: dict[str, Any] = {
                "id": review_id,
                "node_id": f"PRR_{review_id}",
                "user": _user(user),
                "body": "",
                "state": state,
                "html_url": f"{self._html(number)}#pullrequestreview-{review_id}",
                "pull_request_url": f"{self.url}/repos/{self.repo}/pulls/{number}",
                "author_association": "MEMBER",
                "commit_id": commit_id or self.pulls[number]["head"]["sha"],
            }
            if state != "PENDING":
                review["submitted_at"] = NOW
            self.reviews[number].append(review)
            return review_id

    def add_team(
        self, org: str, slug: str, members: Iterable[str] = (), pending: Iterable[str] = ()
    ) -> None:
        """Add a team with active members and pending invitations."""
        with self._lock:
            states = dict.fromkeys(members, "active") | dict.fromkeys(pending, "pending")
            self.teams[(org, slug)] = states

    def fail_next(
        self,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        message: str | None = None,
        body: Any = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` requests with `status` (a JSON error unless `body`)."""
        payload = body if body is not None else error_body(status, message)
        with self._lock:
            self.faults.extend(Fault(status, dict(headers or {}), payload) for _ in range(times))

    # -- serving ------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Reply:
        """Answer one request: a fault, 401 for a bad token, or the routed endpoint."""
        split = urlsplit(target)
        query = dict(parse_qsl(split.query))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
            if method == "POST":
                return 400, {}, error_body(400, "Problems parsing JSON")
        with self._lock:
            self.requests.append(Recorded(method, split.path, query, headers, body))
            if self.faults:
                fault = self.faults.pop(0)
                return fault.status, fault.headers, fault.body
            auth = headers.get("authorization", "")
            if not auth:
                return 401, {}, error_body(401, "Requires authentication")
            if auth not in (f"Bearer {self.token}", f"token {self.token}"):
                return 401, {}, error_body(401, "Bad credentials")
            return self._route(method, split.path, query, body)

    def _route(self, method: str, path: str, query: dict[str, str], body: Any) -> Reply:
        for route_method, pattern, action in self._routes():
            match = re.fullmatch(pattern, path)
            if match and route_method == method:
                return action(query, body, *match.groups())
        return 404, {}, error_body(404)

    def _routes(self) -> list[tuple[str, str, Callable[..., Reply]]]:
        repo = f"/repos/{re.escape(self.owner)}/{re.escape(self.name)}"
        team = r"/orgs/([^/]+)/teams/([^/]+)"
        return [
            ("GET", f"{repo}/pulls", self._list_pulls),
            ("POST", f"{repo}/pulls", self._create_pull),
            ("GET", rf"{repo}/pulls/(\d+)", self._get_pull),
            ("GET", rf"{repo}/pulls/(\d+)/reviews", self._list_reviews),
            ("GET", rf"{repo}/pulls/(\d+)/commits", self._list_commits),
            ("GET", rf"{repo}/issues/(\d+)/comments", self._list_comments),
            ("POST", rf"{repo}/issues/(\d+)/comments", self._create_comment),
            ("GET", f"{team}/members", self._team_members),
            ("GET", f"{team}/memberships/([^/]+)", self._membership),
        ]

    # -- endpoints ----------------------------------------------------------------------

    def _list_pulls(self, query: dict[str, str], _body: Any) -> Reply:
        state = query.get("state", "open")
        pulls = [
            pull
            for pull in self.pulls.values()
            if state in ("all", pull["state"])
            and query.get("head", pull["head"]["label"]) == pull["head"]["label"]
            and query.get("base", pull["base"]["ref"]) == pull["base"]["ref"]
        ]
        return self._page(pulls, query, f"/repos/{self.repo}/pulls")

    def _create_pull(self, _query: dict[str, str], body: Any) -> Reply:
        if not isinstance(body, dict):
            return 400, {}, error_body(400, "Problems parsing JSON")
        for name in ("head", "base", "title"):
            if not body.get(name):
                return 422, {}, self._invalid({"field": name, "code": "missing_field"})
        label = f"{self.owner}:{body['head']}"
        if any(p["head"]["label"] == label and p["state"] == "open" for p in self.pulls.values()):
            reason = {"code": "custom", "message": f"A pull request already exists for {label}."}
            return 422, {}, self._invalid(reason)
        number = self._add_pull(
            body["head"],
            body["base"],
            body["title"],
            body.get("body") or "",
            bool(body.get("draft")),
            self.login,
        )
        return 201, {"Location": f"{self.url}/repos/{self.repo}/pulls/{number}"}, self.pulls[number]

    def _get_pull(self, _query: dict[str, str], _body: Any, number: str) -> Reply:
        pull = self.pulls.get(int(number))
        return (200, {}, pull) if pull else (404, {}, error_body(404))

    def _list_reviews(self, query: dict[str, str], _body: Any, number: str) -> Reply:
        return self._pull_list(self.reviews, query, number, "reviews")

    def _list_commits(self, query: dict[str, str], _body: Any, number: str) -> Reply:
        if int(number) not in self.pulls:
            return 404, {}, error_body(404)
        commits = [
            {
                "sha": sha,
                "node_id": f"C_{sha[:8]}",
                "commit": {"message": f"commit {sha[:7]}"},
                "html_url": f"https://github.com/{self.repo}/commit/{sha}",
                "parents": [],
            }
            for sha in self.commits[int(number)]
        ]
        return self._page(commits, query, f"/repos/{self.repo}/pulls/{number}/commits")

    def _list_comments(self, query: dict[str, str], _body: Any, number: str) -> Reply:
        if int(number) not in self.pulls:
            return 404, {}, error_body(404)
        path = f"/repos/{self.repo}/issues/{number}/comments"
        return self._page(self.comments[int(number)], query, path)

    def _create_comment(self, _query: dict[str, str], body: Any, number: str) -> Reply:
        if int(number) not in self.pulls:
            return 404, {}, error_body(404)
        if not isinstance(body, dict) or not body.get("body"):
            return 422, {}, self._invalid({"resource": "IssueComment", "field": "body"})
        comment_id = self._next_id()
        comment = {
            "id": comment_id,
            "node_id": f"IC_{comment_id}",
            "url": f"{self.url}/repos/{self.repo}/issues/comments/{comment_id}",
            "html_url": f"{self._html(int(number))}#issuecomment-{comment_id}",
            "issue_url": f"{self.url}/repos/{self.repo}/issues/{number}",
            "body": body["body"],
            "user": _user(self.login),
            "created_at": _now(),
            "updated_at": _now(),
            "author_association": "MEMBER",
        }
        self.comments[int(number)].append(comment)
        return 201, {"Location": str(comment["url"])}, comment

    def _team_members(self, query: dict[str, str], _body: Any, org: str, slug: str) -> Reply:
        states = self.teams.get((org, slug))
        if states is None:
            return 404, {}, error_body(404)
        members = [_user(login) for login, state in states.items() if state == "active"]
        return self._page(members, query, f"/orgs/{org}/teams/{slug}/members")

    def _membership(
        self, _query: dict[str, str], _body: Any, org: str, slug: str, user: str
    ) -> Reply:
        state = self.teams.get((org, slug), {}).get(user)
        if state is None:
            return 404, {}, error_body(404)
        url = f"{self.url}/orgs/{org}/teams/{slug}/memberships/{user}"
        return 200, {}, {"url": url, "role": "member", "state": state}

    # -- helpers ------------------------------------------------------------------------

    def _pull_list(
        self, table: dict[int, list[dict[str, Any]]], query: dict[str, str], number: str, what: str
    ) -> Reply:
        if int(number) not in self.pulls:
            return 404, {}, error_body(404)
        return self._page(table[int(number)], query, f"/repos/{self.repo}/pulls/{number}/{what}")

    def _page(self, items: list[Any], query: dict[str, str], path: str) -> Reply:
        """One page of `items` and GitHub's `Link` header (next, last, first, prev)."""
        per_page = min(int(query.get("per_page", "30")), self.max_per_page)
        page = int(query.get("page", "1"))
        last = max((len(items) + per_page - 1) // per_page, 1)
        rels: dict[str, int] = {}
        if page > 1:
            rels |= {"prev": page - 1, "first": 1}
        if page < last:
            rels |= {"next": page + 1, "last": last}
        links = [
            f'<{self.url}{path}?{urlencode({**query, "page": str(target)})}>; rel="{rel}"'
            for rel, target in rels.items()
        ]
        headers = {"Link": ", ".join(links)} if links else {}
        return 200, headers, items[(page - 1) * per_page : page * per_page]

    def _invalid(self, reason: dict[str, str]) -> dict[str, Any]:
        return error_body(422, "Validation Failed", errors=[{"resource": "PullRequest", **reason}])

    def _add_pull(self, head: str, base: str, title: str, body: str, draft: bool, user: str) -> int:
        number = len(self.pulls) + 1
        sha = sha_of(f"{head}-{number}")
        self.pulls[number] = {
            "url": f"{self.url}/repos/{self.repo}/pulls/{number}",
            "id": self._next_id(),
            "node_id": f"PR_{number}",
            "html_url": self._html(number),
            "number": number,
            "state": "open",
            "locked": False,
            "title": title,
            "user": _user(user),
            "body": body,
            "created_at": NOW,
            "updated_at": NOW,
            "draft": draft,
            "merged": False,
            "head": {"label": f"{self.owner}:{head}", "ref": head, "sha": sha},
            "base": {"label": f"{self.owner}:{base}", "ref": base, "sha": sha_of(base)},
        }
        self.reviews[number], self.commits[number], self.comments[number] = [], [sha], []
        return number

    def _html(self, number: int) -> str:
        return f"https://github.com/{self.repo}/pull/{number}"

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids


def _now() -> str:
    """The wall clock, as GitHub writes times (comments are dated when they are posted)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _user(login: str) -> dict[str, Any]:
    """A (trimmed) GitHub simple-user object."""
    return {"login": login, "id": int(sha_of(login)[:6], 16), "type": "User", "site_admin": False}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, stub: GitHubStub) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.stub = stub


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, extra, payload = self.server.stub.handle(self.command, self.path, headers, raw)
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        content_type = "text/html" if isinstance(payload, str) else "application/json"
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


@contextmanager
def serve_github(stub: GitHubStub | None = None) -> Iterator[GitHubStub]:
    """Serve `stub` (a fresh one by default) on 127.0.0.1 at a free port while in the block."""
    stub = stub or GitHubStub()
    server = _Server(stub)
    host, port = server.server_address[:2]
    stub.url = f"http://{host!s}:{port}"
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
