"""The GitHub client against a local stand-in that speaks GitHub's wire format over real HTTP."""

from __future__ import annotations

import logging
import socket
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from githubstub import TOKEN, GitHubStub, error_body, serve_github

from pipeline.errors import EXIT_BUG, EXIT_INPUT, InputError, PowerXError
from pipeline.forge import (
    Comment,
    GitHubAuthError,
    GitHubClient,
    GitHubError,
    GitHubNotFoundError,
    GitHubRateLimitError,
    GitHubRequestError,
    GitHubUnavailableError,
    GitHubValidationError,
    PullRequest,
    api_url_from_env,
    token_from_env,
)

NOW = 1_700_000_000.0


@pytest.fixture
def stub() -> Iterator[GitHubStub]:
    with serve_github() as github:
        yield github


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(stub: GitHubStub, sleeps: list[float]) -> Iterator[GitHubClient]:
    with GitHubClient(
        stub.repo, TOKEN, api_url=stub.url, sleep=sleeps.append, clock=lambda: NOW
    ) as github:
        yield github


MakeClient = Callable[..., GitHubClient]


@pytest.fixture
def make_client(sleeps: list[float]) -> Iterator[MakeClient]:
    """Build clients (recording their sleeps) and close them after the test."""
    made: list[GitHubClient] = []

    def make(repo: str, token: str = TOKEN, **options: Any) -> GitHubClient:
        options.setdefault("sleep", sleeps.append)
        made.append(GitHubClient(repo, token, **options))
        return made[-1]

    yield make
    for github in made:
        github.close()


# -- requests and pull requests ---------------------------------------------------------


def test_every_request_carries_githubs_headers(client: GitHubClient, stub: GitHubStub) -> None:
    client.find_pull_request("feature")
    headers = stub.requests[-1].headers
    assert headers["accept"] == "application/vnd.github+json"
    assert headers["x-github-api-version"] == "2022-11-28"
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["user-agent"].startswith("powerx-release/")


def test_create_pull_request(client: GitHubClient, stub: GitHubStub) -> None:
    pull = client.create_pull_request("release/foo-1.2.0", "main", "Release foo 1.2.0", "notes")
    assert pull == PullRequest(
        number=1,
        html_url=f"https://github.com/{stub.repo}/pull/1",
        state="open",
        draft=False,
        head_ref="release/foo-1.2.0",
        head_sha=stub.pulls[1]["head"]["sha"],
        base_ref="main",
        user_login="powerx-bot",
    )
    sent = stub.requests[-1]
    assert (sent.method, sent.path) == ("POST", f"/repos/{stub.repo}/pulls")
    assert sent.body == {
        "title": "Release foo 1.2.0",
        "head": "release/foo-1.2.0",
        "base": "main",
        "body": "notes",
        "draft": False,
    }


def test_create_draft_pull_request(client: GitHubClient) -> None:
    assert client.create_pull_request("feature", "main", "t", "b", draft=True).draft


def test_a_second_pull_request_for_the_same_head_is_a_validation_error(
    client: GitHubClient,
) -> None:
    client.create_pull_request("feature", "main", "t", "b")
    with pytest.raises(GitHubValidationError) as caught:
        client.create_pull_request("feature", "main", "t", "b")
    error = caught.value
    assert error.exit_code == EXIT_INPUT
    assert error.status == 422
    assert error.github_message == "Validation Failed"
    assert error.errors == ["A pull request already exists for powerx:feature."]
    assert str(error) == (
        "GitHub rejected POST /repos/powerx/release-repo/pulls: Validation Failed: "
        "A pull request already exists for powerx:feature."
    )


def test_validation_errors_without_a_message_name_resource_field_and_code(
    client: GitHubClient,
) -> None:
    with pytest.raises(GitHubValidationError) as caught:
        client.create_pull_request("feature", "main", "", "b")
    assert caught.value.errors == ["PullRequest title missing_field"]


def test_validation_errors_may_be_plain_strings(client: GitHubClient, stub: GitHubStub) -> None:
    stub.fail_next(422, body=error_body(422, "Validation Failed", errors=["base is invalid", {}]))
    with pytest.raises(GitHubValidationError) as caught:
        client.create_comment(1, "hi")
    assert caught.value.errors == ["base is invalid", "{}"]
    stub.fail_next(422, body={"message": "Unprocessable"})
    with pytest.raises(GitHubValidationError, match=r"comments: Unprocessable$"):
        client.create_comment(1, "hi")


def test_find_pull_request(client: GitHubClient, stub: GitHubStub) -> None:
    assert client.find_pull_request("feature") is None
    number = stub.open_pull("feature", "main")
    stub.open_pull("other")
    found = client.find_pull_request("feature")
    assert found is not None
    assert found.number == number
    assert stub.requests[-1].query == {"state": "open", "head": "powerx:feature", "per_page": "100"}
    assert client.find_pull_request("feature", base="develop") is None
    assert client.find_pull_request("powerx:feature", base="main") == found


def test_find_pull_request_ignores_closed_ones(client: GitHubClient, stub: GitHubStub) -> None:
    stub.pulls[stub.open_pull("feature")]["state"] = "closed"
    assert client.find_pull_request("feature") is None


def test_ensure_pull_request_is_idempotent(client: GitHubClient, stub: GitHubStub) -> None:
    first, created = client.ensure_pull_request("feature", "main", "t", "b")
    again, created_again = client.ensure_pull_request("feature", "main", "t", "b")
    assert (created, created_again) == (True, False)
    assert again == first
    assert len(stub.pulls) == 1


def test_ensure_pull_request_survives_a_race(client: GitHubClient, stub: GitHubStub) -> None:
    number = stub.open_pull("feature")
    stub.fail_next(200, body=[])  # another run opens the pull request after our first look
    pull, created = client.ensure_pull_request("feature", "main", "t", "b")
    assert (pull.number, created) == (number, False)


def test_ensure_pull_request_passes_other_refusals_on(
    client: GitHubClient, stub: GitHubStub
) -> None:
    with pytest.raises(GitHubValidationError, match="missing_field"):
        client.ensure_pull_request("feature", "main", "", "b")
    stub.open_pull("feature")
    stub.fail_next(200, body=[])
    stub.fail_next(422, body=error_body(422, errors=[{"message": "A pull request already exists"}]))
    stub.fail_next(200, body=[])
    with pytest.raises(GitHubValidationError, match="already exists"):
        client.ensure_pull_request("feature", "main", "t", "b")


def test_get_pull_request(client: GitHubClient, stub: GitHubStub) -> None:
    number = stub.open_pull("feature", user="alice")
    pull = client.get_pull_request(number)
    assert (pull.number, pull.user_login, pull.head_ref) == (number, "alice", "feature")


def test_an_unknown_pull_request_is_not_found(client: GitHubClient) -> None:
    with pytest.raises(GitHubNotFoundError) as caught:
        client.get_pull_request(42)
    error = caught.value
    assert error.exit_code == EXIT_INPUT
    assert (error.status, error.endpoint) == (404, "GET /repos/powerx/release-repo/pulls/42")
    assert "not found" in str(error)
    assert error.hint is not None and "GITHUB_TOKEN" in error.hint


# -- reviews, commits, comments ---------------------------------------------------------


def test_list_reviews_follows_every_page(client: GitHubClient, stub: GitHubStub) -> None:
    stub.max_per_page = 2
    number = stub.open_pull("feature")
    states = ["COMMENTED", "CHANGES_REQUESTED", "APPROVED", "DISMISSED", "PENDING"]
    ids = [stub.review(number, f"user{i}", state) for i, state in enumerate(states)]
    reviews = client.list_reviews(number)
    assert [r.id for r in reviews] == ids
    assert [r.state for r in reviews] == states
    assert [r.user_login for r in reviews] == [f"user{i}" for i in range(5)]
    assert reviews[0].submitted_at is not None and reviews[0].submitted_at.year == 2024
    assert reviews[-1].submitted_at is None
    pages = [r.query.get("page") for r in stub.requests if r.path.endswith("/reviews")]
    assert pages == [None, "2", "3"]


def test_a_review_by_a_deleted_account_is_ghosts(client: GitHubClient, stub: GitHubStub) -> None:
    number = stub.open_pull("feature")
    stub.review(number, "gone")
    stub.reviews[number][0]["user"] = None
    assert client.list_reviews(number)[0].user_login == "ghost"


def test_an_approval_of_an_older_commit_is_stale(client: GitHubClient, stub: GitHubStub) -> None:
    number = stub.open_pull("feature")
    first = stub.pulls[number]["head"]["sha"]
    stub.review(number, "alice")
    head = stub.push(number)
    assert client.list_commits(number) == [first, head]
    assert client.get_pull_request(number).head_sha == head
    assert client.list_reviews(number)[0].commit_id == first


def test_list_commits_follows_every_page(client: GitHubClient, stub: GitHubStub) -> None:
    stub.max_per_page = 1
    number = stub.open_pull("feature")
    pushed = [stub.push(number) for _ in range(2)]
    assert client.list_commits(number)[1:] == pushed


def test_create_comment(client: GitHubClient, stub: GitHubStub) -> None:
    number = stub.open_pull("feature")
    comment = client.create_comment(number, "Gates passed.")
    assert comment == Comment(
        id=comment.id,
        html_url=f"https://github.com/{stub.repo}/pull/{number}#issuecomment-{comment.id}",
        body="Gates passed.",
        created_at=comment.created_at,
    )
    assert comment.created_at is not None and comment.created_at.tzinfo is not None
    assert stub.comments[number][0]["body"] == "Gates passed."
    assert stub.requests[-1].path == f"/repos/{stub.repo}/issues/{number}/comments"
    assert client.list_comments(number) == [comment]


def test_a_comment_on_an_unknown_pull_request_is_not_found(client: GitHubClient) -> None:
    with pytest.raises(GitHubNotFoundError, match="POST /repos/powerx/release-repo/issues/9"):
        client.create_comment(9, "hi")


# -- teams ------------------------------------------------------------------------------


def test_team_members_follows_every_page(client: GitHubClient, stub: GitHubStub) -> None:
    stub.max_per_page = 2
    stub.add_team("powerx", "release-approvers", ["alice", "bob", "carol"], pending=["dave"])
    assert client.team_members("powerx", "release-approvers") == {"alice", "bob", "carol"}


def test_team_members_of_an_unknown_team(client: GitHubClient) -> None:
    with pytest.raises(GitHubNotFoundError, match="/orgs/powerx/teams/nobody/members"):
        client.team_members("powerx", "nobody")


def test_is_team_member(client: GitHubClient, stub: GitHubStub) -> None:
    stub.add_team("powerx", "release-approvers", ["alice"], pending=["dave"])
    assert client.is_team_member("powerx", "release-approvers", "alice")
    assert not client.is_team_member("powerx", "release-approvers", "dave")
    assert not client.is_team_member("powerx", "release-approvers", "mallory")
    assert not client.is_team_member("powerx", "unknown-team", "alice")
    assert stub.requests[0].path == "/orgs/powerx/teams/release-approvers/memberships/alice"


def test_path_segments_are_escaped(client: GitHubClient, stub: GitHubStub) -> None:
    assert not client.is_team_member("powerx", "a/b", "alice")
    assert stub.requests[-1].path == "/orgs/powerx/teams/a%2Fb/memberships/alice"


# -- retries ----------------------------------------------------------------------------


def test_a_5xx_is_retried_with_exponential_backoff(
    client: GitHubClient, stub: GitHubStub, sleeps: list[float]
) -> None:
    number = stub.open_pull("feature")
    stub.fail_next(502, times=2)
    assert client.get_pull_request(number).number == number
    assert sleeps == [1.0, 2.0]


def test_a_5xx_that_persists_fails_after_the_retries(
    client: GitHubClient, stub: GitHubStub, sleeps: list[float]
) -> None:
    stub.fail_next(503, body="<html>Unicorn!</html>", times=4)
    with pytest.raises(GitHubUnavailableError) as caught:
        client.get_pull_request(1)
    error = caught.value
    assert error.exit_code == EXIT_BUG
    assert error.status == 503
    assert str(error) == (
        "GitHub is unavailable: GET /repos/powerx/release-repo/pulls/1 failed 4 time(s); "
        "last answer 503 <html>Unicorn!</html>"
    )
    assert sleeps == [1.0, 2.0, 4.0]
    assert len(stub.requests) == 4


def test_retry_after_is_honoured(
    client: GitHubClient, stub: GitHubStub, sleeps: list[float]
) -> None:
    stub.fail_next(429, headers={"Retry-After": "7"})
    assert client.find_pull_request("feature") is None
    assert sleeps == [7.0]


def test_a_primary_rate_limit_waits_until_the_reset(
    client: GitHubClient, stub: GitHubStub, sleeps: list[float]
) -> None:
    limit = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 30)}
    stub.fail_next(403, headers=limit, message="API rate limit exceeded for user ID 1.")
    stub.fail_next(403, headers={**limit, "x-ratelimit-reset": str(int(NOW) - 5)})
    assert client.find_pull_request("feature") is None
    assert sleeps == [31.0, 1.0]


def test_a_secondary_rate_limit_waits_a_minute(
    client: GitHubClient, stub: GitHubStub, sleeps: list[float]
) -> None:
    stub.fail_next(403, message="You have exceeded a secondary rate limit. Please wait.")
    stub.fail_next(429)
    assert client.find_pull_request("feature") is None
    assert sleeps == [60.0, 60.0]  # a minute, doubling, capped at max_wait


def test_a_wait_longer_than_the_cap_fails_at_once(
    client: GitHubClient, stub: GitHubStub, sleeps: list[float]
) -> None:
    stub.fail_next(429, headers={"Retry-After": "3600"})
    with pytest.raises(GitHubRateLimitError, match="asks to wait 3600 s, more than the 60 s"):
        client.find_pull_request("feature")
    assert sleeps == []


def test_a_rate_limit_that_persists_fails_after_the_retries(
    stub: GitHubStub, sleeps: list[float], make_client: MakeClient
) -> None:
    github = make_client(stub.repo, api_url=stub.url, retries=1)
    stub.fail_next(429, headers={"Retry-After": "2"}, message="slow down", times=2)
    with pytest.raises(GitHubRateLimitError) as caught:
        github.find_pull_request("feature")
    assert caught.value.exit_code == EXIT_BUG
    assert "failed 2 time(s); last answer 429 slow down" in str(caught.value)
    assert sleeps == [2.0]


def test_network_failures_are_retried_then_reported(
    sleeps: list[float], make_client: MakeClient
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    github = make_client("powerx/repo", api_url=f"http://127.0.0.1:{port}", retries=2)
    with pytest.raises(GitHubUnavailableError) as caught:
        github.get_pull_request(1)
    error = caught.value
    assert error.exit_code == EXIT_BUG
    assert str(error).startswith(
        "cannot reach GitHub for GET /repos/powerx/repo/pulls/1 after 3 attempt(s): "
    )
    assert sleeps == [1.0, 2.0]


def test_a_custom_transport_is_used(sleeps: list[float], make_client: MakeClient) -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("", request=request)

    github = make_client("powerx/repo", transport=httpx.MockTransport(timeout))
    with pytest.raises(GitHubUnavailableError, match=r"after 4 attempt\(s\): ReadTimeout$"):
        github.list_reviews(1)
    assert sleeps == [1.0, 2.0, 4.0]


# -- refusals that are not retried ------------------------------------------------------


def test_a_wrong_token_is_refused_once(
    stub: GitHubStub, sleeps: list[float], make_client: MakeClient
) -> None:
    github = make_client(stub.repo, "ghp_wrong", api_url=stub.url)
    with pytest.raises(GitHubAuthError) as caught:
        github.get_pull_request(1)
    error = caught.value
    assert error.exit_code == EXIT_INPUT
    assert (
        str(error) == "GitHub refused GET /repos/powerx/release-repo/pulls/1: 401 Bad credentials"
    )
    assert error.hint is not None and "check GITHUB_TOKEN's permissions" in error.hint
    assert (len(stub.requests), sleeps) == (1, [])


def test_a_token_without_permission_is_refused_once(
    client: GitHubClient, stub: GitHubStub, sleeps: list[float]
) -> None:
    stub.fail_next(403, message="Resource not accessible by personal access token")
    with pytest.raises(GitHubAuthError) as caught:
        client.create_pull_request("feature", "main", "t", "b")
    error = caught.value
    assert "POST /repos/powerx/release-repo/pulls: 403 Resource not accessible" in str(error)
    assert error.hint is not None and "'Pull requests: write'" in error.hint
    stub.fail_next(403, message="Must have admin rights")
    with pytest.raises(GitHubAuthError) as caught:
        client.team_members("powerx", "team")
    assert caught.value.hint is not None and "Members: read" in caught.value.hint
    assert (len(stub.requests), sleeps) == (2, [])


@pytest.mark.parametrize("status", [400, 409, 410])
def test_other_4xx_are_refusals(client: GitHubClient, stub: GitHubStub, status: int) -> None:
    stub.fail_next(status)
    with pytest.raises(GitHubRequestError) as caught:
        client.list_commits(1)
    assert caught.value.exit_code == EXIT_INPUT
    assert str(caught.value).startswith("GitHub refused GET /repos/powerx/release-repo/pulls/1/")
    assert len(stub.requests) == 1


def test_an_unexpected_status_is_reported(client: GitHubClient, stub: GitHubStub) -> None:
    stub.fail_next(304, body="")
    with pytest.raises(GitHubUnavailableError, match=r"unexpected answer .* 304 Not Modified"):
        client.get_pull_request(1)


# -- answers we cannot read -------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "call", "detail"),
    [
        ("<html>", lambda c: c.get_pull_request(1), "not JSON"),
        ({"number": 1}, lambda c: c.get_pull_request(1), "missing field 'html_url'"),
        ({"message": "hi"}, lambda c: c.list_reviews(1), "expected a JSON array, got dict"),
        ([{"id": 1, "user": None, "state": "LOVED"}], lambda c: c.list_reviews(1), "state: "),
        ([{"sha": 1}], lambda c: c.list_commits(1), "sha is not a string"),
        ([{"login": 1}], lambda c: c.team_members("o", "t"), "login is not a string"),
        ({"state": "odd"}, lambda c: c.is_team_member("o", "t", "u"), "membership state"),
        ({"number": 1}, lambda c: c.find_pull_request("x"), "expected a JSON array"),
    ],
)
def test_an_answer_we_cannot_read_is_reported(
    client: GitHubClient,
    stub: GitHubStub,
    body: Any,
    call: Callable[[GitHubClient], object],
    detail: str,
) -> None:
    stub.fail_next(200, body=body)
    with pytest.raises(GitHubUnavailableError, match=detail) as caught:
        call(client)
    assert caught.value.exit_code == EXIT_BUG


def test_a_next_page_on_another_server_is_not_followed(
    client: GitHubClient, stub: GitHubStub
) -> None:
    stub.fail_next(
        200, body=[], headers={"Link": '<https://evil.example/steal?page=2>; rel="next"'}
    )
    with pytest.raises(GitHubUnavailableError, match=r"another server \(https://evil.example\)"):
        client.list_reviews(1)
    assert len(stub.requests) == 1


# -- the token never leaks --------------------------------------------------------------


def _provoke(stub: GitHubStub, scenario: str, make_client: MakeClient) -> GitHubError:
    """Run one error path with the canary token; return the error it raised."""
    token = "ghp_wrong_CANARY" if scenario == "401" else TOKEN
    url = stub.url
    if scenario == "network":
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    github = make_client(stub.repo, token, api_url=url, retries=1)
    faults: dict[str, tuple[int, dict[str, str], Any]] = {
        "403": (403, {}, error_body(403, f"token {TOKEN} lacks scopes")),
        "404": (404, {}, None),
        "422": (422, {}, error_body(422, "Validation Failed", errors=[f"bad {TOKEN}"])),
        "429": (429, {"Retry-After": "1"}, error_body(429, f"limited {TOKEN}")),
        "429-long": (429, {"Retry-After": "999"}, None),
        "502": (502, {}, f"<html>proxy saw Authorization: Bearer {TOKEN}</html>"),
        "400": (400, {}, error_body(400, TOKEN)),
        "garbage": (200, {}, {"unexpected": TOKEN}),
        "link": (200, {"Link": '<https://evil.example/>; rel="next"'}, []),
    }
    if scenario in faults:
        status, headers, body = faults[scenario]
        stub.fail_next(status, headers=headers, body=body, times=2)
    with pytest.raises(GitHubError) as caught:
        if scenario in ("garbage", "link"):
            github.list_reviews(1)
        else:
            github.get_pull_request(1)
    return caught.value


SCENARIOS = ["401", "403", "404", "422", "429", "429-long", "502", "400", "garbage", "link"]


@pytest.mark.parametrize("scenario", [*SCENARIOS, "network"])
def test_the_token_never_appears_in_errors_or_logs(
    stub: GitHubStub, make_client: MakeClient, caplog: pytest.LogCaptureFixture, scenario: str
) -> None:
    caplog.set_level(logging.DEBUG)
    error = _provoke(stub, scenario, make_client)
    texts = [
        str(error),
        repr(error),
        error.diagnostics(),
        "".join(traceback.format_exception(error)),
        caplog.text,
    ]
    for text in texts:
        assert TOKEN not in text
        assert "CANARY" not in text
    assert error.__cause__ is None


def test_a_token_echoed_by_the_server_is_redacted(client: GitHubClient, stub: GitHubStub) -> None:
    stub.fail_next(403, message=f"token {TOKEN} lacks scopes")
    with pytest.raises(GitHubAuthError, match=r"403 token \*\*\* lacks scopes"):
        client.get_pull_request(1)


def test_retries_are_logged_without_the_token(
    client: GitHubClient, stub: GitHubStub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    stub.fail_next(502)
    client.find_pull_request("feature")
    assert "GitHub GET /repos/powerx/release-repo/pulls failed (502); retrying in 1.0 s" in (
        caplog.text
    )
    assert TOKEN not in caplog.text


def test_the_client_repr_hides_the_token(client: GitHubClient, stub: GitHubStub) -> None:
    assert repr(client) == f"GitHubClient(repo='powerx/release-repo', api_url='{stub.url}')"
    assert TOKEN not in str(client)


# -- construction and the environment ---------------------------------------------------


@pytest.mark.parametrize("repo", ["powerx", "powerx/", "/repo", "a/b/c", "owner/re po", ""])
def test_a_malformed_repository_is_bad_input(repo: str) -> None:
    with pytest.raises(InputError, match="not a GitHub repository"):
        GitHubClient(repo, TOKEN)


@pytest.mark.parametrize("token", ["", " ", f"{TOKEN}\n", f"x {TOKEN}"])
def test_a_blank_or_spaced_token_is_bad_input(token: str) -> None:
    with pytest.raises(InputError, match="empty or contains whitespace") as caught:
        GitHubClient("powerx/repo", token)
    assert TOKEN not in caught.value.diagnostics()


def test_token_from_env() -> None:
    assert token_from_env({"GITHUB_TOKEN": f" {TOKEN}\n"}) == TOKEN


@pytest.mark.parametrize("env", [{}, {"GITHUB_TOKEN": "  "}])
def test_a_missing_token_is_bad_input_with_a_way_out(env: dict[str, str]) -> None:
    with pytest.raises(InputError, match="GITHUB_TOKEN is not set") as caught:
        token_from_env(env)
    assert caught.value.exit_code == EXIT_INPUT
    assert caught.value.hint is not None and "--no-pr" in caught.value.hint


def test_api_url_from_env() -> None:
    assert api_url_from_env({}) == "https://api.github.com"
    assert api_url_from_env({"GITHUB_API_URL": "https://ghe.example/api/v3"}) == (
        "https://ghe.example/api/v3"
    )


def test_the_api_url_may_end_with_a_slash(stub: GitHubStub) -> None:
    with GitHubClient(stub.repo, TOKEN, api_url=f"{stub.url}/") as github:
        assert github.find_pull_request("feature") is None


def test_error_classes_map_to_exit_codes() -> None:
    assert issubclass(GitHubAuthError, InputError)
    assert issubclass(GitHubValidationError, GitHubRequestError)
    assert issubclass(GitHubRateLimitError, GitHubUnavailableError)
    assert GitHubNotFoundError("x", endpoint="GET /").exit_code == EXIT_INPUT
    assert GitHubUnavailableError("x", endpoint="GET /").exit_code == EXIT_BUG
    assert not issubclass(GitHubUnavailableError, InputError)
    assert issubclass(GitHubError, PowerXError)
