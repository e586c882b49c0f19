"""The console's matrix view: plugins x environments, canaries, and why a plugin is held.

Every test runs `powerx serve --port 0` as a real process on a release repo made by
`powerx init` (order test -> staging -> prod; staging asks for one approval) and asks it
over HTTP on loopback.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Repo
from factories import digest_of, plugin_state, yaml_text
from hostplugins import ServerProcess
from test_approvals import teams_data
from test_promote import publish, run
from test_web_console import Client

CANARY = {
    "version": "2.0.0",
    "digest": digest_of("other", "2.0.0"),
    "weight": 10,
    "step": 1,
    "startedAt": "2026-11-24T12:00:00Z",
    "stepStartedAt": "2026-11-24T12:30:00Z",
}
APPROVAL_MISSING = "0/1 approval(s) for staging (nobody)"


def state(env: str, plugin: str, version: str, **overrides: Any) -> dict[str, str]:
    path = f"environments/{env}/plugins/{plugin}.yaml"
    return {path: yaml_text(plugin_state(plugin, version, **overrides))}


@pytest.fixture
def estate(release_repo: Repo) -> Repo:
    """hello 1.0.0 in test, waiting for its staging approval; other 2.0.0 in test, a canary
    of 2.0.0 at 10% over 1.0.0 in staging, 1.0.0 disabled in prod; extra-1..3 in test only."""
    repo = release_repo
    repo.git("checkout", "-q", "main")
    repo.commit({"policies/teams.yaml": yaml_text(teams_data())}, "teams")
    publish(repo, "1.0.0")
    run(repo, plugin="hello", version="1.0.0", to="test")
    publish(repo, "1.0.0", plugin="other")
    publish(repo, "2.0.0", plugin="other")
    files = {
        **state("test", "other", "2.0.0"),
        **state("staging", "other", "1.0.0", canary=CANARY),
        **state("prod", "other", "1.0.0", enabled=False),
    }
    for number in (1, 2, 3):
        files.update(state("test", f"extra-{number}", "0.1.0"))
    repo.commit(files, "other's canary, extras")
    return repo


@pytest.fixture
def client(estate: Repo) -> Iterator[Client]:
    with ServerProcess(["powerx", "serve", "--repo", str(estate.path), "--port", "0"]) as server:
        yield Client(server.url)


def versions(row: dict[str, Any]) -> dict[str, str | None]:
    return {env: cell["version"] for env, cell in row["cells"].items()}


def test_the_matrix_shows_versions_canaries_and_why_a_plugin_is_held(
    client: Client, estate: Repo
) -> None:
    data = client.json("/matrix")
    assert data["head"] == estate.head()
    assert data["environments"] == ["test", "staging", "prod"]
    rows = {row["plugin"]: row for row in data["plugins"]}
    assert list(rows) == ["extra-1", "extra-2", "extra-3", "hello", "other"]
    assert data["total"] == 5 and data["next"] is None and data["previous"] is None

    hello = rows["hello"]
    assert versions(hello) == {"test": "1.0.0", "staging": None, "prod": None}
    assert hello["next"] == {
        "version": "1.0.0",
        "from": "test",
        "into": "staging",
        "ready": False,
        "reason": APPROVAL_MISSING,
    }
    assert hello["audit"] == "/audit?plugin=hello"

    other = rows["other"]
    assert versions(other) == {"test": "2.0.0", "staging": "1.0.0", "prod": "1.0.0"}
    assert other["cells"]["staging"]["canary"] == {"version": "2.0.0", "weight": 10, "step": 1}
    assert other["cells"]["test"] == {
        "version": "2.0.0",
        "release": "/release/other/2.0.0",
        "enabled": True,
        "canary": None,
        "error": None,
    }
    assert [c["enabled"] for c in other["cells"].values()] == [True, True, False]
    assert other["next"]["into"] == "staging" and not other["next"]["ready"]
    assert (
        "canary rollout of other 2.0.0 is in progress in staging (10%)" in (other["next"]["reason"])
    )
    assert rows["extra-1"]["next"] is None  # 0.1.0 has no release: nothing to judge
    assert client.json("/matrix.json") == data

    status, headers, page = client.get("/matrix")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert '<form method="get" action="/matrix"' in page  # works without JavaScript
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row_html(page, "hello"), re.S)
    assert len(cells) == 3 and "held" not in cells[0] + cells[2]
    assert f'<a href="/release/hello/1.0.0">{APPROVAL_MISSING}</a>' in cells[1]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row_html(page, "other"), re.S)
    assert "canary 2.0.0 at 10% (step 1)" in cells[1] and "(disabled)" in cells[2]

    index = client.json("/index.json")
    assert {"name": "matrix", "title": "Matrix", "url": "/matrix"} in index["views"]
    assert 'href="/matrix"' in client.get("/")[2]


def row_html(page: str, plugin: str) -> str:
    """The table row of one plugin in the matrix page."""
    match = re.search(rf'<tr id="plugin-{plugin}">(.*?)</tr>', page, re.S)
    assert match is not None, plugin
    return match.group(1)


def test_the_matrix_filters_and_pages(client: Client) -> None:
    first = client.json("/matrix.json?q=EXTRA&size=2")
    assert [row["plugin"] for row in first["plugins"]] == ["extra-1", "extra-2"]
    assert first["total"] == 3 and first["filters"] == {"q": "EXTRA", "env": None}
    assert first["previous"] is None and first["next"] == "/matrix?q=EXTRA&size=2&page=2"
    second = client.json(first["next"])
    assert [row["plugin"] for row in second["plugins"]] == ["extra-3"]
    assert second["next"] is None and second["previous"] == "/matrix?q=EXTRA&size=2&page=1"
    assert client.json("/matrix.json?q=EXTRA&size=2&page=9")["plugins"] == []

    prod = client.json("/matrix.json?env=prod")
    assert prod["environments"] == ["prod"]
    assert [(row["plugin"], versions(row)) for row in prod["plugins"]] == [
        ("other", {"prod": "1.0.0"})
    ]
    assert [row["plugin"] for row in client.json("/matrix.json?env=test&q=hel")["plugins"]] == [
        "hello"
    ]

    for bad, message in [
        ("page=0", "page=0 is out of range"),
        ("page=two", "page='two' is not a whole number"),
        ("size=501", "size=501 is out of range"),
        ("env=prd", "prd"),
    ]:
        status, headers, body = client.get(f"/matrix?{bad}", "application/json")
        answer = json.loads(body)
        assert status == 400 and headers["content-type"].startswith("application/json"), bad
        assert answer["error"] == "bad request" and message in answer["message"], (bad, answer)
        assert "Traceback" not in body


def test_the_matrix_page_escapes_what_it_echoes(client: Client) -> None:
    status, _, page = client.get("/matrix?q=%3Cscript%3Ealert(1)%3C/script%3E")
    assert status == 200 and "No plugin matches these filters." in page
    assert "<script>alert(1)</script>" not in page
    assert 'value="&lt;script&gt;alert(1)&lt;/script&gt;"' in page


def test_a_file_that_does_not_validate_shows_in_its_cell_not_as_a_failed_page(
    estate: Repo,
) -> None:
    estate.commit(
        {
            **state("prod", "extra-1", "not-a-version"),
            "releases/extra-2/0.1.0/release.yaml": "kind: Release\n",
        },
        "two broken files",
    )
    with ServerProcess(["powerx", "serve", "--repo", str(estate.path), "--port", "0"]) as server:
        client = Client(server.url)
        rows = {row["plugin"]: row for row in client.json("/matrix.json?q=extra")["plugins"]}
        broken = rows["extra-1"]["cells"]["prod"]
        assert broken["version"] is None
        assert "environments/prod/plugins/extra-1.yaml" in broken["error"]
        assert rows["extra-1"]["cells"]["test"]["version"] == "0.1.0"
        unjudged = rows["extra-2"]["next"]
        assert unjudged["into"] is None and not unjudged["ready"]
        assert "releases/extra-2/0.1.0/release.yaml" in unjudged["reason"]
        status, _, page = client.get("/matrix?q=extra")
        assert status == 200 and "unreadable: environments/prod/plugins/extra-1.yaml" in page
        assert "releases/extra-2/0.1.0/release.yaml" in row_html(page, "extra-2")
