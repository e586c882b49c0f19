"""Progress of a long copy, in bytes: the bundle code reports, the CLI draws (or not)."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Told the total once it is known, then every count of bytes just copied."""

    def start(self, total: int) -> None:
        """The number of bytes the whole operation will copy."""

    def __call__(self, count: int) -> None:
        """`count` more bytes were copied."""


class NoProgress:
    """Reports nowhere (the default, and what non-interactive runs use)."""

    def start(self, total: int) -> None:
        return None

    def __call__(self, count: int) -> None:
        return None


no_progress = NoProgress()
