"""`policies/windows.yaml`: when each environment may go live, and when it is frozen."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time
from typing import Literal

from pydantic import AwareDatetime, Field, field_validator, model_validator

from pipeline.models.base import Document, Name, Strict

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Window(Strict):
    """A weekly go-live window, in the policy's time zone."""

    days: list[Day] = Field(min_length=1)
    start: time
    end: time

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end <= self.start:
            raise ValueError("end must be later than start (windows do not cross midnight)")
        return self

    def contains(self, local: datetime) -> bool:
        """Whether a local time falls inside the window."""
        return DAYS[local.weekday()] in self.days and self.start <= local.time() < self.end


class Freeze(Strict):
    """A period in which nothing goes live without a recorded emergency override."""

    start: AwareDatetime = Field(alias="from")
    end: AwareDatetime = Field(alias="to")
    reason: str = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> Freeze:
        if self.end <= self.start:
            raise ValueError("'to' must be later than 'from'")
        return self


class EnvironmentWindows(Strict):
    """The go-live rules of one environment (no windows listed: any time)."""

    windows: list[Window] = Field(default_factory=list)
    freezes: list[Freeze] = Field(default_factory=list)


class ChangeWindows(Document):
    """Go-live windows and freezes per environment: `policies/windows.yaml`."""

    kind: Literal["ChangeWindows"]
    timezone: str = Field(default="UTC", description="an IANA zone, e.g. Europe/Berlin")
    environments: dict[Name, EnvironmentWindows] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)"
            ) from None
        return value

    def closed_because(self, env: str, now: datetime) -> str | None:
        """Why `env` may not go live at `now`, or None when it may."""
        rules = self.environments.get(env)
        if rules is None:
            return None
        for freeze in rules.freezes:
            if freeze.start <= now < freeze.end:
                return f"{env} is frozen until {freeze.end.isoformat()}: {freeze.reason}"
        local = now.astimezone(zoneinfo.ZoneInfo(self.timezone))
        if rules.windows and not any(window.contains(local) for window in rules.windows):
            return f"{env} is outside its go-live windows ({local:%a %H:%M} {self.timezone})"
        return None
