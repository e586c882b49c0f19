"""Marketplace notifications: catalog changes as CloudEvents 1.0 to subscribed tenants.

Each `CatalogChange` a subscription wants (its `plugins`, `categories` and `events`
filters; empty lists mean "all") is POSTed to the tenant's webhook as one event in
structured mode (`application/cloudevents+json`; the body is the whole event, built by
`pipeline.notify.cloudevent`):

    type     io.powerx.market.listing.created | version.published | permissions.widened
    source   urn:powerx:release:market
    subject  <plugin>@<version>
    data     plugin, version, categories, permissionsWidened, commit, severity, text

With `secretEnv`, the body is signed with HMAC-SHA256 under that variable's value and the
signature sent as `X-PowerX-Signature: sha256=<hex>` (receivers compute the HMAC of the raw
body and compare in constant time); when the variable is unset the event is not sent. Each
delivery has a timeout and is tried up to `attempts` times (again only after no answer, a
5xx or a 429). Results are returned, never raised; a webhook URL is only ever shown as
scheme and host (`notify.redact_url`), and a secret never.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from pipeline.errors import FileSystemError, InputError
from pipeline.market.changes import CatalogChange
from pipeline.models.market import MARKET_EVENTS, Subscription, Subscriptions
from pipeline.notify import (
    CLOUDEVENTS_CONTENT_TYPE,
    DEFAULT_TIMEOUT,
    Delivery,
    Event,
    check_url,
    cloudevent,
    post_webhook,
    redact_url,
)

SIGNATURE_HEADER = "X-PowerX-Signature"
DEFAULT_ATTEMPTS = 3
MAX_CHANGES_BYTES = 1024 * 1024
TEXTS = {
    "listing.created": "New in the Marketplace: {plugin} {version}",
    "version.published": "{plugin} {version} is published in the Marketplace",
    "permissions.widened": "{plugin} {version} asks for more permissions: {widened}",
}


@dataclass(frozen=True)
class Notification:
    """One event to one tenant's webhook: delivered or not, and the receiver's last status."""

    tenant: str
    type: str
    subject: str
    target: str
    """The webhook as scheme://host/… (never its path, query or credentials)."""
    ok: bool
    detail: str
    status: int | None = None
    attempts: int = 0
    event_id: str = ""
    change: CatalogChange | None = None
    """What was sent (for the outbox; not part of the JSON result)."""

    def line(self) -> str:
        """One line for people."""
        verdict = "delivered" if self.ok else "NOT delivered"
        tries = f", {self.attempts} attempts" if self.attempts > 1 else ""
        return (
            f"{verdict}: {self.type} {self.subject} to {self.tenant} "
            f"({self.target}: {self.detail}{tries})"
        )

    def as_json(self) -> dict[str, Any]:
        """The result as JSON data."""
        return {
            "tenant": self.tenant,
            "type": self.type,
            "subject": self.subject,
            "target": self.target,
            "ok": self.ok,
            "status": self.status,
            "detail": self.detail,
            "attempts": self.attempts,
        }


def wants(subscription: Subscription, change: CatalogChange) -> bool:
    """Whether the subscription asks to hear about this change."""
    if change.event not in subscription.events:
        return False
    if subscription.plugins and change.plugin not in subscription.plugins:
        return False
    return not subscription.categories or bool(
        set(subscription.categories) & set(change.categories)
    )


def event_of(change: CatalogChange) -> Event:
    """The change as a notification event (family `market`)."""
    widened = ", ".join(change.permissions_widened)
    text = TEXTS[change.event].format(plugin=change.plugin, version=change.version, widened=widened)
    return Event(
        kind=change.event,
        subject=f"{change.plugin}@{change.version}",
        text=text,
        data={
            "plugin": change.plugin,
            "version": change.version,
            "categories": list(change.categories),
            "permissionsWidened": list(change.permissions_widened),
            "commit": change.commit,
        },
        severity="warning" if change.event == "permissions.widened" else "info",
        family="market",
    )


def sign(body: bytes, key: str) -> str:
    """The signature header's value: `sha256=` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def deliver(
    changes: Sequence[CatalogChange],
    subscriptions: Subscriptions | None,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    environ: Mapping[str, str] | None = None,
    post: Callable[..., Delivery] = post_webhook,
    timeout: float = DEFAULT_TIMEOUT,
    attempts: int = DEFAULT_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> list[Notification]:
    """Send every change to every subscription that wants it; one result per delivery.

    `post` sends one body (default `notify.post_webhook`); `sleep` waits between attempts.
    """
    wanted = [
        Outgoing(sub, change, new_id())
        for sub in (subscriptions.subscriptions if subscriptions else [])
        for change in changes
        if wants(sub, change)
    ]
    return send(
        wanted, now=now, environ=environ, post=post, timeout=timeout, attempts=attempts, sleep=sleep
    )


@dataclass(frozen=True)
class Outgoing:
    """One change for one subscription, under a CloudEvent id (kept when it is sent again)."""

    subscription: Subscription
    change: CatalogChange
    event_id: str


def send(
    outgoing: Sequence[Outgoing],
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    environ: Mapping[str, str] | None = None,
    post: Callable[..., Delivery] = post_webhook,
    timeout: float = DEFAULT_TIMEOUT,
    attempts: int = DEFAULT_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Notification]:
    """POST each outgoing event to its subscription's webhook; one result each, in order."""
    env = os.environ if environ is None else environ
    if not outgoing:
        return []
    results: list[Notification] = []
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for item in outgoing:
            event = event_of(item.change)
            body = json.dumps(cloudevent(event, event_id=item.event_id, time=now()))
            sent = _send(client, item.subscription, event, body, env, post, attempts, sleep)
            results.append(replace(sent, event_id=item.event_id, change=item.change))
    return results


def _send(
    client: httpx.Client,
    sub: Subscription,
    event: Event,
    body: str,
    environ: Mapping[str, str],
    post: Callable[..., Delivery],
    attempts: int,
    sleep: Callable[[float], None],
) -> Notification:
    url = str(sub.webhook)

    def result(ok: bool, detail: str, status: int | None = None, tries: int = 0) -> Notification:
        return Notification(
            sub.tenant, event.type, event.subject, redact_url(url), ok, detail, status, tries
        )

    try:
        check_url(url)
    except InputError as error:
        return result(False, error.message)
    headers = {}
    if sub.secret_env is not None:
        key = environ.get(sub.secret_env)
        if not key:
            return result(False, f"not sent: ${sub.secret_env} (its signing key) is not set")
        headers[SIGNATURE_HEADER] = sign(body.encode(), key)
    delivery = None
    for attempt in range(1, max(1, attempts) + 1):
        if attempt > 1:
            sleep(min(4.0, 0.5 * 2 ** (attempt - 2)))
        delivery = post(client, url, "cloudevents", body, CLOUDEVENTS_CONTENT_TYPE, headers)
        if delivery.ok or not delivery.retryable:
            break
    assert delivery is not None
    return result(delivery.ok, delivery.detail, delivery.status, attempt)


def read_changes(path: Path) -> list[CatalogChange]:
    """Catalog changes from a JSON file: a list of {event, plugin, version, categories,
    permissionsWidened, commit} objects, or the whole result of `catalog sync --format json`
    (InputError naming the entry when one is bad)."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CHANGES_BYTES + 1)
    except OSError as error:
        raise FileSystemError("read", path, error) from None
    if len(raw) > MAX_CHANGES_BYTES:
        raise InputError(f"{path} is larger than {MAX_CHANGES_BYTES} bytes")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise InputError(f"{path} is not JSON: {error}") from None
    if isinstance(data, dict) and "changes" in data:  # what `catalog sync --format json` prints
        data = data["changes"]
    if not isinstance(data, list):
        raise InputError(
            f"{path} must hold a JSON list of catalog changes",
            hint="write the output of `px-market catalog sync --format json`, or its changes",
        )
    return [_change(item, f"{path} entry {index}") for index, item in enumerate(data, 1)]


def _change(item: object, where: str) -> CatalogChange:
    if not isinstance(item, dict):
        raise InputError(f"{where} is not an object")
    event, plugin, version = item.get("event"), item.get("plugin"), item.get("version")
    if event not in MARKET_EVENTS:
        raise InputError(f"{where}: event must be one of {', '.join(MARKET_EVENTS)}")
    if not isinstance(plugin, str) or not isinstance(version, str) or not plugin or not version:
        raise InputError(f"{where}: plugin and version must be non-empty strings")
    categories = item.get("categories", [])
    widened = item.get("permissionsWidened", [])
    commit = item.get("commit")
    if not _strings(categories) or not _strings(widened):
        raise InputError(f"{where}: categories and permissionsWidened must be lists of strings")
    if commit is not None and not isinstance(commit, str):
        raise InputError(f"{where}: commit must be a string")
    return CatalogChange(event, plugin, version, tuple(categories), tuple(widened), commit)


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)
