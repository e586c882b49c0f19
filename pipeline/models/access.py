"""`policies/console.yaml`: which team holds which console role in which environments."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import Field

from pipeline.models.base import Document, Name, Strict

ROLES = ("viewer", "developer", "release-manager", "admin")
"""The console's roles, each allowed what the ones before it are."""

Role = Literal["viewer", "developer", "release-manager", "admin"]


class AccessRule(Strict):
    """One team's role, in some environments or in all of them."""

    team: Name = Field(description="a team of policies/teams.yaml")
    role: Role
    environments: list[Name] = Field(
        default_factory=list, description="where the role holds (empty: every environment)"
    )

    def covers(self, environment: str) -> bool:
        """True when the rule holds in `environment`."""
        return not self.environments or environment in self.environments


class ConsoleAccess(Document):
    """Console roles per team and environment: `policies/console.yaml`.

    A user in no listed team is a viewer everywhere.
    """

    kind: Literal["ConsoleAccess"]
    roles: list[AccessRule] = Field(default_factory=list)

    def role_in(self, teams: Iterable[str], environment: str) -> str:
        """The highest role that one of `teams` holds in `environment` (viewer if none)."""
        held = set(teams)
        return highest(r.role for r in self.roles if r.team in held and r.covers(environment))

    def highest_role(self, teams: Iterable[str]) -> str:
        """The highest role that one of `teams` holds in any environment (viewer if none)."""
        held = set(teams)
        return highest(r.role for r in self.roles if r.team in held)


def highest(roles: Iterable[str]) -> str:
    """The highest of `roles` in ROLES' order; viewer for none."""
    return max(roles, key=ROLES.index, default="viewer")


def allows(held: str, needed: str) -> bool:
    """True when the role `held` is `needed` or above it."""
    return ROLES.index(held) >= ROLES.index(needed)
