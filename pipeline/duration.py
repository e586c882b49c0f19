"""The one duration format: seconds, or days/hours/minutes/seconds such as `30d`, `1h30m`, `90s`."""

from __future__ import annotations

import math
import re

PATTERN = r"^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$"
"""`[Nd][Nh][Nm][Ns]`, each N a decimal number; a bare number is seconds."""
HINT = "use seconds or e.g. '30s', '5m', '1h30m'"
_DURATION = re.compile(PATTERN)
_UNITS = (86400.0, 3600.0, 60.0, 1.0)


def parse_duration(text: str) -> float:
    """A duration in seconds; ValueError naming the format for anything else."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        match = _DURATION.match(text)
        if not text or match is None or not any(match.groups()):
            raise ValueError(f"not a duration: {HINT}") from None
        seconds = sum(
            float(part) * unit for part, unit in zip(match.groups(), _UNITS, strict=True) if part
        )
    if not math.isfinite(seconds):
        raise ValueError(f"not a duration: {HINT}")
    return seconds
