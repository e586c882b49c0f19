"""`powerx serve`: the web console's foundation and its audit view, over real HTTP.

Every test runs `powerx serve --port 0` as a real process on a release repo with
promotions, a rollback and a hand-made commit, and asks it over HTTP on loopback.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Repo
from factories import plugin_state, yaml_text
from hostplugins import ServerProcess, run

from pipeline.gitrepo import GitRepo
from pipeline.promotion.rollback import RollbackRequest, rollback
from pipeline.web.app import CSP, HTMX

HTMX_SHA256 = "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"
"""htmx 2.0.11's dist/htmx.min.js, as pipeline/web/static/README.md records it."""
HELLO = "environments/test/plugins/hello.yaml"


def promote(
    repo: Repo, plugin: str, version: str, operator: str, when: str, env: pytest.MonkeyPatch
) -> str:
    """A promotion commit with the runner's trailers, dated `when` (UTC)."""
    path = f"environments/test/plugins/{plugin}.yaml"
    repo.write({path: yaml_text(plugin_state(plugin, version))})
    repo.git("add", "-A")
    message = (
        f"Promote {plugin} {version} to test\n\nPowerX-Action: promote\n"
        f"PowerX-Plugin: {plugin}\nPowerX-Version: {version}\nPowerX-Environment: test\n"
        f"PowerX-Operator: {operator}\n"
    )
    with env.context() as dated:  # the trail's time is the committer's
        dated.setenv("GIT_COMMITTER_DATE", f"{when}T12:00:00+00:00")
        repo.git("commit", "-q", "-m", message, f"--date={when}T12:00:00+00:00")
    return repo.head()


@pytest.fixture
def trail(release_repo: Repo, monkeypatch: pytest.MonkeyPatch) -> Repo:
    """hello 1.0.0 (ada) -> other 2.0.0 (bob) -> hello 1.1.0 (ada) -> a hand edit with a
    hostile summary -> rollback of hello (carol)."""
    repo = release_repo
    repo.git("checkout", "-q", "main")
    promote(repo, "hello", "1.0.0", "ada", "2026-01-10", monkeypatch)
    promote(repo, "other", "2.0.0", "bob", "2026-02-10", monkeypatch)
    promote(repo, "hello", "1.1.0", "ada", "2026-03-10", monkeypatch)
    repo.commit(
        {"environments/test/plugins/other.yaml": yaml_text(plugin_state("other", "2.0.1"))},
        '=HYPERLINK("http://evil") <script>alert(1)</script>',
    )
    rollback(
        GitRepo(repo.path),
        RollbackRequest("hello", "test", "error rate up", operator="carol"),
        branch="main",
    )
    return repo


def get(
    url: str, accept: str | None = None, host: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of a GET; an error status is an answer too."""
    headers = {"Accept": accept} if accept else {}
    if host is not None:
        headers["Host"] = host
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def get_json(url: str) -> tuple[int, Any]:
    status, _, body = get(url, "application/json")
    return status, json.loads(body)


def assert_secure(headers: dict[str, str]) -> None:
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


def test_serve_answers_the_audit_as_html_json_and_csv(trail: Repo) -> None:
    head = trail.head()
    with ServerProcess(["powerx", "serve", "--repo", str(trail.path), "--port", "0"]) as server:
        url = server.url
        status, headers, body = get(f"{url}/")
        assert status == 200 and headers["content-type"].startswith("text/html")
        assert head[:12] in body.decode() and 'href="/audit"' in body.decode()
        assert_secure(headers)

        status, data = get_json(f"{url}/audit")
        assert status == 200 and data["head"] == head
        actions = [(e["action"], e["plugin"], e["version"]) for e in data["entries"]]
        assert actions[:5] == [
            ("rollback", "hello", "1.0.0"),
            ("manual", "other", "2.0.1"),
            ("promote", "hello", "1.1.0"),
            ("promote", "other", "2.0.0"),
            ("promote", "hello", "1.0.0"),
        ]
        assert data["entries"][0]["operator"] == "carol"
        assert data["entries"][0]["permalink"] == f"/audit/{head}"
        status, same = get_json(f"{url}/audit.json")
        assert same == data

        status, data = get_json(f"{url}/audit.json?operator=ada&since=2026-03-01")
        assert [(e["version"], e["time"][:10]) for e in data["entries"]] == [
            ("1.1.0", "2026-03-10")
        ]
        status, data = get_json(f"{url}/audit?environment=test&action=promote&until=2026-02-10")
        assert [e["plugin"] for e in data["entries"]] == ["other", "hello"]

        status, headers, body = get(f"{url}/audit.csv?plugin=hello")
        assert status == 200 and headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(body.decode())))
        assert [(r["action"], r["version"], r["operator"]) for r in rows] == [
            ("rollback", "1.0.0", "carol"),
            ("promote", "1.1.0", "ada"),
            ("promote", "1.0.0", "ada"),
        ]

        status, headers, body = get(f"{url}/audit?since=yesterdayish", "application/json")
        problem = json.loads(body)
        assert status == 400 and problem["error"] == "bad request"
        assert problem["message"] == "since='yesterdayish' is not a date"
        assert "YYYY-MM-DD" in problem["hint"] and "Traceback" not in body.decode()
        assert_secure(headers)

        status, headers, body = get(f"{url}/no/such/page", "application/json")
        assert status == 404 and json.loads(body)["message"] == "there is no page /no/such/page"
        assert_secure(headers)

        # a page that rebinds its own domain to 127.0.0.1 (DNS rebinding) is not answered
        status, headers, body = get(f"{url}/audit.json", host="evil.example")
        assert status == 400 and b"release" not in body

        assert_secure(headers)

        status, headers, body = get(f"{url}/static/{HTMX}")
        assert status == 200 and hashlib.sha256(body).hexdigest() == HTMX_SHA256
        assert headers["content-type"].startswith("text/javascript")
        assert "max-age=31536000" in headers["cache-control"]
        status, headers, _ = get(f"{url}/static/console.css")
        assert status == 200 and headers["cache-control"] == "no-cache"  # not versioned
        assert get(f"{url}/static/../app.py")[0] == 404
        assert server.interrupt() == 0


class Client:
    """GET against a running console: `get(path, accept)` -> (status, headers, body)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str, accept: str | None = None) -> tuple[int, dict[str, str], str]:
        status, headers, body = get(self.url + path, accept)
        return status, headers, body.decode()

    def json(self, path: str) -> Any:
        return get_json(self.url + path)[1]

    def status(self, path: str) -> int:
        return get(self.url + path, "application/json")[0]


@pytest.fixture
def client(trail: Repo) -> Iterator[Client]:
    with ServerProcess(["powerx", "serve", "--repo", str(trail.path), "--port", "0"]) as server:
        yield Client(server.url)


def test_every_view_answers_html_or_json_at_one_url(client: Client, trail: Repo) -> None:
    head = trail.head()
    status, headers, page = client.get("/audit", "text/html,application/json;q=0.9")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert headers["content-security-policy"] == CSP and headers["vary"] == "Accept"
    assert '<form method="get" action="/audit"' in page  # works without JavaScript
    assert f'<script src="/static/{HTMX}" defer></script>' in page
    assert "<script>alert(1)</script>" not in page  # autoescaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert client.json("/audit")["head"] == head
    index = client.json("/index.json")
    assert index["head"]["commit"] == head
    assert [view["url"] for view in index["views"]] == [
        "/matrix",
        "/audit",
        "/local",
        "/imports",
        "/market/report",
        "/market",
    ]

    entry = client.json(f"/audit/{head}.json")["entry"]
    assert (entry["action"], entry["details"]["Reason"]) == ("rollback", "error rate up")
    assert client.json(f"/audit/{head[:10]}") == {"entry": entry}
    assert "error rate up" in client.get(f"/audit/{head}")[2]
    missing = "/audit/" + "0" * 40 + ".json"
    assert client.status(missing) == 404
    assert "there is no commit" in client.json(missing)["message"]  # no walk for it
    assert client.status("/audit/not-a-commit.json") == 404


def test_pages_are_bounded_and_linked(client: Client) -> None:
    first = client.json("/audit.json?size=2&plugin=hello")
    assert [e["version"] for e in first["entries"]] == ["1.0.0", "1.1.0"]
    assert first["previous"] is None and first["next"] == "/audit?plugin=hello&size=2&page=2"
    second = client.json(first["next"])
    assert [e["version"] for e in second["entries"]] == ["1.0.0"]
    assert second["next"] is None and second["previous"] == "/audit?plugin=hello&size=2&page=1"
    for bad, message in [
        ("size=0", "size=0 is out of range"),
        ("size=501", "size=501 is out of range"),
        ("page=two", "page='two' is not a whole number"),
        ("until=2026-13-01", "until='2026-13-01' is not a date"),
        ("plugin=nope", "nope"),
    ]:
        assert client.status(f"/audit.json?{bad}") == 400, bad
        answer = client.json(f"/audit.json?{bad}")
        assert message in answer["message"], (bad, answer)


def test_csv_cells_never_start_a_formula(client: Client) -> None:
    rows = list(csv.DictReader(io.StringIO(client.get("/audit.csv?action=manual")[2])))
    assert [row["summary"][:11] for row in rows][:2] == ["'=HYPERLINK", "trust the t"]


def test_serve_off_loopback_needs_host_names_and_refuses_a_taken_port(trail: Repo) -> None:
    for option in ("--host", "--listen"):  # tests/test_web_auth.py: the logins it then needs
        refused = run(["powerx", "serve", "--repo", str(trail.path), option, "0.0.0.0"])
        assert refused.returncode == 2, refused.stderr
        assert "listening on 0.0.0.0, the console needs the host name(s)" in refused.stderr
        assert "--allowed-host NAME" in refused.stderr and "Traceback" not in refused.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = run(["powerx", "serve", "--repo", str(trail.path), "--port", str(port)])
    assert busy.returncode == 2 and f"port {port} on 127.0.0.1 is already in use" in busy.stderr


def test_serve_refuses_a_folder_that_is_no_repo(tmp_path: Path) -> None:
    refused = run(["powerx", "serve", "--repo", str(tmp_path), "--port", "0"])
    assert refused.returncode == 2 and "not a git repository" in refused.stderr
