"""The local PowerX host's files in a plugin store: tenants, grants, usage, sources, dev log.

```
<store>/tenants/<tenant>/tenant.yaml           TenantSettings: who the tenant is, what it granted
<store>/tenants/<tenant>/data/<plugin>/<key>   a plugin's data for that tenant (host API)
<store>/tenants/<tenant>/secrets/<plugin>.json the secrets an operator set for a plugin (0600)
<store>/host/usage/<plugin>.json               PermissionUsage: what the plugin's calls needed
<store>/host/sources/<plugin>.json             SourceRecord per installed digest: what was built
<store>/host/dev/<plugin>.jsonl                one DevIteration per line
<store>/host/logs/<tenant>/<plugin>/<run>.log  a running instance's stdout and stderr
<store>/host/host.json                         HostInfo: the running host's address
```
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from pipeline.models.base import Document, Name, SemVer, Strict
from pipeline.models.digest import Sha256Digest
from pipeline.models.plugin import Permission

DATA_KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
"""A tenant-data key: a safe file name (no '/', no leading '.')."""

SECRET_NAME_PATTERN = DATA_KEY_PATTERN


class TenantSettings(Document):
    """`tenants/<tenant>/tenant.yaml`: a tenant of the local host and what it granted."""

    kind: Literal["Tenant"]
    name: Name
    display_name: str = Field(
        default="", alias="displayName", max_length=200, description="shown to people"
    )
    grants: dict[Name, list[Permission]] = Field(
        default_factory=dict,
        description="plugin -> the permissions this tenant granted it (the host API enforces them)",
    )
    grants_from: Name | None = Field(
        default=None,
        alias="grantsFrom",
        description="the environment whose git grants `powerx agent sync` carried here "
        "(px-admin grant changes them; a local grant lasts until the next sync)",
    )
    disabled: list[Name] = Field(
        default_factory=list,
        description="plugins installed for this tenant that the host does not run "
        "(`powerx plugin disable --tenant`); enabling one removes it from the list",
    )

    @property
    def title(self) -> str:
        """The display name, else the name."""
        return self.display_name or self.name

    def granted(self, plugin: str) -> frozenset[str]:
        """The permissions granted to `plugin`."""
        return frozenset(self.grants.get(plugin, ()))

    def enabled(self, plugin: str) -> bool:
        """Whether the host runs `plugin` for this tenant (not in `disabled`)."""
        return plugin not in self.disabled


class ObservedCall(Strict):
    """One kind of host-API call a plugin made, and whether the grant allowed it."""

    call: str = Field(description="method and route, e.g. 'GET /v1/tenant'")
    tenant: Name
    allowed: bool
    first_seen: datetime = Field(alias="firstSeen")


class PermissionUsage(Document):
    """`host/usage/<plugin>.json`: the permissions a plugin's host-API calls needed."""

    kind: Literal["PermissionUsage"]
    plugin: Name
    used: dict[Permission, list[ObservedCall]] = Field(
        default_factory=dict, description="permission -> the calls that needed it"
    )


class SourceRecord(Strict):
    """What one installed version was built from."""

    version: SemVer
    digest: Sha256Digest = Field(description="the package's sha256")
    source_dir: str = Field(alias="sourceDir", description="the plugin folder it came from")
    source_digest: Sha256Digest = Field(
        alias="sourceDigest", description="sha256 over the source files (names and contents)"
    )
    git_commit: str | None = Field(
        default=None, alias="gitCommit", description="HEAD of the folder's git repo, if any"
    )
    git_dirty: bool = Field(default=False, alias="gitDirty")
    installed_at: datetime = Field(alias="installedAt")

    @property
    def revision(self) -> str:
        """A short, human name of what runs: version, package digest, source and commit."""
        text = f"{self.version}@{self.digest[:12]} (src {self.source_digest[:8]}"
        if self.git_commit:
            text += f", git {self.git_commit[:8]}{'+dirty' if self.git_dirty else ''}"
        return text + ")"


class SourceRecords(Document):
    """`host/sources/<plugin>.json`: the source record of each installed digest."""

    kind: Literal["SourceRecords"]
    plugin: Name
    records: dict[str, SourceRecord] = Field(
        default_factory=dict, description="package sha256 -> what it was built from"
    )


DevOutcome = Literal["active", "build-failed", "install-failed", "activation-failed", "unchanged"]


class DevIteration(Strict):
    """One line of `host/dev/<plugin>.jsonl`: one save -> build -> install -> serve round."""

    iteration: int = Field(ge=1)
    started_at: datetime = Field(alias="startedAt")
    changed: list[str] = Field(description="the files whose change started it (first few)")
    outcome: DevOutcome
    revision: str | None = Field(default=None, description="what was built (None: no build)")
    serving: str | None = Field(description="the revision served afterwards")
    durations: dict[str, float] = Field(description="seconds per step: build, pack, ...")
    total_seconds: float = Field(alias="totalSeconds")
    error: str | None = None
    log: str | None = Field(default=None, description="the plugin's output of this round")


class HostInfo(Strict):
    """`host/host.json`: where the host serving this store listens (for people and tools)."""

    pid: int
    url: str
    tenants: list[Name]
