"""`px-admin grant|revoke`: which permissions a tenant gives a plugin, in environment.yaml.

A grant may only give what the plugin's plugin.yaml declares at the version the environment
runs (`pipeline.policy.admin_rules`, checked on the candidate commit): so a grant needs the
artifact store that holds the package. `--from-template FILE` grants what the least-privilege
template of `px-plugin permissions template` lists (its YAML or its JSON output).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from pipeline.admin.plan import AdminEdit, Editor
from pipeline.admin.yamledit import EnvironmentFile
from pipeline.errors import FileSystemError, InputError, Location
from pipeline.models.plugin import PERMISSIONS
from pipeline.names import require_name, require_plugin, unknown_name
from pipeline.snapshot import Snapshot
from pipeline.yamlio import parse_yaml

MAX_TEMPLATE_BYTES = 64 * 1024
_TEMPLATE_PLUGIN = re.compile(r"^# Minimum-privilege permissions of ([a-z0-9-]+),", re.MULTILINE)


@dataclass(frozen=True)
class Template:
    """A least-privilege template: the plugin it is for (if it says) and its permissions."""

    path: str
    plugin: str | None
    permissions: tuple[str, ...]


def read_template(path: Path) -> Template:
    """A template written by `px-plugin permissions template` (YAML, or `--format json`)."""
    try:
        raw = path.read_bytes()[: MAX_TEMPLATE_BYTES + 1]
    except OSError as error:
        raise FileSystemError("read", path, error) from None
    if len(raw) > MAX_TEMPLATE_BYTES:
        raise InputError(f"{path} is larger than {MAX_TEMPLATE_BYTES} bytes: not a template")
    text = raw.decode("utf-8", errors="replace")
    data: object
    plugin = None
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise InputError(
                f"invalid JSON: {error.msg}", location=Location(str(path), error.lineno)
            ) from None
        if isinstance(data, dict) and isinstance(data.get("plugin"), str):
            plugin = data["plugin"]
    else:
        data = parse_yaml(raw, str(path)).data
        found = _TEMPLATE_PLUGIN.search(text)
        plugin = found.group(1) if found else None
    permissions = data.get("permissions") if isinstance(data, dict) else None
    if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
        raise InputError(
            "not a permissions template: it has no 'permissions' list",
            location=Location(str(path)),
            hint="write one with px-plugin permissions template DIR -o FILE",
        )
    for permission in permissions:
        require_permission(permission, location=Location(str(path)))
    return Template(str(path), plugin, tuple(permissions))


def require_permission(permission: str, *, location: Location | None = None) -> str:
    """`permission` when plugin.yaml's vocabulary has it; "did you mean" otherwise."""
    return require_name("permission", permission, PERMISSIONS, location=location)


def grant(env: str, tenant: str, plugin: str, permissions: Sequence[str]) -> Editor:
    """Let `plugin` use `permissions` for `tenant` in `env` (added to what it has)."""
    if not permissions:
        raise InputError("name at least one PERMISSION to grant (or --from-template FILE)")
    for permission in permissions:
        require_permission(permission)

    def edit(snapshot: Snapshot) -> AdminEdit:
        file = EnvironmentFile.read(snapshot, env)
        entry = file.tenant(tenant)
        require_plugin(snapshot, plugin)
        grants = entry.get("grants")
        if not isinstance(grants, CommentedMap):
            grants = entry["grants"] = CommentedMap()
        granted = grants.get(plugin)
        if not isinstance(granted, CommentedSeq):
            granted = grants[plugin] = CommentedSeq(granted or [])
        new = [p for p in dict.fromkeys(permissions) if p not in granted]
        if not new:
            raise InputError(
                f"{plugin} already has {', '.join(permissions)} for tenant {tenant} in {env}",
                hint="nothing to change",
            )
        granted.extend(new)
        return AdminEdit(
            "grant",
            (env,),
            f"Grant {plugin} {', '.join(new)} for tenant {tenant} in {env}",
            {file.path: file.content()},
            plugin=plugin,
            extra={"Tenant": tenant, "Permissions": ",".join(new)},
        )

    return edit


def revoke(env: str, tenant: str, plugin: str, permissions: Sequence[str] = ()) -> Editor:
    """Take `permissions` (all of them when none are named) back from `plugin` for `tenant`."""
    for permission in permissions:
        require_permission(permission)

    def edit(snapshot: Snapshot) -> AdminEdit:
        file = EnvironmentFile.read(snapshot, env)
        entry = file.tenant(tenant)
        grants = entry.get("grants") or {}
        if plugin not in grants:
            raise unknown_name(
                "granted plugin",
                plugin,
                list(grants),
                where=f"for tenant {tenant} in {env}",
                hint=f"granted to {tenant}: {', '.join(grants) or 'nothing'}",
            )
        granted = grants[plugin]
        for permission in permissions:
            if permission not in granted:
                raise unknown_name(
                    "granted permission",
                    permission,
                    list(granted),
                    where=f"of {plugin} for tenant {tenant} in {env}",
                )
        taken = list(dict.fromkeys(permissions)) or list(granted)
        for permission in taken:
            granted.remove(permission)
        if not granted:
            del grants[plugin]
        if not grants:
            del entry["grants"]
        return AdminEdit(
            "revoke",
            (env,),
            f"Revoke {plugin} {', '.join(taken)} for tenant {tenant} in {env}",
            {file.path: file.content()},
            () if granted else (f"{plugin} has no grant left for tenant {tenant}",),
            plugin=plugin,
            extra={"Tenant": tenant, "Permissions": ",".join(taken)},
        )

    return edit
