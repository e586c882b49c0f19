"""Metric providers: Prometheus's HTTP API over a real socket, and the file provider."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from prometheus import free_port
from waiting import DEADLINE

from pipeline.canary.providers import (
    FileProvider,
    PrometheusProvider,
    ProviderUnavailable,
    QueryRejected,
    provider_from_config,
)
from pipeline.errors import EXIT_GATE, InputError
from pipeline.models.rollout import ProviderConfig
from pipeline.urls import redact_url

END = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
START = END - timedelta(minutes=5)


def matrix(*series: list[str]) -> dict[str, Any]:
    return {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {
                    "metric": {"i": str(i)},
                    "values": [[1700000000 + n, v] for n, v in enumerate(vals)],
                }
                for i, vals in enumerate(series)
            ],
        },
    }


class FakePrometheus:
    """A local HTTP server answering a scripted list of (status, body) and recording requests.

    It stands in for a Prometheus that misbehaves (5xx, garbage, slow): the real one is used
    for everything it does by itself (see test_canary_judge.py).
    """

    def __init__(self) -> None:
        self.script: list[tuple[int, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.hold = 0.0
        self.release = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                fake.requests.append(
                    {
                        "path": url.path,
                        "params": {k: v[0] for k, v in parse_qs(url.query).items()},
                        "auth": self.headers.get("Authorization"),
                    }
                )
                fake.release.wait(fake.hold)  # answers late: after the client gave up
                status, body = fake.script.pop(0) if len(fake.script) > 1 else fake.script[0]
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                with contextlib.suppress(ConnectionError):  # the client may have timed out
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakePrometheus]:
    server = FakePrometheus()
    yield server
    server.close()


def provider(url: str, **kwargs: Any) -> PrometheusProvider:
    sleeps: list[float] = []
    kwargs.setdefault("sleep", sleeps.append)
    result = PrometheusProvider(url, **kwargs)
    result.sleeps = sleeps  # type: ignore[attr-defined]
    return result


def test_query_range_returns_every_value_of_every_series(fake: FakePrometheus) -> None:
    fake.script = [(200, matrix(["0.1", "NaN"], ["+Inf", "0.3"]))]
    values = provider(fake.url).samples('up{group="canary"}', START, END, 10)
    assert values[0] == 0.1 and values[3] == 0.3
    assert values[1] != values[1] and values[2] == float("inf")
    request = fake.requests[0]
    assert request["path"] == "/api/v1/query_range"
    assert request["params"] == {
        "query": 'up{group="canary"}',
        "start": f"{START.timestamp():.3f}",
        "end": f"{END.timestamp():.3f}",
        "step": "10",
    }
    assert request["auth"] is None


def test_a_base_url_with_a_path_prefix_keeps_it(fake: FakePrometheus) -> None:
    fake.script = [(200, matrix(["1"]))]
    provider(fake.url + "/prometheus/").samples("q", START, END, 0.5)
    assert fake.requests[0]["path"] == "/prometheus/api/v1/query_range"
    assert fake.requests[0]["params"]["step"] == "0.5"


def test_vector_and_scalar_results_are_read_too(fake: FakePrometheus) -> None:
    fake.script = [
        (
            200,
            {
                "status": "success",
                "data": {"resultType": "vector", "result": [{"value": [1, "2"]}]},
            },
        ),
        (200, {"status": "success", "data": {"resultType": "scalar", "result": [1, "3"]}}),
    ]
    with provider(fake.url) as prom:
        assert prom.samples("q", START, END, 1) == [2.0]
        assert prom.samples("q", START, END, 1) == [3.0]


def test_5xx_is_retried_with_backoff_then_succeeds(fake: FakePrometheus) -> None:
    fake.script = [
        (503, {"status": "error", "error": "busy"}),
        (502, b"bad gateway"),
        (200, matrix(["1"])),
    ]
    prom = provider(fake.url, retries=2, backoff=0.5)
    assert prom.samples("q", START, END, 1) == [1.0]
    assert len(fake.requests) == 3
    assert prom.sleeps == [0.5, 1.0]  # type: ignore[attr-defined]


def test_5xx_after_every_retry_is_unavailable(fake: FakePrometheus) -> None:
    fake.script = [(500, {"status": "error", "errorType": "internal", "error": "boom"})]
    with pytest.raises(ProviderUnavailable) as caught:
        provider(fake.url, retries=1).samples("q", START, END, 1)
    assert caught.value.message == (
        f"Prometheus at {fake.url} answered HTTP 500: internal: boom after 2 attempt(s)"
    )
    assert caught.value.exit_code == EXIT_GATE
    assert len(fake.requests) == 2


def test_a_bad_query_is_rejected_without_retry(fake: FakePrometheus) -> None:
    fake.script = [(400, {"status": "error", "errorType": "bad_data", "error": "parse error"})]
    with pytest.raises(QueryRejected, match="rejected the query: bad_data: parse error"):
        provider(fake.url).samples("q(", START, END, 1)
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (401, b"", "refused the credentials (HTTP 401)"),
        (404, b"not found", "answered HTTP 404"),
        (200, b"<html>", "answered something that is not JSON"),
        (200, {"status": "error", "error": "no"}, "reported an error: no"),
        (200, {"status": "failure"}, "reported an error"),
        (200, {"status": "success"}, "answered without data"),
        (200, {"status": "success", "data": {"resultType": "matrix"}}, "without a result list"),
        (
            200,
            {"status": "success", "data": {"resultType": "matrix", "result": [{"values": [[1]]}]}},
            "answered a malformed matrix",
        ),
        (
            200,
            {"status": "success", "data": {"resultType": "string", "result": []}},
            "unexpected result type 'string'",
        ),
    ],
)
def test_bad_answers_are_unavailable(
    fake: FakePrometheus, status: int, body: Any, message: str
) -> None:
    fake.script = [(status, body)]
    with pytest.raises(ProviderUnavailable, match=re.escape(message)):
        provider(fake.url).samples("q", START, END, 1)
    assert len(fake.requests) == 1


def test_timeouts_and_refused_connections_are_unavailable(fake: FakePrometheus) -> None:
    fake.script, fake.hold = [(200, matrix(["1"]))], DEADLINE
    try:
        with pytest.raises(ProviderUnavailable, match="timed out after 2 attempt"):
            provider(fake.url, timeout=0.1, retries=1).samples("q", START, END, 1)
    finally:
        fake.release.set()  # the held requests answer now, into closed connections
    with pytest.raises(ProviderUnavailable, match=r"cannot be reached \(ConnectError"):
        provider(f"http://127.0.0.1:{free_port()}", retries=0).samples("q", START, END, 1)


def test_credentials_come_from_the_environment_and_never_show(fake: FakePrometheus) -> None:
    fake.script = [(200, matrix(["1"]))]
    bearer = ProviderConfig.model_validate(
        {"type": "prometheus", "url": fake.url, "bearerTokenEnv": "PROM_TOKEN"}
    )
    provider_from_config(bearer, {"PROM_TOKEN": "s3cret-token"}).samples("q", START, END, 1)
    basic = ProviderConfig.model_validate(
        {"type": "prometheus", "url": fake.url, "usernameEnv": "U", "passwordEnv": "P"}
    )
    provider_from_config(basic, {"U": "reader", "P": "pw"}).samples("q", START, END, 1)
    assert fake.requests[0]["auth"] == "Bearer s3cret-token"
    assert fake.requests[1]["auth"] == "Basic " + base64.b64encode(b"reader:pw").decode()
    fake.script = [(403, b"")]
    with pytest.raises(ProviderUnavailable) as caught:
        provider_from_config(bearer, {"PROM_TOKEN": "s3cret-token"}).samples("q", START, END, 1)
    assert "s3cret" not in caught.value.diagnostics()
    with pytest.raises(InputError, match="environment variable PROM_TOKEN is not set"):
        provider_from_config(bearer, {})


def test_a_missing_provider_is_bad_input() -> None:
    with pytest.raises(InputError, match="names no metrics provider"):
        provider_from_config(None, {})


def test_redact_drops_credentials_and_query() -> None:
    assert (
        redact_url("https://user:pw@prom.example:9090/base?token=x")
        == "https://prom.example:9090/base"
    )


# --- file provider ---------------------------------------------------------------------


def test_json_samples_with_and_without_timestamps(tmp_path: Path) -> None:
    inside, outside = START.timestamp() + 60, START.timestamp() - 60
    path = tmp_path / "m.json"
    path.write_text(
        json.dumps(
            {
                "samples": {
                    "plain": [0.1, "NaN", "+Inf", 2],
                    "timed": [[inside, 1.0], [outside, 9.0], [END.timestamp(), "-Inf"]],
                }
            }
        )
    )
    prov = FileProvider(path)
    plain = prov.samples("plain", START, END, 10)
    assert plain[0] == 0.1 and plain[1] != plain[1] and plain[2] == float("inf") and plain[3] == 2
    assert prov.samples("timed", START, END, 10) == [1.0, float("-inf")]
    assert prov.samples("missing", START, END, 10) == []


def test_csv_samples(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text(
        "query,timestamp,value\n"
        f'"rate(x{{group=""canary"",a=""1,2""}}[1m])",{START.timestamp() + 1},0.5\n'
        f'"rate(x{{group=""canary"",a=""1,2""}}[1m])",{START.timestamp() - 1},7\n'
        "other,,NaN\n"
    )
    prov = FileProvider(path)
    assert prov.samples('rate(x{group="canary",a="1,2"}[1m])', START, END, 1) == [0.5]
    assert prov.samples("other", START, END, 1)[0] != 0.0


@pytest.mark.parametrize(
    ("name", "text", "message", "line"),
    [
        ("m.json", '{"samples": {"q": [1,\n 2,,]}}', "malformed metrics file: Expecting value", 2),
        ("m.json", "[1, 2]", "a 'samples' object", None),
        ("m.json", '{"samples": {"q": 1}}', "the samples of 'q' are not a list", None),
        ("m.json", '{"samples": {"q": ["fast"]}}', "is not a number or [time, number]", None),
        ("m.json", '{"samples": {"q": [true]}}', "is not a number or [time, number]", None),
        ("m.json", '{"samples": {"q": [[1, 2, 3]]}}', "is not a number or [time, number]", None),
        ("m.csv", "name,value\nq,1\n", "the header must name the columns query,value", 1),
        ("m.csv", "query,value\nq,1\nq,infinite\n", "not a number", 3),
    ],
)
def test_malformed_files_name_the_problem(
    tmp_path: Path, name: str, text: str, message: str, line: int | None
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ProviderUnavailable, match=re.escape(message)) as caught:
        FileProvider(path).samples("q", START, END, 1)
    assert caught.value.location is not None and caught.value.location.line == line


def test_a_missing_file_is_unavailable_and_the_config_path_is_relative_to_the_repo(
    tmp_path: Path,
) -> None:
    config = ProviderConfig(type="file", path="metrics/samples.json")
    prov = provider_from_config(config, {}, base=tmp_path)
    with pytest.raises(
        ProviderUnavailable, match="cannot read the metrics file: FileNotFoundError"
    ):
        prov.samples("q", START, END, 1)
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/samples.json").write_text('{"samples": {"q": [1]}}')
    assert prov.samples("q", START, END, 1) == [1.0]
    (tmp_path / "metrics/samples.json").write_text('{"samples": {"q": [1, 2]}}')
    assert prov.samples("q", START, END, 1) == [1.0, 2.0]  # a changed file is read again
