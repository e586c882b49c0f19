"""Alerts for refused or rolled-back imports: a JSON POST to a webhook (Slack-compatible)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

ALERT_TIMEOUT = 10.0


def post_alert(
    url: str,
    event: str,
    message: str,
    *,
    now: datetime,
    details: dict[str, Any] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> str | None:
    """POST the alert; None when delivered, else why not (an alert never hides the refusal)."""
    payload = {
        "type": f"powerx.import.{event}",
        "time": now.isoformat(),
        "text": f"PowerX offline import {event}: {message}",
        **(details or {}),
    }
    try:
        with httpx.Client(transport=transport, timeout=ALERT_TIMEOUT) as client:
            response = client.post(url, json=payload)
    except httpx.HTTPError as error:
        return f"webhook unreachable: {type(error).__name__}"
    if response.status_code >= 300:
        return f"webhook answered {response.status_code}"
    return None
