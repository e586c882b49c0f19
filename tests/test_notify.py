"""Webhook notifications, against a real local HTTP server that records what it receives."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pipeline.errors import InputError
from pipeline.notify import (
    CLOUDEVENTS_CONTENT_TYPE,
    Event,
    Notifier,
    redact_url,
    urls_from_env,
)


@dataclass(frozen=True)
class Received:
    path: str
    content_type: str
    body: Any


class Recorder:
    """A webhook receiver on a free loopback port; `status` is what it answers."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.status = 200
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                recorder.requests.append(
                    Received(self.path, self.headers.get("Content-Type", ""), json.loads(raw))
                )
                self.send_response(recorder.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def events(self) -> list[dict[str, Any]]:
        """The CloudEvents received, in order."""
        return [r.body for r in self.requests if "cloudevents" in r.content_type]

    def texts(self) -> list[str]:
        """The Slack-compatible texts received, in order."""
        return [r.body["text"] for r in self.requests if "cloudevents" not in r.content_type]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.close()


NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_cloudevents_and_slack_payloads(recorder: Recorder) -> None:
    notifier = Notifier(
        [recorder.url("/ce")],
        [recorder.url("/services/T0/B0/secret-token")],
        clock=lambda: NOW,
        new_id=lambda: "id-1",
    )
    event = Event("rolled-back", "hello/prod", "rolled back", {"plugin": "hello"}, "alert")
    deliveries = notifier.send(event)
    assert [d.ok for d in deliveries] == [True, True]
    assert deliveries[1].target == f"http://127.0.0.1:{recorder.port}/…"
    first, second = recorder.requests
    assert first.path == "/ce" and first.content_type == CLOUDEVENTS_CONTENT_TYPE
    assert first.body == {
        "specversion": "1.0",
        "id": "id-1",
        "source": "urn:powerx:release:rollout",
        "type": "io.powerx.rollout.rolled-back",
        "subject": "hello/prod",
        "time": "2026-11-24T12:00:00Z",
        "datacontenttype": "application/json",
        "data": {"plugin": "hello", "severity": "alert", "text": "rolled back"},
    }
    assert second.content_type == "application/json"
    assert second.body == {"text": ":rotating_light: rolled back"}


def test_failures_are_reported_not_raised_and_secrets_stay_hidden(recorder: Recorder) -> None:
    recorder.status = 500
    closed = Recorder()
    closed.close()
    notifier = Notifier(
        [recorder.url("/hook?token=s3cret"), f"http://127.0.0.1:{closed.port}/x"],
        timeout=1.0,
    )
    deliveries = notifier.send(Event("held", "hello/prod", "holds", severity="warning"))
    assert [(d.ok, d.detail) for d in deliveries] == [
        (False, "answered HTTP 500"),
        (False, "unreachable (ConnectError)"),
    ]
    shown = " ".join(d.target for d in deliveries)
    assert "s3cret" not in shown and "pw" not in shown and "user" not in shown
    assert notifier.sent == list(deliveries)
    assert Notifier().send(Event("held", "x", "y")) == []


def test_urls_are_checked_without_echoing_them() -> None:
    assert urls_from_env({"HOOKS": "http://a/1, https://b/2  http://c"}, "HOOKS") == [
        "http://a/1",
        "https://b/2",
        "http://c",
    ]
    assert urls_from_env({}, "HOOKS") == []
    with pytest.raises(InputError) as raised:
        Notifier(["ftp://host/secret-path"])
    assert "secret-path" not in raised.value.diagnostics()
    assert redact_url("https://hooks.slack.com/services/T/B/X") == "https://hooks.slack.com/…"
    assert redact_url("http://host:8080") == "http://host:8080"
