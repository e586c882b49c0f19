"""`policies/approvals.yaml` and `policies/teams.yaml`: who must approve a promotion."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from pipeline.models.base import Document, Name, Sha256, Strict
from pipeline.models.keyids import public_key_id

LOGIN_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$"
"""A GitHub-style login."""


class EnvironmentApprovals(Strict):
    """What promoting into one environment needs."""

    required: int = Field(default=1, ge=0, description="how many distinct approvers")
    teams: list[Name] = Field(
        default_factory=list,
        description="approvers must belong to one of these teams (empty: to any team)",
    )


class ApprovalPolicy(Document):
    """Approvals per environment: `policies/approvals.yaml`."""

    kind: Literal["ApprovalPolicy"]
    environments: dict[Name, EnvironmentApprovals] = Field(default_factory=dict)
    sla_hours: float = Field(
        default=24, gt=0, alias="slaHours", description="a request waits at most this long"
    )
    stale_on_new_commits: bool = Field(
        default=True,
        alias="staleOnNewCommits",
        description="an approval given before the last change of the request no longer counts",
    )

    def for_environment(self, env: str) -> EnvironmentApprovals:
        """The rules of `env` (an environment not listed needs no approval)."""
        return self.environments.get(env, EnvironmentApprovals(required=0))


class TeamMember(Strict):
    """A person who may approve, with the key that signs their approvals (if any)."""

    login: str = Field(pattern=LOGIN_PATTERN)
    key_id: Sha256 | None = Field(default=None, alias="keyId")
    public_key: str | None = Field(default=None, alias="publicKey", description="PEM, P-256")

    @model_validator(mode="after")
    def _key_matches(self) -> TeamMember:
        if (self.key_id is None) != (self.public_key is None):
            raise ValueError("give both keyId and publicKey, or neither")
        if self.public_key is not None and public_key_id(self.public_key.encode()) != self.key_id:
            raise ValueError("keyId does not match publicKey")
        return self


class Team(Strict):
    """A team: its members, and optionally the GitHub team it mirrors (`org/slug`)."""

    members: list[TeamMember] = Field(default_factory=list)
    github: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]+/[A-Za-z0-9_.-]+$")


class Teams(Document):
    """Teams and their members: `policies/teams.yaml`."""

    kind: Literal["Teams"]
    teams: dict[Name, Team] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_login_per_key(self) -> Teams:
        owners: dict[str, set[str]] = {}
        for team in self.teams.values():
            for member in team.members:
                if member.key_id is not None:
                    owners.setdefault(member.key_id, set()).add(member.login)
        shared = sorted(key for key, logins in owners.items() if len(logins) > 1)
        if shared:
            logins = ", ".join(sorted(owners[shared[0]]))
            raise ValueError(f"one approval key belongs to several logins ({logins}): {shared[0]}")
        return self

    def teams_of(self, login: str) -> set[str]:
        """The teams `login` belongs to."""
        return {
            name
            for name, team in self.teams.items()
            if any(member.login == login for member in team.members)
        }

    def member_by_key(self, key_id: str) -> TeamMember | None:
        """The member whose approval key has this id."""
        for team in self.teams.values():
            for member in team.members:
                if member.key_id == key_id:
                    return member
        return None
