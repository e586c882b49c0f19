"""Render the audit trail as a table for people or JSON for machines."""

from __future__ import annotations

import dataclasses
import json

from pipeline.promotion.audit import AuditEntry

_COLUMNS = ("time", "commit", "action", "plugin", "version", "env", "who", "summary")


def render_audit_table(entries: list[AuditEntry]) -> str:
    """A fixed-width table, newest first; manual commits are marked as such."""
    if not entries:
        return "no entries\n"
    rows = [_COLUMNS] + [_row(entry) for entry in entries]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines) + "\n"


def _row(entry: AuditEntry) -> tuple[str, ...]:
    who = entry.operator or entry.author.split(" <")[0]
    action = entry.action + (" (by hand)" if entry.manual else "")
    return (
        entry.time.strftime("%Y-%m-%d %H:%M"),
        entry.commit[:10],
        action,
        entry.plugin or "-",
        entry.version or "-",
        entry.environment or "-",
        who,
        entry.summary[:60],
    )


def render_audit_json(entries: list[AuditEntry]) -> str:
    """The entries as a JSON list."""
    data = [{**dataclasses.asdict(entry), "time": entry.time.isoformat()} for entry in entries]
    return json.dumps(data, indent=2) + "\n"
