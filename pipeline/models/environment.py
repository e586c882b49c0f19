"""`environments/<env>/environment.yaml` and `environments/<env>/plugins/<plugin>.yaml`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from pipeline.models.base import Document, Name, SemVer, Strict
from pipeline.models.digest import Sha256Digest
from pipeline.models.plugin import Permission


class Tenant(Strict):
    """A customer organisation served by this environment."""

    id: Name
    name: str | None = None
    grants: dict[Name, list[Permission]] = Field(
        default_factory=dict,
        description="plugin -> the permissions this tenant granted it (`px-admin grant`); "
        "a plugin declaring more is not activated for the tenant",
    )


class Environment(Document):
    """One environment of the promotion order, with its tenants and tenant groups."""

    kind: Literal["Environment"]
    name: Name
    position: int = Field(ge=0, description="index in the promotion order (0 = first)")
    description: str = ""
    tenants: list[Tenant] = Field(default_factory=list)
    groups: dict[Name, list[Name]] = Field(
        default_factory=dict, description="named tenant groups, e.g. a canary group"
    )

    @model_validator(mode="after")
    def _groups_name_known_tenants(self) -> Environment:
        ids = [tenant.id for tenant in self.tenants]
        duplicates = sorted({tenant for tenant in ids if ids.count(tenant) > 1})
        if duplicates:
            raise ValueError(f"tenant ids must be unique: {', '.join(duplicates)}")
        for group, members in self.groups.items():
            unknown = sorted(set(members) - set(ids))
            if unknown:
                raise ValueError(f"group {group!r} names unknown tenants: {', '.join(unknown)}")
        return self


class Canary(Strict):
    """A rollout in progress: the new version runs for `weight`% of tenants beside the stable."""

    version: SemVer
    digest: Sha256Digest = Field(description="sha256 of the canary release's artifact")
    weight: int = Field(ge=0, le=100, description="percent of tenants (buckets 0-99) on the canary")
    step: int = Field(ge=0, description="index of the current step in the rollout policy's steps")
    group: Name | None = Field(
        default=None,
        description="an explicit tenant group of environment.yaml that runs the canary "
        "instead of the hash buckets",
    )
    started_at: datetime = Field(alias="startedAt", description="when the rollout started")
    step_started_at: datetime = Field(
        alias="stepStartedAt", description="when the current step started"
    )
    holding_since: datetime | None = Field(
        default=None,
        alias="holdingSince",
        description="when the analysis started to hold (no data, provider down); "
        "cleared by the next pass",
    )


class PluginState(Document):
    """The desired state of one plugin in one environment."""

    kind: Literal["PluginState"]
    plugin: Name
    version: SemVer = Field(description="the stable version every tenant runs outside a canary")
    digest: Sha256Digest = Field(description="sha256 of the release's artifact, as a cross-check")
    enabled: bool = Field(
        default=True, description="false keeps the plugin installed but inactive on hosts"
    )
    canary: Canary | None = Field(default=None, description="a rollout in progress, if any")
