"""Webhook notifications: a CloudEvents 1.0 JSON event, or a Slack-compatible text message.

Two kinds of receivers:

* **CloudEvents** webhooks get one event in *structured mode*: the body is the whole event
  (`specversion`, `id`, `source`, `type`, `subject`, `time`, `datacontenttype`, `data`),
  sent as `Content-Type: application/cloudevents+json; charset=utf-8`;
* **Slack-compatible** webhooks (Slack, Mattermost, Rocket.Chat, Teams' Slack adapter) get
  `{"text": "..."}` as `application/json`.

A notification never stops the work it reports: every delivery has a timeout, and a failure
is returned as a `Delivery` (and can be printed) instead of raised. Webhook URLs often carry
their secret in the path or query (Slack's do), so only the scheme and host are ever shown.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from pipeline import urls
from pipeline.errors import InputError

CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
WEBHOOKS_ENV = "POWERX_WEBHOOKS"
SLACK_WEBHOOKS_ENV = "POWERX_SLACK_WEBHOOKS"
DEFAULT_TIMEOUT = 5.0

Kind = Literal["cloudevents", "slack"]


@dataclass(frozen=True)
class Event:
    """Something worth telling people: `kind` such as 'started', a subject, data and text."""

    kind: str
    subject: str
    text: str
    data: Mapping[str, Any] = field(default_factory=dict)
    severity: Literal["info", "warning", "alert"] = "info"
    family: str = "rollout"
    """What sends it: `rollout` (canary decisions), `approvals` (powerx remind)."""

    @property
    def type(self) -> str:
        """The CloudEvents type, e.g. io.powerx.rollout.started."""
        return f"io.powerx.{self.family}.{self.kind}"

    @property
    def source(self) -> str:
        """The CloudEvents source, e.g. urn:powerx:release:rollout."""
        return f"urn:powerx:release:{self.family}"


@dataclass(frozen=True)
class Delivery:
    """The outcome of one POST: ok, or what went wrong (with the URL redacted)."""

    target: str
    kind: Kind
    ok: bool
    detail: str
    status: int | None = None
    """The HTTP status the receiver answered (None: no answer)."""

    @property
    def retryable(self) -> bool:
        """No answer, a server error or 429: worth trying again later."""
        return not self.ok and (self.status is None or self.status >= 500 or self.status == 429)


def redact_url(url: str) -> str:
    """scheme://host[:port]/… : never the path, query or credentials, which may be secrets."""
    return urls.redact_url(url, keep_path=False)


def check_url(url: str) -> str:
    """A webhook URL must be http(s) with a host; InputError otherwise (the URL is not echoed)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        host = None
    if host is None or parts.scheme not in ("http", "https"):
        raise InputError(
            f"a webhook must be an http(s) URL with a host, not {redact_url(url)!r}",
            hint="pass --webhook https://host/path (or set POWERX_WEBHOOKS)",
        )
    return urls.refuse_credentials(
        url,
        "the webhook",
        query_allowed=True,  # a webhook's secret is its path or query: never shown
        keep_path=False,
        hint="give the webhook URL without user:password@ (put a secret in its path or query)",
    )


def urls_from_env(environ: Mapping[str, str], name: str) -> list[str]:
    """Webhook URLs from an environment variable: separated by commas or whitespace."""
    raw = environ.get(name, "")
    return [check_url(url) for url in raw.replace(",", " ").split()]


def cloudevent(event: Event, *, event_id: str, time: datetime) -> dict[str, Any]:
    """The event as a CloudEvents 1.0 structured-mode JSON object."""
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": event.source,
        "type": event.type,
        "subject": event.subject,
        "time": time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": {**event.data, "severity": event.severity, "text": event.text},
    }


def slack_payload(event: Event) -> dict[str, str]:
    """A Slack-compatible message: one `text` field."""
    mark = {"info": "", "warning": ":warning: ", "alert": ":rotating_light: "}[event.severity]
    return {"text": f"{mark}{event.text}"}


class Notifier:
    """Sends each event to every configured webhook; returns the deliveries, never raises."""

    def __init__(
        self,
        webhooks: Iterable[str] = (),
        slack_webhooks: Iterable[str] = (),
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self.targets: list[tuple[Kind, str]] = [
            *(("cloudevents", check_url(url)) for url in webhooks),
            *(("slack", check_url(url)) for url in slack_webhooks),
        ]
        self.timeout = timeout
        self.transport = transport
        self.clock = clock
        self.new_id = new_id
        self.sent: list[Delivery] = []

    @property
    def configured(self) -> bool:
        """True when there is at least one webhook."""
        return bool(self.targets)

    def send(self, event: Event) -> Sequence[Delivery]:
        """POST `event` to every webhook; each outcome is returned and kept in `sent`."""
        if not self.targets:
            return []
        body = json.dumps(cloudevent(event, event_id=self.new_id(), time=self.clock()))
        slack = json.dumps(slack_payload(event))
        deliveries = []
        with httpx.Client(
            transport=self.transport, timeout=self.timeout, follow_redirects=False
        ) as client:
            for kind, url in self.targets:
                content_type = CLOUDEVENTS_CONTENT_TYPE if kind == "cloudevents" else None
                deliveries.append(
                    post_webhook(
                        client,
                        url,
                        kind,
                        body if kind == "cloudevents" else slack,
                        content_type or "application/json",
                    )
                )
        self.sent.extend(deliveries)
        return deliveries


def post_webhook(
    client: httpx.Client,
    url: str,
    kind: Kind,
    body: str,
    content_type: str,
    headers: Mapping[str, str] | None = None,
) -> Delivery:
    """POST one body to one webhook; the outcome, never an exception (URL redacted)."""
    target = redact_url(url)
    try:
        response = client.post(
            url, content=body, headers={"Content-Type": content_type, **(headers or {})}
        )
    except httpx.HTTPError as error:
        return Delivery(target, kind, False, f"unreachable ({type(error).__name__})")
    status = response.status_code
    if status >= 300:
        return Delivery(target, kind, False, f"answered HTTP {status}", status)
    return Delivery(target, kind, True, f"HTTP {status}", status)
