"""The console's identities: tokens, login sessions, the proxy header, off-loopback reading.

Every test runs `powerx serve --port 0` (and `powerx console token ...`) as real processes
on a real release repo, and talks HTTP to it on loopback.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import Repo
from factories import yaml_text
from hostplugins import BIN, ServerProcess, run
from test_approvals import member

TEAMS = {
    "apiVersion": "powerx.io/v1alpha1",
    "kind": "Teams",
    "teams": {
        "qa": {"members": [member("quinn"), member("ada")]},
        "release-managers": {"members": [member("rita"), member("roy")]},
        "leads": {"members": [member("ada")]},
    },
}
ACCESS = {
    "apiVersion": "powerx.io/v1alpha1",
    "kind": "ConsoleAccess",
    "roles": [
        {"team": "release-managers", "role": "release-manager"},
        {"team": "qa", "role": "developer"},
        {"team": "leads", "role": "release-manager", "environments": ["prod"]},
    ],
}


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


OPENER = urllib.request.build_opener(NoRedirects)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str
    cookies: list[str] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Browser:
    """HTTP against a running console, keeping its session cookie (no redirects followed)."""

    url: str
    cookie: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def send(
        self,
        method: str,
        path: str,
        *,
        form: dict[str, str] | None = None,
        body: Any = None,
        raw: bytes | None = None,
        accept: str = "text/html",
        headers: dict[str, str] | None = None,
    ) -> Answer:
        all_headers = {"Accept": accept, **self.headers, **(headers or {})}
        data = raw
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        if self.cookie:
            all_headers["Cookie"] = self.cookie
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers=all_headers
        )
        try:
            with OPENER.open(request, timeout=60) as answer:
                status, raw_headers, content = answer.status, answer.headers, answer.read()
        except urllib.error.HTTPError as error:
            status, raw_headers, content = error.code, error.headers, error.read()
        text = content.decode()
        assert "Traceback" not in text
        return Answer(
            status,
            {k.lower(): v for k, v in raw_headers.items()},
            text,
            raw_headers.get_all("set-cookie") or [],
        )

    def get(self, path: str, accept: str = "text/html", **kw: Any) -> Answer:
        return self.send("GET", path, accept=accept, **kw)

    def post(self, path: str, **kw: Any) -> Answer:
        return self.send("POST", path, **kw)

    def login(self, token: str, next_page: str = "/") -> Answer:
        answer = self.post("/login", form={"token": token, "next": next_page})
        assert answer.status == 303, answer.body
        self.cookie = answer.cookies[0].split(";")[0]
        return answer

    def csrf(self, path: str = "/") -> str:
        page = self.get(path).body
        start = page.index('name="csrf" value="') + len('name="csrf" value="')
        return page[start : page.index('"', start)]


def console_repo(repo: Repo) -> Repo:
    """`repo` with teams and console roles on main."""
    repo.git("checkout", "-q", "main")
    repo.commit(
        {"policies/teams.yaml": yaml_text(TEAMS), "policies/console.yaml": yaml_text(ACCESS)},
        "teams and console roles",
    )
    return repo


def make_token(tokens: Path, login: str, *extra: str) -> str:
    made = run(
        ["powerx", "console", "token", "create", "--as", login, "--tokens", str(tokens), *extra]
    )
    assert made.returncode == 0, made.stderr
    return made.stdout.splitlines()[0]


@pytest.fixture
def tokens(tmp_path: Path) -> Path:
    return tmp_path / "config" / "console-tokens.json"


@pytest.fixture
def console(release_repo: Repo, tokens: Path) -> Iterator[tuple[Repo, str]]:
    repo = console_repo(release_repo)
    argv = ["powerx", "serve", "--repo", str(repo.path), "--port", "0", "--tokens", str(tokens)]
    with ServerProcess(argv) as server:
        yield repo, server.url


def test_tokens_are_kept_hashed_in_a_private_file(tokens: Path) -> None:
    first = make_token(tokens, "rita", "--expires", "30d")
    second = make_token(tokens, "quinn")
    assert first.startswith("pxc_") and first != second and len(first) > 40
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    text = tokens.read_text()
    assert first not in text and second not in text and first[4:] not in text
    listed = run(
        ["powerx", "console", "token", "list", "--tokens", str(tokens), "--format", "json"]
    )
    records = json.loads(listed.stdout)["tokens"]
    assert [(r["login"], r["expires"] is None) for r in records] == [
        ("rita", False),
        ("quinn", True),
    ]
    assert first not in listed.stdout and "sha256" not in listed.stdout
    revoked = run(
        ["powerx", "console", "token", "revoke", records[0]["id"], "--tokens", str(tokens)]
    )
    assert revoked.returncode == 0 and f"revoked token {records[0]['id']} of rita" in revoked.stdout
    again = run(["powerx", "console", "token", "revoke", "rita", "--tokens", str(tokens)])
    assert again.returncode == 2 and "no console token has the id or login 'rita'" in again.stderr
    bad = run(["powerx", "console", "token", "create", "--as", "no body", "--tokens", str(tokens)])
    assert bad.returncode == 2 and "is not a login" in bad.stderr
    by_env = run(
        ["powerx", "console", "token", "list"],
        env={**os.environ, "POWERX_CONSOLE_TOKENS": str(tokens)},
    )
    assert by_env.returncode == 0 and "quinn" in by_env.stdout and "rita" not in by_env.stdout


def test_a_browser_logs_in_with_a_token_and_out_again(
    console: tuple[Repo, str], tokens: Path
) -> None:
    _, url = console
    token = make_token(tokens, "rita")
    browser = Browser(url)
    form = browser.get("/login?next=/audit")
    assert form.status == 200 and 'type="password"' in form.body
    assert 'name="next" value="/audit"' in form.body

    wrong = browser.post("/login", form={"token": "pxc_nope", "next": "/audit"})
    assert wrong.status == 401 and "not valid" in wrong.body and not wrong.cookies

    answer = browser.login(token, "/audit")
    assert answer.headers["location"] == "/audit" and token not in answer.headers["location"]
    cookie = answer.cookies[0].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
    page = browser.get("/audit")
    assert page.status == 200 and "rita" in page.body and 'action="/logout"' in page.body
    assert token not in page.body

    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        elsewhere = Browser(url).post("/login", form={"token": token, "next": target})
        assert elsewhere.status == 303 and elsewhere.headers["location"] == "/", target

    assert browser.post("/logout", form={}).status == 403  # no CSRF token
    logged_out = browser.post("/logout", form={"csrf": browser.csrf()})
    assert logged_out.status == 200 and "Logged out" in logged_out.body
    assert "rita" not in browser.get("/").body  # the session is gone on the server too


def test_bearer_tokens_expired_or_revoked_are_refused(
    console: tuple[Repo, str], tokens: Path
) -> None:
    _, url = console
    token = make_token(tokens, "rita")
    api = Browser(url, headers={"Authorization": f"Bearer {token}"})
    assert api.get("/index.json", "application/json").status == 200
    browser = Browser(url)
    browser.login(token)

    data = json.loads(tokens.read_text())
    data["tokens"][0]["expires"] = "2020-01-01T00:00:00+00:00"
    tokens.write_text(json.dumps(data))
    expired = api.get("/index.json", "application/json")
    assert expired.status == 401 and expired.json()["message"] == "the bearer token has expired"
    assert "rita" not in browser.get("/").body  # its session ended with it

    other = make_token(tokens, "quinn")
    api.headers["Authorization"] = f"Bearer {other}"
    assert api.get("/", "application/json").status == 200
    assert (
        run(["powerx", "console", "token", "revoke", "quinn", "--tokens", str(tokens)]).returncode
        == 0
    )
    revoked = api.get("/", "application/json")
    assert revoked.status == 401 and "not valid (unknown or revoked)" in revoked.json()["message"]
    assert other not in revoked.body


def test_off_loopback_every_page_needs_a_login(release_repo: Repo, tokens: Path) -> None:
    repo = console_repo(release_repo)
    argv = ["powerx", "serve", "--repo", str(repo.path), "--port", "0", "--tokens", str(tokens)]
    refused = run([*argv, "--host", "0.0.0.0"])
    assert refused.returncode == 2 and "--allowed-host NAME" in refused.stderr
    token = make_token(tokens, "quinn")
    with ServerProcess([*argv, "--listen", "0.0.0.0", "--allowed-host", "console.test"]) as server:
        assert "every page needs a login" in server.wait_for("PowerX console at")
        anonymous = Browser(server.url)
        page = anonymous.get("/audit?plugin=hello")
        assert page.status == 303
        assert page.headers["location"] == "/login?next=%2Faudit%3Fplugin%3Dhello"
        api = anonymous.get("/audit.json", "application/json")
        assert api.status == 401 and "needs a login" in api.json()["message"]
        assert anonymous.get("/login").status == 200
        assert anonymous.get("/static/console.css").status == 200
        assert anonymous.get("/actions/promote?plugin=hello").status == 303

        user = Browser(server.url, headers={"Authorization": f"Bearer {token}"})
        assert user.get("/audit.json", "application/json").status == 200
        named = user.get("/index.json", "application/json", headers={"Host": "console.test"})
        assert named.status == 200
        assert user.get("/", headers={"Host": "evil.example"}).status == 400
        browser = Browser(server.url)
        assert "secure" in browser.login(token).cookies[0].lower()  # off loopback: TLS
        assert browser.get("/audit").status == 200
        # behind a proxy that passes another Host on, the Origin names an allowed host
        form = {"token": token}
        proxied = browser.post("/login", form=form, headers={"Origin": "https://console.test"})
        assert proxied.status == 303
        forged = browser.post("/login", form=form, headers={"Origin": "https://evil.example"})
        assert forged.status == 403 and "another origin" in forged.body


def test_a_trusted_proxy_header_names_the_user(release_repo: Repo, tokens: Path) -> None:
    repo = console_repo(release_repo)
    argv = ["powerx", "serve", "--repo", str(repo.path), "--port", "0", "--tokens", str(tokens)]
    with ServerProcess([*argv, "--listen", "0.0.0.0", "--allowed-host", "console.test"]) as plain:
        spoofed = Browser(plain.url, headers={"X-Forwarded-User": "rita"})
        assert spoofed.get("/audit.json", "application/json").status == 401  # not trusted
    proxied = [
        *argv,
        "--listen",
        "0.0.0.0",
        "--allowed-host",
        "x",
        "--trust-proxy-header",
        "X-Forwarded-User",
    ]
    with ServerProcess(proxied) as server:
        assert Browser(server.url).get("/audit.json", "application/json").status == 401
        rita = Browser(server.url, headers={"X-Forwarded-User": "rita"})
        page = rita.get("/")
        assert page.status == 200 and "rita" in page.body
        bad = Browser(server.url, headers={"X-Forwarded-User": "rita\tadmin"})
        refused = bad.get("/", "application/json")
        assert refused.status == 401 and "no valid user name" in refused.json()["message"]
        no_csrf = rita.post("/actions/rollback", form={"plugin": "hello", "env": "test"})
        assert no_csrf.status == 403 and "CSRF" in no_csrf.body


def test_failed_logins_are_limited_per_client(console: tuple[Repo, str], tokens: Path) -> None:
    _, url = console
    token = make_token(tokens, "rita")
    browser = Browser(url)
    for _ in range(10):
        assert browser.post("/login", form={"token": "pxc_guess"}).status == 401
    limited = browser.post("/login", form={"token": token}, accept="application/json")
    assert limited.status == 429 and "too many failed logins" in limited.json()["message"]


def test_bodies_that_are_not_forms_are_refused(console: tuple[Repo, str], tokens: Path) -> None:
    _, url = console
    token = make_token(tokens, "rita")
    api = Browser(url, headers={"Authorization": f"Bearer {token}"})
    for content_type, body, message in [
        ("application/json", b"[1", "the request body is not JSON"),
        ("application/json", b'{"plugin": 1}', "the JSON body must be an object of strings"),
        ("text/plain", b"plugin=hello", "cannot read a text/plain body"),
        ("application/x-www-form-urlencoded", b"x=" + b"a" * 70000, "larger than 65536 bytes"),
    ]:
        answer = api.send(
            "POST",
            "/actions/rollback",
            accept="application/json",
            headers={"Content-Type": content_type},
            raw=body,
        )
        assert answer.status == 400 and message in answer.json()["message"], content_type
    logged_in = Browser(url).post("/login", body={"token": token}, accept="application/json")
    assert logged_in.status == 200 and logged_in.json() == {"login": "rita", "next": "/"}
    assert Browser(url).get("/logout").status == 200


def test_tokens_made_at_once_are_all_kept(tokens: Path) -> None:
    logins = [f"user{n}" for n in range(8)]
    made = [
        subprocess.Popen(
            [str(BIN / "powerx"), "console", "token", "create", "--as", login],
            env={**os.environ, "POWERX_CONSOLE_TOKENS": str(tokens)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for login in logins
    ]
    assert all(process.wait(timeout=120) == 0 for process in made)
    for process in made:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()
        process.stderr.close()
    kept = json.loads(tokens.read_text())["tokens"]
    assert sorted(record["login"] for record in kept) == logins
