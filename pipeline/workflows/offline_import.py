"""`powerx plugin import --offline`: import a bundle; alert when it is refused or rolled back,
and log every attempt in the store (`pipeline.bundle.import_log`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace

from pydantic import ValidationError

from pipeline.bundle.alerts import import_notifier, post_alert
from pipeline.bundle.import_log import record_attempt
from pipeline.bundle.importer import (
    BundleFacts,
    ImportRequest,
    ImportResult,
    Pause,
    Scanner,
    import_bundle,
)
from pipeline.bundle.progress import Progress
from pipeline.errors import GateError, PowerXError
from pipeline.models.bundle import ImportAttempt, ImportResultName

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    """An alert that was due: its event and the deliveries that failed (empty: all went out)."""

    event: str
    problems: list[str]


@dataclass(frozen=True)
class ImportOutcome:
    """The import's result, or the refusal it ended in; the alert it raised, if any; and
    why it could not be logged, if it could not."""

    result: ImportResult | None
    refused: GateError | None
    alert: Alert | None
    log_problem: str | None = None

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
    scanner: Scanner | None = None,
    source: str | None = None,
) -> ImportOutcome:
    """Import; a refusal or a rollback alerts `webhooks` and the shared ones ($POWERX_WEBHOOKS).

    A refusal comes back in `refused` (the caller raises it after showing the alert);
    an alert that cannot be delivered never hides what it reports. Every attempt is logged
    in the store; a log that cannot be written is a warning (stderr and `log_problem`),
    never another result. Other errors (bad input, exit 2) are logged and raised.
    `source` names a bundle read by `scanner` (e.g. its oci:// location) in the log and
    the alerts, instead of the file name.
    """
    shown = source or str(request.bundle)
    facts = BundleFacts()
    try:
        result = import_bundle(
            request, progress=progress, pause=pause, facts=facts, scanner=scanner
        )
    except GateError as error:
        problem = _log_attempt(
            request, facts, "refused", _reason(error), error.exit_code, source=source
        )
        alert = _alert(webhooks, environ, "refused", error.message, shown)
        return ImportOutcome(None, error, alert, problem)
    except PowerXError as error:
        _log_attempt(request, facts, "refused", _reason(error), error.exit_code, source=source)
        raise
    alert = None
    reason = None
    if not result.ok:
        reason = "; ".join(result.rollbacks) or "deploy failed"
        alert = _alert(webhooks, environ, "rolled-back", reason, shown)
    outcome = ImportOutcome(result, None, alert)
    name: ImportResultName = "imported" if result.ok else "rolled back"
    problem = _log_attempt(
        request, facts, name, reason, outcome.exit_code, result.commit, source=source
    )
    return replace(outcome, log_problem=problem)


def _reason(error: PowerXError) -> str:
    where = f"{error.location}: " if error.location else ""
    return where + error.message


def _log_attempt(
    request: ImportRequest,
    facts: BundleFacts,
    result: ImportResultName,
    reason: str | None,
    exit_code: int,
    commit: str | None = None,
    *,
    source: str | None = None,
) -> str | None:
    """Log the attempt in the store; the warning (also on stderr) when it cannot be."""
    try:
        attempt = ImportAttempt(
            time=request.now,
            bundle_file=source or request.bundle.name,
            digest=facts.digest,
            sequence=facts.sequence,
            environment=facts.environment,
            signer=facts.signer,
            operator=request.operator,
            result=result,
            reason=reason,
            exit_code=exit_code,
            commit=commit,
        )
    except ValidationError as error:
        problem: str | None = f"warning: the import was not logged ({error.errors()[0]['msg']})"
    else:
        problem = record_attempt(request.store, attempt)
    if problem is not None:
        _log.warning(problem)
    return problem


def _alert(
    urls: list[str], environ: Mapping[str, str], event: str, message: str, bundle: str
) -> Alert | None:
    notifier = import_notifier(urls, environ)
    if not notifier.configured:
        return None
    return Alert(event, post_alert(notifier, event, message, bundle=bundle))
