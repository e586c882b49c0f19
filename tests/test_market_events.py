"""Marketplace notifications to a real webhook receiver on loopback: CloudEvents, filters,
HMAC signatures, retries, and never a secret or a URL's path in what is printed."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import Repo, RunCli, git
from factories import API, yaml_text

from pipeline.cli.market import cli
from pipeline.errors import InputError
from pipeline.market.changes import CatalogChange
from pipeline.market.events import SIGNATURE_HEADER, deliver, read_changes
from pipeline.models.market import Subscriptions

NOW = datetime(2026, 12, 1, 10, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def event(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.raw)
        return data


class Receiver:
    """A webhook receiver on a free loopback port; answers `statuses` in turn, then 200."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.received.append(Received(self.path, dict(self.headers), raw))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def subscriptions(*entries: dict[str, Any]) -> Subscriptions:
    return Subscriptions.model_validate(
        {"apiVersion": API, "kind": "Subscriptions", "subscriptions": list(entries)}
    )


CHANGES = [
    CatalogChange("listing.created", "meter", "1.0.0", ("finance",), commit="abc123"),
    CatalogChange("version.published", "hello", "2.0.0", ("communication",)),
    CatalogChange("permissions.widened", "meter", "1.1.0", ("finance",), ("network", "files")),
]


def test_subscribers_get_the_cloudevents_they_asked_for(receiver: Receiver) -> None:
    subs = subscriptions(
        {"tenant": "acme", "webhook": receiver.url("/acme/s3cr3t-path")},
        {"tenant": "globex", "webhook": receiver.url("/globex"), "categories": ["finance"],
         "events": ["permissions.widened"]},
        {"tenant": "initech", "webhook": receiver.url("/initech"), "plugins": ["hello"]},
    )  # fmt: skip
    ids = iter(f"id-{n}" for n in range(10))
    results = deliver(CHANGES, subs, now=lambda: NOW, new_id=lambda: next(ids))
    assert [(r.tenant, r.subject, r.ok) for r in results] == [
        ("acme", "meter@1.0.0", True),
        ("acme", "hello@2.0.0", True),
        ("acme", "meter@1.1.0", True),
        ("globex", "meter@1.1.0", True),
        ("initech", "hello@2.0.0", True),
    ]
    first = receiver.received[0]
    assert first.path == "/acme/s3cr3t-path"
    assert first.headers["Content-Type"] == "application/cloudevents+json; charset=utf-8"
    assert SIGNATURE_HEADER not in first.headers
    event = first.event
    assert {k: event[k] for k in ("specversion", "id", "source", "type", "subject", "time")} == {
        "specversion": "1.0",
        "id": "id-0",
        "source": "urn:powerx:release:market",
        "type": "io.powerx.market.listing.created",
        "subject": "meter@1.0.0",
        "time": "2026-12-01T10:30:00Z",
    }
    assert event["datacontenttype"] == "application/json"
    assert event["data"]["commit"] == "abc123" and event["data"]["categories"] == ["finance"]
    widened = receiver.received[3].event
    assert widened["type"] == "io.powerx.market.permissions.widened"
    assert widened["data"]["permissionsWidened"] == ["network", "files"]
    assert widened["data"]["severity"] == "warning" and "network, files" in widened["data"]["text"]
    assert all("s3cr3t" not in r.line() and "s3cr3t" not in str(r.as_json()) for r in results)
    assert results[0].status == 200 and results[0].line().startswith("delivered: ")


def test_a_signed_delivery_carries_the_hmac_of_its_body(receiver: Receiver) -> None:
    subs = subscriptions(
        {"tenant": "acme", "webhook": receiver.url("/hook"), "secretEnv": "ACME_HOOK_KEY"}
    )
    [result] = deliver(CHANGES[:1], subs, environ={"ACME_HOOK_KEY": "k3y-value"})
    assert result.ok
    got = receiver.received[0]
    expected = hmac.new(b"k3y-value", got.raw, hashlib.sha256).hexdigest()
    assert got.headers[SIGNATURE_HEADER] == f"sha256={expected}"
    assert "k3y-value" not in result.line()
    # the key missing: nothing is sent unsigned
    [unsent] = deliver(CHANGES[:1], subs, environ={})
    assert not unsent.ok and "$ACME_HOOK_KEY" in unsent.detail and unsent.attempts == 0
    assert len(receiver.received) == 1


def test_server_errors_are_retried_and_client_errors_are_not(receiver: Receiver) -> None:
    subs = subscriptions({"tenant": "acme", "webhook": receiver.url("/hook")})
    waits: list[float] = []
    receiver.statuses = [503, 502]
    [retried] = deliver(CHANGES[:1], subs, sleep=waits.append)
    assert (retried.ok, retried.attempts, retried.status) == (True, 3, 200)
    assert waits == [0.5, 1.0] and len(receiver.received) == 3
    receiver.statuses = [500, 500, 500]
    [failed] = deliver(CHANGES[:1], subs, sleep=waits.append)
    assert (failed.ok, failed.attempts, failed.status) == (False, 3, 500)
    assert failed.line().startswith("NOT delivered") and "answered HTTP 500" in failed.line()
    receiver.statuses = [410]
    [gone] = deliver(CHANGES[:1], subs, sleep=waits.append)
    assert (gone.ok, gone.attempts, gone.status) == (False, 1, 410)


def test_an_unreachable_receiver_and_credentials_in_a_url(receiver: Receiver) -> None:
    port = receiver.port
    receiver.close()
    subs = subscriptions(
        {"tenant": "acme", "webhook": f"http://127.0.0.1:{port}/gone"},
        {"tenant": "globex", "webhook": f"http://user:hunter2@127.0.0.1:{port}/x"},
    )
    down, creds = deliver(CHANGES[:1], subs, sleep=lambda _: None, timeout=2.0)
    assert not down.ok and "unreachable" in down.detail and down.status is None
    assert down.attempts == 3
    assert not creds.ok and "user info" in creds.detail
    assert "hunter2" not in creds.line() and "/x" not in creds.line()
    assert deliver(CHANGES, None) == []


def test_the_changes_file_and_the_cli(tmp_path: Path, receiver: Receiver, run_cli: RunCli) -> None:
    changes = tmp_path / "changes.json"
    changes.write_text(
        json.dumps([{"event": "version.published", "plugin": "meter", "version": "1.2.0",
                     "categories": ["finance"], "commit": "c0ffee"}])
    )  # fmt: skip
    [change] = read_changes(changes)
    assert change == CatalogChange(
        "version.published", "meter", "1.2.0", ("finance",), (), "c0ffee"
    )
    synced = tmp_path / "sync.json"  # the whole output of `catalog sync --format json`
    synced.write_text(json.dumps({"commit": "c0ffee", "changes": json.loads(changes.read_text())}))
    assert read_changes(synced) == [change]
    repo = Repo(tmp_path / "repo")
    repo.path.mkdir()
    git(repo.path, "init", "-q", "-b", "main")
    subs = {"apiVersion": API, "kind": "Subscriptions",
            "subscriptions": [{"tenant": "acme", "webhook": receiver.url("/hook/t0ken")}]}  # fmt: skip
    repo.commit({"market/subscriptions.yaml": yaml_text(subs)})
    done = run_cli(cli, "notify", "--changes", str(changes), "--repo", str(repo.path))
    assert done.code == 0, done.err
    assert "delivered: io.powerx.market.version.published meter@1.2.0 to acme" in done.out
    assert "t0ken" not in done.out and len(receiver.received) == 1
    receiver.statuses = [404]
    failed = run_cli(cli, "notify", "--changes", str(changes), "--repo", str(repo.path),
                     "--format", "json")  # fmt: skip
    assert failed.code == 1 and json.loads(failed.out)["deliveries"][0]["status"] == 404


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{", "is not JSON"),
        ("{}", "JSON list"),
        ("[1]", "entry 1 is not an object"),
        ('[{"event": "nope", "plugin": "a", "version": "1"}]', "event must be one of"),
        ('[{"event": "listing.created", "plugin": "", "version": "1"}]', "non-empty"),
        ('[{"event": "listing.created", "plugin": "a", "version": "1", "categories": "x"}]',
         "lists of strings"),
        ('[{"event": "listing.created", "plugin": "a", "version": "1", "commit": 3}]',
         "commit must be"),
    ],
)  # fmt: skip
def test_bad_changes_files(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "changes.json"
    path.write_text(text)
    with pytest.raises(InputError, match=words):
        read_changes(path)
    path.write_bytes(b" " * (1024 * 1024 + 1))
    with pytest.raises(InputError, match="larger than"):
        read_changes(path)
