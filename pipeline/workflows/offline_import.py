"""`powerx plugin import --offline`: import a bundle; alert when it is refused or rolled back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline.bundle.alerts import import_notifier, post_alert
from pipeline.bundle.importer import ImportRequest, ImportResult, Pause, import_bundle
from pipeline.bundle.progress import Progress
from pipeline.errors import GateError


@dataclass(frozen=True)
class Alert:
    """An alert that was due: its event and the deliveries that failed (empty: all went out)."""

    event: str
    problems: list[str]


@dataclass(frozen=True)
class ImportOutcome:
    """The import's result, or the refusal it ended in; and the alert it raised, if any."""

    result: ImportResult | None
    refused: GateError | None
    alert: Alert | None

    @property
    def exit_code(self) -> int:
        """0 imported and deployed, 1 refused or rolled back."""
        return 0 if self.result is not None and self.result.ok else 1


def import_offline(
    request: ImportRequest,
    *,
    webhooks: list[str],
    environ: Mapping[str, str],
    progress: Progress,
    pause: Pause,
) -> ImportOutcome:
    """Import; a refusal or a rollback alerts `webhooks` and the shared ones ($POWERX_WEBHOOKS).

    A refusal comes back in `refused` (the caller raises it after showing the alert);
    an alert that cannot be delivered never hides what it reports.
    """
    try:
        result = import_bundle(request, progress=progress, pause=pause)
    except GateError as error:
        alert = _alert(webhooks, environ, "refused", error.message, request.bundle)
        return ImportOutcome(None, error, alert)
    alert = None
    if not result.ok:
        message = "; ".join(result.rollbacks) or "deploy failed"
        alert = _alert(webhooks, environ, "rolled-back", message, request.bundle)
    return ImportOutcome(result, None, alert)


def _alert(
    urls: list[str], environ: Mapping[str, str], event: str, message: str, bundle: Path
) -> Alert | None:
    notifier = import_notifier(urls, environ)
    if not notifier.configured:
        return None
    return Alert(event, post_alert(notifier, event, message, bundle=str(bundle)))
