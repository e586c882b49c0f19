"""Alerts for refused or rolled-back imports, through the shared webhooks of `pipeline.notify`.

Each alert is a CloudEvents event of type `io.powerx.import.<refused|rolled-back>` (severity
`alert`) to `--alert-webhook` and to `$POWERX_WEBHOOKS`, and a Slack-compatible message to
`$POWERX_SLACK_WEBHOOKS`. A failed delivery is reported, never raised: an alert never hides
the refusal it reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import httpx

from pipeline.notify import (
    SLACK_WEBHOOKS_ENV,
    WEBHOOKS_ENV,
    Event,
    Notifier,
    urls_from_env,
)


def import_notifier(
    webhooks: Iterable[str],
    environ: Mapping[str, str],
    *,
    transport: httpx.BaseTransport | None = None,
) -> Notifier:
    """The webhooks an import alerts: the given ones plus the shared environment lists."""
    return Notifier(
        [*webhooks, *urls_from_env(environ, WEBHOOKS_ENV)],
        urls_from_env(environ, SLACK_WEBHOOKS_ENV),
        transport=transport,
    )


def post_alert(notifier: Notifier, event: str, message: str, *, bundle: str) -> list[str]:
    """Send one alert; a line per delivery that failed (empty: all delivered)."""
    alert = Event(
        kind=event,
        family="import",
        subject=bundle,
        text=f"PowerX offline import {event}: {message}",
        data={"bundle": bundle},
        severity="alert",
    )
    return [
        f"{delivery.target}: {delivery.detail}"
        for delivery in notifier.send(alert)
        if not delivery.ok
    ]
