"""Metric providers: where the judge gets its samples from.

* `PrometheusProvider` asks Prometheus's HTTP API (`/api/v1/query_range`) through httpx,
  with a timeout, bearer or basic auth and retries.
* `FileProvider` reads samples from a JSON or CSV file, for sites without Prometheus.

Both return every value of every series in the window, NaN and Inf included: the judge
decides what they mean. A provider that cannot answer raises `ProviderUnavailable`, and
the judge holds the step (it never promotes on missing evidence).

File provider formats, keyed by the rendered query (placeholders already replaced):

    {"samples": {"<query>": [0.01, 0.02, "NaN", ...]}}                  # any time
    {"samples": {"<query>": [[1700000000, 0.01], [1700000010, 0.02]]}}  # unix seconds

    query,value                   or   query,timestamp,value
    "<query>",0.01                     "<query>",1700000000,0.01

Timestamped samples count only inside the analysis window; samples without a timestamp
always count. A query the file does not mention has no samples (the no-data rule applies).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import httpx

from pipeline.errors import GateError, InputError, Location
from pipeline.jsonio import load_json
from pipeline.models.rollout import ProviderConfig
from pipeline.urls import redact_url, refuse_credentials

RETRY_STATUS = frozenset({429, 502, 503, 504})
"""HTTP statuses worth another attempt (500 too: any 5xx is retried)."""
MAX_METRICS_BYTES = 64 * 1024 * 1024
"""Largest metrics file or Prometheus answer we parse."""


class ProviderUnavailable(GateError):  # noqa: N818 (the name part B codes against)
    """The metrics provider could not answer (down, timeout, 5xx after retries, bad payload)."""


class QueryRejected(ProviderUnavailable):
    """The provider answered, but refused the query itself (e.g. a PromQL syntax error)."""


class MetricsProvider(Protocol):
    """Anything that turns a query and a time window into samples."""

    def samples(self, query: str, start: datetime, end: datetime, step: float) -> list[float]:
        """All values of all series of `query` between `start` and `end`, `step` seconds apart."""
        ...


class PrometheusProvider:
    """Samples from Prometheus's `/api/v1/query_range`."""

    def __init__(
        self,
        base_url: str,
        *,
        bearer_token: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        timeout: float = 5.0,
        retries: int = 2,
        transport: httpx.BaseTransport | None = None,
        backoff: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        refuse_credentials(
            base_url,
            "the Prometheus URL",
            hint="name the environment variables holding the token or user/password in "
            "policies/rollout.yaml (bearerTokenEnv, usernameEnv/passwordEnv)",
        )
        headers = {"Accept": "application/json"}
        if bearer_token is not None:
            headers["Authorization"] = f"Bearer {bearer_token}"
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff = backoff
        self._sleep = sleep
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            auth=httpx.BasicAuth(*basic_auth) if basic_auth else None,
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> PrometheusProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def samples(self, query: str, start: datetime, end: datetime, step: float) -> list[float]:
        """Every value of every series in the window, NaN/Inf as Prometheus returned them."""
        params = {
            "query": query,
            "start": f"{start.timestamp():.3f}",
            "end": f"{end.timestamp():.3f}",
            "step": f"{step:g}",
        }
        payload = self._get("/api/v1/query_range", params)
        return _matrix_values(payload, self._where())

    def _where(self) -> str:
        return f"Prometheus at {redact_url(self.base_url)}"

    def _get(self, path: str, params: Mapping[str, str]) -> Any:
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(self.backoff * 2 ** (attempt - 1))
            try:
                response = self._client.get(path, params=params)
            except httpx.TimeoutException:
                problem = "timed out"
                continue
            except httpx.TransportError as error:
                problem = f"cannot be reached ({type(error).__name__}: {error})"
                continue
            if response.status_code >= 500 or response.status_code in RETRY_STATUS:
                problem = f"answered HTTP {response.status_code}{_error_text(response)}"
                continue
            return self._payload(response)
        raise ProviderUnavailable(
            f"{self._where()} {problem} after {self.retries + 1} attempt(s)",
            hint="check that Prometheus is up and reachable from here; the step holds meanwhile",
        )

    def _payload(self, response: httpx.Response) -> Any:
        if response.status_code in (401, 403):
            raise ProviderUnavailable(
                f"{self._where()} refused the credentials (HTTP {response.status_code})",
                hint="check the token or user/password in the environment variables named by "
                "the provider in policies/rollout.yaml",
            )
        if response.status_code in (400, 422):
            raise QueryRejected(
                f"{self._where()} rejected the query{_error_text(response)}",
                hint="fix the metric's query in policies/rollout.yaml",
            )
        if response.status_code != 200:
            raise ProviderUnavailable(
                f"{self._where()} answered HTTP {response.status_code}{_error_text(response)}"
            )
        try:
            payload = load_json(response.content, self._where(), max_bytes=MAX_METRICS_BYTES)
        except InputError as error:
            raise ProviderUnavailable(
                f"{self._where()} answered something that is not JSON ({error.message})"
            ) from None
        if not isinstance(payload, dict) or payload.get("status") != "success":
            raise ProviderUnavailable(f"{self._where()} reported an error{_error_text(response)}")
        return payload


def _error_text(response: httpx.Response) -> str:
    """': errorType: error' from a Prometheus error payload, or '' when there is none."""
    try:
        payload = load_json(response.content, "response", max_bytes=MAX_METRICS_BYTES)
    except InputError:
        return ""
    if not isinstance(payload, dict) or "error" not in payload:
        return ""
    kind = payload.get("errorType")
    text = str(payload["error"])[:300]
    return f": {kind}: {text}" if kind else f": {text}"


def _matrix_values(payload: Any, where: str) -> list[float]:
    data = payload.get("data")
    if not isinstance(data, dict):
        raise ProviderUnavailable(f"{where} answered without data")
    kind, result = data.get("resultType"), data.get("result")
    if not isinstance(result, list):
        raise ProviderUnavailable(f"{where} answered without a result list")
    try:
        if kind == "matrix":
            return [float(value) for series in result for _, value in series["values"]]
        if kind == "vector":
            return [float(series["value"][1]) for series in result]
        if kind == "scalar":
            return [float(result[1])]
    except (TypeError, KeyError, IndexError, ValueError):
        raise ProviderUnavailable(f"{where} answered a malformed {kind}") from None
    raise ProviderUnavailable(f"{where} answered an unexpected result type {kind!r}")


class FileProvider:
    """Samples from a JSON or CSV file (see the module docstring for the format)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._cache: tuple[tuple[int, int], dict[str, list[tuple[float | None, float]]]] | None
        self._cache = None

    def samples(self, query: str, start: datetime, end: datetime, step: float) -> list[float]:
        """The samples of `query` in the window (a changed file is read again)."""
        rows = self._load().get(query, [])
        low, high = start.timestamp(), end.timestamp()
        return [value for when, value in rows if when is None or low <= when <= high]

    def _load(self) -> dict[str, list[tuple[float | None, float]]]:
        """The parsed file; parsed again only when its size or modification time changed."""
        try:
            info = self.path.stat()
            stamp = (info.st_mtime_ns, info.st_size)
            if self._cache is not None and self._cache[0] == stamp:
                return self._cache[1]
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ProviderUnavailable(
                f"cannot read the metrics file: {error.__class__.__name__}",
                location=Location(str(self.path)),
                hint="the file provider reads the path named in policies/rollout.yaml",
            ) from None
        parse = self._parse_csv if self.path.suffix.lower() == ".csv" else self._parse_json
        samples = parse(text)
        self._cache = (stamp, samples)
        return samples

    def _bad(self, what: str, line: int | None = None) -> ProviderUnavailable:
        return ProviderUnavailable(
            f"malformed metrics file: {what}",
            location=Location(str(self.path), line),
            hint="see docs/formats.md, 'Rollout metrics file'",
        )

    def _parse_json(self, text: str) -> dict[str, list[tuple[float | None, float]]]:
        try:
            data = load_json(text, str(self.path), max_bytes=MAX_METRICS_BYTES)
        except InputError as error:
            raise ProviderUnavailable(
                f"malformed metrics file: {error.message.removeprefix('invalid JSON: ')}",
                location=error.location,
                hint="see docs/formats.md, 'Rollout metrics file'",
            ) from None
        samples = data.get("samples") if isinstance(data, dict) else None
        if not isinstance(samples, dict):
            raise self._bad("expected an object with a 'samples' object of query -> values")
        result: dict[str, list[tuple[float | None, float]]] = {}
        for query, values in samples.items():
            if not isinstance(values, list):
                raise self._bad(f"the samples of {query!r} are not a list")
            result[query] = [self._json_sample(query, value) for value in values]
        return result

    def _json_sample(self, query: str, value: Any) -> tuple[float | None, float]:
        try:
            if isinstance(value, list):
                when, sample = value
                return _number(when), _number(sample)
            return None, _number(value)
        except (TypeError, ValueError):
            raise self._bad(f"a sample of {query!r} is not a number or [time, number]") from None

    def _parse_csv(self, text: str) -> dict[str, list[tuple[float | None, float]]]:
        reader = csv.DictReader(io.StringIO(text))
        columns = set(reader.fieldnames or ())
        if not {"query", "value"} <= columns:
            raise self._bad("the header must name the columns query,value (and maybe timestamp)", 1)
        result: dict[str, list[tuple[float | None, float]]] = {}
        for row in reader:
            try:
                when = row.get("timestamp")
                sample = (_number(when) if when not in (None, "") else None, _number(row["value"]))
            except (TypeError, ValueError):
                raise self._bad("not a number", reader.line_num) from None
            result.setdefault(row["query"], []).append(sample)
        return result


def _number(value: Any) -> float:
    """A JSON/CSV number, or a string Python reads as one (NaN, Inf, +Inf, -Inf too)."""
    if isinstance(value, bool) or value is None:
        raise TypeError("not a number")
    return float(value)


def provider_from_config(
    config: ProviderConfig | None,
    environ: Mapping[str, str],
    *,
    transport: httpx.BaseTransport | None = None,
    base: Path | None = None,
) -> MetricsProvider:
    """The provider a rollout policy names, with its secrets taken from `environ`."""
    if config is None:
        raise InputError(
            "the rollout policy names no metrics provider",
            location=Location("policies/rollout.yaml"),
            hint="add 'provider: {type: prometheus, url: http://...}' (or type: file, path: ...)",
        )
    if config.type == "file":
        path = Path(str(config.path))
        return FileProvider(path if base is None or path.is_absolute() else base / path)
    bearer = _secret(environ, config.bearer_token_env, "bearerTokenEnv")
    basic = None
    if config.username_env and config.password_env:
        basic = (
            _secret(environ, config.username_env, "usernameEnv") or "",
            _secret(environ, config.password_env, "passwordEnv") or "",
        )
    return PrometheusProvider(
        str(config.url),
        bearer_token=bearer,
        basic_auth=basic,
        timeout=config.timeout,
        retries=config.retries,
        transport=transport,
    )


def _secret(environ: Mapping[str, str], name: str | None, field: str) -> str | None:
    if name is None:
        return None
    value = environ.get(name)
    if not value:
        raise InputError(
            f"environment variable {name} is not set (named by provider.{field})",
            location=Location("policies/rollout.yaml"),
            hint=f"export {name} with the secret; it never belongs in git",
        )
    return value
