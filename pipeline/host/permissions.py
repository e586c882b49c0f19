"""Least privilege on the local host: what each host-API call needs, the check, the record.

`ROUTES` is the one table of which permission each host-API route needs. `authorize`
allows a call when the plugin declares that permission in its plugin.yaml AND the tenant
granted it; a refusal carries the JSON body the host answers (403) and what to do (the grant
command, and the declaration when it is missing). `UsageRecorder`
remembers, per plugin, which permissions its calls needed (allowed or not), and
`permission_template` turns that into the minimum-privilege template.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.fsutil import atomic_write
from pipeline.jsonio import read_json_model
from pipeline.models.base import API_VERSION
from pipeline.models.host import ObservedCall, PermissionUsage

ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/v1/tenant"): "tenant-data:read",
    ("GET", "/v1/tenant/data/{key}"): "tenant-data:read",
    ("PUT", "/v1/tenant/data/{key}"): "tenant-data:write",
    ("GET", "/v1/secrets/{name}"): "secrets:read",
}
"""(method, route) -> the permission the call needs."""

OBSERVABLE = frozenset(ROUTES.values())
"""Permissions the host sees being used (its API); the others (network, file system) it
cannot observe, so the template keeps them as declared instead of calling them unused."""

USAGE_DIR = Path("host") / "usage"
MAX_USAGE_BYTES = 1024 * 1024


def grant_command(plugin: str, permission: str, tenant: str, store: Path) -> str:
    """The command that grants `permission` to `plugin` for `tenant` in `store`."""
    return f"powerx plugin grant {plugin} {permission} --tenant {tenant} --plugin-store {store}"


@dataclass(frozen=True)
class Refusal:
    """A call outside the grant: the permission it needed and how to grant it."""

    permission: str
    call: str
    plugin: str
    tenant: str
    declared: bool
    grant: str

    granted: bool = False

    @property
    def message(self) -> str:
        text = f"{self.plugin} may not call {self.call} for tenant {self.tenant}: it needs "
        if self.granted:
            return text + f"{self.permission!r}, which its plugin.yaml does not declare"
        text += f"{self.permission!r}, which the tenant has not granted"
        if not self.declared:
            text += f" (and {self.plugin}'s plugin.yaml does not declare it)"
        return text

    def body(self) -> dict[str, Any]:
        """The JSON body of the 403 answer."""
        body: dict[str, Any] = {
            "error": "forbidden",
            "message": self.message,
            "permission": self.permission,
            "call": self.call,
            "plugin": self.plugin,
            "tenant": self.tenant,
        }
        if not self.granted:
            body["grant"] = self.grant
        if not self.declared:
            body["declare"] = f"add '{self.permission}' to permissions in plugin.yaml"
        return body


def authorize(
    call: tuple[str, str],
    *,
    plugin: str,
    tenant: str,
    granted: frozenset[str],
    declared: frozenset[str],
    store: Path,
) -> Refusal | None:
    """None when the grant allows `call` (method, route); else the refusal."""
    permission = ROUTES[call]
    if permission in granted and permission in declared:
        return None
    return Refusal(
        permission=permission,
        call=" ".join(call),
        plugin=plugin,
        tenant=tenant,
        declared=permission in declared,
        grant=grant_command(plugin, permission, tenant, store),
        granted=permission in granted,
    )


class UsageRecorder:
    """Records which permissions each plugin's calls needed, in `<store>/host/usage/`.

    A file is rewritten (atomically) only when a plugin makes a kind of call it had not
    made before, so a busy plugin costs nothing after its first calls.
    """

    def __init__(self, store: Path, clock: Callable[[], datetime] | None = None) -> None:
        self.folder = Path(store) / USAGE_DIR
        self.clock = clock or (lambda: datetime.now(UTC))
        self._usage: dict[str, PermissionUsage] = {}
        self._lock = threading.Lock()

    def record(self, plugin: str, tenant: str, call: tuple[str, str], *, allowed: bool) -> None:
        """Note that `plugin` made `call` for `tenant` (allowed or refused)."""
        permission = ROUTES[call]
        text = " ".join(call)
        with self._lock:
            usage = self._usage.get(plugin) or self.load(plugin)
            calls = usage.used.get(permission, [])
            if any(c.call == text and c.tenant == tenant and c.allowed == allowed for c in calls):
                self._usage[plugin] = usage
                return
            seen = ObservedCall(call=text, tenant=tenant, allowed=allowed, first_seen=self.clock())
            used = {**usage.used, permission: [*calls, seen]}
            usage = usage.model_copy(update={"used": dict(sorted(used.items()))})
            self._usage[plugin] = usage
            text_out = usage.model_dump_json(by_alias=True, indent=2) + "\n"
            atomic_write(self.path(plugin), text_out.encode())

    def path(self, plugin: str) -> Path:
        return self.folder / f"{plugin}.json"

    def load(self, plugin: str) -> PermissionUsage:
        """What was recorded for `plugin` so far (empty when nothing was)."""
        found = read_json_model(
            self.path(plugin),
            PermissionUsage,
            max_bytes=MAX_USAGE_BYTES,
            what="the usage record",
            hint="delete it; the host records the calls again",
        )
        return found or PermissionUsage(
            api_version=API_VERSION, kind="PermissionUsage", plugin=plugin
        )


@dataclass(frozen=True)
class PermissionTemplate:
    """The minimum-privilege permissions of a plugin, from what its calls used."""

    plugin: str
    declared: tuple[str, ...]
    used: dict[str, tuple[str, ...]]
    """permission -> the calls that needed it"""

    @property
    def minimum(self) -> tuple[str, ...]:
        """What the plugin should declare: the permissions used, and the unobservable ones."""
        return tuple(sorted({*self.used, *self.unobserved}))

    @property
    def unused(self) -> tuple[str, ...]:
        """Declared, observable, and never used: over-privileged."""
        return tuple(p for p in self.declared if p in OBSERVABLE and p not in self.used)

    @property
    def unobserved(self) -> tuple[str, ...]:
        """Declared permissions the host cannot see used (kept as declared)."""
        return tuple(p for p in self.declared if p not in OBSERVABLE)

    @property
    def undeclared(self) -> tuple[str, ...]:
        """Used but not declared: the host would refuse these calls."""
        return tuple(p for p in sorted(self.used) if p not in self.declared)

    @property
    def ok(self) -> bool:
        """Whether plugin.yaml already declares exactly what is used."""
        return not self.unused and not self.undeclared

    def to_json(self) -> dict[str, Any]:
        return {
            "plugin": self.plugin,
            "permissions": list(self.minimum),
            "used": {p: list(calls) for p, calls in sorted(self.used.items())},
            "declared": list(self.declared),
            "unused": list(self.unused),
            "unobserved": list(self.unobserved),
            "undeclared": list(self.undeclared),
        }

    def to_yaml(self) -> str:
        """The template as a `permissions:` block to paste into plugin.yaml, with reasons."""
        lines = [
            f"# Minimum-privilege permissions of {self.plugin}, from the host-API calls it made.",
        ]
        if not self.used:
            lines.append("# No host-API call was observed: run the plugin and use it first.")
        lines.append("permissions:" if self.minimum else "permissions: []")
        for permission in self.minimum:
            flag = "  # UNDECLARED: the host refuses it" if permission in self.undeclared else ""
            if permission in self.unobserved:
                flag = "  # not observable by the host: kept as declared, check it by hand"
            lines.append(f"  - {permission}{flag}")
            lines.extend(f"    #   needed by {call}" for call in self.used.get(permission, ()))
        for permission in self.unused:
            lines.append(f"# - {permission}  # OVER-PRIVILEGED: declared but never used")
        return "\n".join(lines) + "\n"


def permission_template(usage: PermissionUsage, declared: list[str]) -> PermissionTemplate:
    """The template for a plugin that declares `declared` and whose calls are in `usage`."""
    used = {
        permission: tuple(sorted({call.call for call in calls}))
        for permission, calls in usage.used.items()
    }
    return PermissionTemplate(usage.plugin, tuple(declared), used)
