"""ledger-sync: reconcile a tenant's ledger entries against its bank feed."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

__version__ = "1.0.1"


@dataclass(frozen=True)
class Entry:
    """One booking: an id shared by ledger and feed, and an amount in the tenant's currency."""

    id: str
    amount: Decimal


@dataclass
class Report:
    """What differs between ledger and feed."""

    missing_in_feed: list[str] = field(default_factory=list)
    missing_in_ledger: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """Whether ledger and feed agree."""
        return not (self.missing_in_feed or self.missing_in_ledger or self.mismatched)


def parse_line(line: str) -> Entry:
    """Parse `id;amount`, e.g. `INV-1;120.50`."""
    parts = [part.strip() for part in line.split(";")]
    if len(parts) != 2 or not parts[0]:
        raise ValueError(f"expected 'id;amount', got {line!r}")
    try:
        amount = Decimal(parts[1])
    except InvalidOperation:
        raise ValueError(f"not an amount: {parts[1]!r}") from None
    return Entry(parts[0], amount)


def parse(text: str) -> list[Entry]:
    """Parse a whole export; blank lines and `#` comments are skipped."""
    return [
        parse_line(line)
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def _lines(entries: list[Entry]) -> bytes:
    """The entries as `id;amount` lines in id order: what both checksums are taken over."""
    ordered = sorted(entries, key=lambda e: e.id)
    return "".join(f"{entry.id};{entry.amount}\n" for entry in ordered).encode()


def checksum(entries: list[Entry]) -> str:
    """A sha256 over the entries in id order, to tell the feed a batch arrived whole."""
    return hashlib.sha256(_lines(entries)).hexdigest()


def legacy_checksum(entries: list[Entry]) -> str:
    """The md5 the old bank gateway still expects, over the same lines as `checksum`.

    Only a transport label for that gateway: md5 is not collision resistant, so nothing in
    ledger-sync trusts it (`sync` compares with `checksum`), and it is marked as not used
    for security.
    """
    return hashlib.md5(_lines(entries), usedforsecurity=False).hexdigest()


def reconcile(ledger: list[Entry], feed: list[Entry]) -> Report:
    """Compare two lists of entries by id and amount."""
    booked = {entry.id: entry.amount for entry in ledger}
    paid = {entry.id: entry.amount for entry in feed}
    report = Report()
    for entry_id in sorted(booked.keys() | paid.keys()):
        if entry_id not in paid:
            report.missing_in_feed.append(entry_id)
        elif entry_id not in booked:
            report.missing_in_ledger.append(entry_id)
        elif booked[entry_id] != paid[entry_id]:
            report.mismatched.append(entry_id)
    return report


def to_json(report: Report) -> str:
    """The report as JSON, for the tenant's finance dashboard."""
    return json.dumps(
        {
            "clean": report.clean,
            "missingInFeed": report.missing_in_feed,
            "missingInLedger": report.missing_in_ledger,
            "mismatched": report.mismatched,
        },
        sort_keys=True,
    )


def export(
    report: Report,
    command: Sequence[str],
    *,
    retries: int = 3,
    delay: float = 1.0,
    timeout: float = 30.0,
) -> int:
    """Pipe the report to the tenant's export hook, retrying when the hook fails.

    `command` is the hook's argument list, e.g. `["/opt/hooks/export", "--tenant", "t1"]`.
    It runs without a shell, so nothing in it is ever interpreted as shell syntax. Returns
    the attempt that succeeded.
    """
    if isinstance(command, str) or not command:
        raise ValueError("the export hook must be a non-empty argument list, not a string")
    if retries < 1:
        raise ValueError(f"retries must be at least 1, got {retries}")
    argv = list(command)
    payload = to_json(report)
    error = ""
    for attempt in range(1, retries + 1):
        try:
            result = subprocess.run(
                argv, input=payload, text=True, capture_output=True, check=False, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            error = f"timed out after {timeout}s"
        else:
            if result.returncode == 0:
                return attempt
            error = result.stderr.strip() or f"exit status {result.returncode}"
        if attempt < retries:
            time.sleep(delay * attempt)
    raise RuntimeError(f"export hook failed {retries} times: {error}")


def sync(ledger_text: str, feed_text: str, hook: Sequence[str] | None = None) -> Report:
    """Parse both exports, reconcile them, and hand a dirty report to the export hook."""
    ledger, feed = parse(ledger_text), parse(feed_text)
    if checksum(feed) == checksum(ledger):
        return Report()
    report = reconcile(ledger, feed)
    if hook and not report.clean:
        export(report, hook)
    elif not report.clean:
        for entry_id in report.mismatched:
            print(f"mismatch: {entry_id}")
    return report


def summarize(report: Report) -> str:
    """One line for the tenant's status page."""
    if report.clean:
        return "ledger and feed agree"
    parts = []
    if report.missing_in_feed:
        parts.append(f"{len(report.missing_in_feed)} missing in feed")
    if report.missing_in_ledger:
        parts.append(f"{len(report.missing_in_ledger)} missing in ledger")
    if report.mismatched:
        parts.append(f"{len(report.mismatched)} mismatched")
    return ", ".join(parts)
