"""Commit messages: a subject, a body and our `PowerX-Key: value` trailers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

TRAILER_PREFIX = "PowerX-"


@dataclass(frozen=True)
class Trailers:
    """Structured facts about a commit, written as `PowerX-Key: value` trailers."""

    action: str
    plugin: str | None = None
    version: str | None = None
    environment: str | None = None
    operator: str | None = None
    ci_run: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """The trailer block, one `Key: value` per line, in a fixed order."""
        pairs = [
            ("Action", self.action),
            ("Plugin", self.plugin),
            ("Version", self.version),
            ("Environment", self.environment),
            ("Operator", self.operator),
            ("CI-Run", self.ci_run),
            *self.extra.items(),
        ]
        return [f"{TRAILER_PREFIX}{key}: {value}" for key, value in pairs if value]


def compose_message(subject: str, body: str, trailers: Trailers) -> str:
    """A commit message: subject, optional body, and the trailer block last."""
    parts = [subject.strip()]
    if body.strip():
        parts.append(body.strip())
    parts.append("\n".join(trailers.lines()))
    return "\n\n".join(parts) + "\n"


def read_trailers(message: str) -> dict[str, str]:
    """Our trailers from a commit message, keyed without the `PowerX-` prefix."""
    result: dict[str, str] = {}
    last_paragraph = message.strip().split("\n\n")[-1]
    for line in last_paragraph.splitlines():
        key, sep, value = line.partition(": ")
        if sep and key.startswith(TRAILER_PREFIX):
            result[key[len(TRAILER_PREFIX) :]] = value.strip()
    return result
