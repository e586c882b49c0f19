"""The local host's tenants in a plugin store: settings and grants, data, secrets.

Each tenant is a folder `<store>/tenants/<tenant>/` (layout: `pipeline.models.host`). Its
`tenant.yaml` is edited by `powerx plugin grant|revoke` and `powerx plugin enable|disable
--tenant` (comments and order kept, written atomically) and may be edited by hand; the
host reads it again whenever it changes. A plugin's data and secrets live under the
tenant, one namespace per plugin, so one plugin's token never reaches another plugin's
data or another tenant's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import FileSystemError, InputError, Location
from pipeline.fsutil import atomic_write, fs_errors, make_dirs
from pipeline.jsonio import load_json
from pipeline.models.base import API_VERSION, NAME_PATTERN
from pipeline.models.host import DATA_KEY_PATTERN, SECRET_NAME_PATTERN, TenantSettings
from pipeline.models.load import parse_document
from pipeline.models.plugin import PERMISSIONS
from pipeline.names import require_name
from pipeline.yamlio import MAX_YAML_BYTES, dump_yaml, parse_yaml

TENANTS_DIR = "tenants"
SETTINGS_FILE = "tenant.yaml"
MAX_DATA_BYTES = 1024 * 1024
"""Largest value a plugin may store under one tenant-data key."""
MAX_SECRETS_BYTES = 64 * 1024

_NAME = re.compile(NAME_PATTERN)
_KEY = re.compile(DATA_KEY_PATTERN)
_SECRET = re.compile(SECRET_NAME_PATTERN)


def check_tenant_name(name: str) -> str:
    """`name` when it is a valid tenant name; InputError otherwise."""
    if not _NAME.fullmatch(name):
        raise InputError(
            f"{name!r} is not a valid tenant name",
            hint="use lower-case letters, digits and '-' (at most 63, no leading '-')",
        )
    return name


def check_data_key(key: str) -> str:
    """`key` when it is a valid tenant-data key; InputError otherwise."""
    if not _KEY.fullmatch(key):
        raise InputError(
            f"{key!r} is not a valid data key",
            hint="use letters, digits, '.', '_' and '-' (at most 128, not starting with '.')",
        )
    return key


@dataclass(frozen=True)
class GrantChange:
    """What a grant or revoke did: the permissions now granted, and whether anything changed."""

    tenant: str
    plugin: str
    granted: tuple[str, ...]
    changed: bool
    created: bool
    path: Path
    grants_from: str | None = None
    """The environment whose git grants the agent carries here (a local change lasts only
    until its next sync)."""


class TenantStore:
    """The tenants of the plugin store rooted at `root`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def tenants_dir(self) -> Path:
        return self.root / TENANTS_DIR

    def settings_path(self, tenant: str) -> Path:
        return self.tenants_dir / check_tenant_name(tenant) / SETTINGS_FILE

    def names(self) -> list[str]:
        """Every tenant with a settings file, sorted."""
        if not self.tenants_dir.is_dir():
            return []
        return sorted(
            p.name
            for p in self.tenants_dir.iterdir()
            if _NAME.fullmatch(p.name) and (p / SETTINGS_FILE).is_file()
        )

    def exists(self, tenant: str) -> bool:
        return self.settings_path(tenant).is_file()

    def load(self, tenant: str) -> TenantSettings:
        """The tenant's settings; InputError naming the known tenants when there is none."""
        path = self.settings_path(tenant)
        raw = self._read_settings(path)
        if raw is None:
            require_name(
                "tenant",
                tenant,
                self.names(),
                where=f"in the plugin store {self.root}",
                hint=f"create it: powerx plugin grant PLUGIN PERMISSION --tenant {tenant} "
                f"--plugin-store {self.root}",
            )
            raise AssertionError("unreachable: the tenant is unknown")  # pragma: no cover
        settings = parse_document(raw, str(path), TenantSettings)
        if settings.name != tenant:
            raise InputError(
                f"the settings of tenant {tenant!r} name {settings.name!r}",
                location=Location(str(path)),
                hint=f"set 'name: {tenant}' (the folder's name is the tenant's)",
            )
        return settings

    def ensure(self, tenant: str, *, display_name: str = "") -> bool:
        """Create the tenant (no grants) unless it exists; whether it was created."""
        path = self.settings_path(tenant)
        if path.is_file():
            return False
        data = {"apiVersion": API_VERSION, "kind": "Tenant", "name": tenant}
        if display_name:
            data["displayName"] = display_name
        data_text = "# A tenant of the local PowerX host: `powerx plugin grant` edits it.\n"
        data_text += dump_yaml({**data, "grants": {}})
        atomic_write(path, data_text.encode())
        return True

    def set_grant(
        self, tenant: str, plugin: str, permissions: list[str], *, grant: bool
    ) -> GrantChange:
        """Grant (or revoke) `permissions` to `plugin` for `tenant` in one atomic write.

        The tenant is created when granting to one that does not exist yet.
        """
        if not _NAME.fullmatch(plugin):
            raise InputError(f"{plugin!r} is not a valid plugin name")
        for permission in permissions:
            require_name("permission", permission, PERMISSIONS)
        created = self.ensure(tenant) if grant else False
        path = self.settings_path(tenant)
        current = self.load(tenant)
        before = list(current.grants.get(plugin, []))
        if grant:
            after = before + [p for p in permissions if p not in before]
        else:
            after = [p for p in before if p not in permissions]
        managed = current.grants_from
        if after == before:
            return GrantChange(tenant, plugin, tuple(after), False, created, path, managed)

        def edit(tree: Any) -> None:
            if tree.get("grants") is None:
                tree["grants"] = {}
            if after:
                tree["grants"][plugin] = after
            else:
                del tree["grants"][plugin]

        self._edit(tenant, edit)
        return GrantChange(tenant, plugin, tuple(after), True, created, path, managed)

    def replace_grants(
        self,
        tenant: str,
        grants: Mapping[str, Sequence[str]],
        *,
        environment: str,
        display_name: str = "",
    ) -> bool:
        """Make the tenant's grants exactly `grants`: git's, of `environment`, carried by
        the agent sync (`grantsFrom` names it, so refusals name `px-admin grant`).

        The tenant is created when missing; its other settings (`disabled`) are kept. One
        atomic write, only when something differs; whether the file was written.
        """
        created = self.ensure(tenant, display_name=display_name)
        wanted = {plugin: list(perms) for plugin, perms in sorted(grants.items()) if perms}
        settings = self.load(tenant)
        current = {plugin: list(perms) for plugin, perms in settings.grants.items()}
        if current == wanted and settings.grants_from == environment:
            return created

        def edit(tree: Any) -> None:
            tree["grantsFrom"] = environment
            tree["grants"] = wanted

        self._edit(tenant, edit)
        return True

    def set_disabled(self, tenant: str, plugin: str, disabled: bool) -> bool:
        """Put `plugin` on (or take it off) the tenant's `disabled` list; whether it changed.

        One atomic write that keeps the file's comments and order; the tenant must exist.
        """
        current = self.load(tenant)
        if (plugin in current.disabled) == disabled:
            return False

        def edit(tree: Any) -> None:
            names = [str(name) for name in tree.get("disabled") or [] if name != plugin]
            if disabled:
                names.append(plugin)
            if names:
                tree["disabled"] = sorted(names)
            elif "disabled" in tree:
                del tree["disabled"]

        self._edit(tenant, edit)
        return True

    def _edit(self, tenant: str, edit: Callable[[Any], None]) -> None:
        """Apply `edit` to the parsed tenant.yaml (comments kept) and write it atomically,
        once the result still validates."""
        path = self.settings_path(tenant)
        raw = self._read_settings(path) or b""
        tree = parse_yaml(raw, str(path)).tree
        edit(tree)
        content = dump_yaml(tree).encode()
        parse_document(content, str(path), TenantSettings)  # still valid before it is written
        atomic_write(path, content)

    # -- data and secrets --------------------------------------------------------------

    def data_path(self, tenant: str, plugin: str, key: str) -> Path:
        return self.tenants_dir / tenant / "data" / plugin / check_data_key(key)

    def read_data(self, tenant: str, plugin: str, key: str) -> bytes | None:
        """The stored value, or None when the key was never written."""
        path = self.data_path(tenant, plugin, key)
        try:
            with path.open("rb") as handle:
                return handle.read(MAX_DATA_BYTES + 1)[:MAX_DATA_BYTES]
        except FileNotFoundError:
            return None
        except OSError as error:
            raise FileSystemError("read", path, error) from None

    def write_data(self, tenant: str, plugin: str, key: str, value: bytes) -> None:
        """Store `value` under `key` (atomically); InputError when it is too large."""
        if len(value) > MAX_DATA_BYTES:
            raise InputError(f"a value may hold at most {MAX_DATA_BYTES} bytes")
        atomic_write(self.data_path(tenant, plugin, key), value, mode=0o600)

    def secrets_path(self, tenant: str, plugin: str) -> Path:
        return self.tenants_dir / tenant / "secrets" / f"{plugin}.json"

    def read_secret(self, tenant: str, plugin: str, name: str) -> str | None:
        """The secret `name` an operator set for `plugin`, or None."""
        return self._secrets(tenant, plugin).get(name)

    def set_secret(self, tenant: str, plugin: str, name: str, value: str) -> None:
        """Set one secret (the file is readable by its owner only)."""
        if not _SECRET.fullmatch(name):
            raise InputError(
                f"{name!r} is not a valid secret name",
                hint="use letters, digits, '.', '_' and '-' (at most 128)",
            )
        self.load(tenant)  # the tenant must exist
        secrets = {**self._secrets(tenant, plugin), name: value}
        text = json.dumps(secrets, indent=2, sort_keys=True).encode()
        if len(text) > MAX_SECRETS_BYTES:
            raise InputError(f"a plugin's secrets may take at most {MAX_SECRETS_BYTES} bytes")
        path = self.secrets_path(tenant, plugin)
        make_dirs(path.parent)
        with fs_errors("protect", path.parent):
            path.parent.chmod(0o700)
        atomic_write(path, text, mode=0o600)

    def _secrets(self, tenant: str, plugin: str) -> dict[str, str]:
        path = self.secrets_path(tenant, plugin)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as error:
            raise FileSystemError("read", path, error) from None
        data = load_json(raw, str(path), max_bytes=MAX_SECRETS_BYTES)
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise InputError(
                "a secrets file must map names to strings", location=Location(str(path))
            )
        return {str(k): str(v) for k, v in data.items()}

    @staticmethod
    def _read_settings(path: Path) -> bytes | None:
        try:
            with path.open("rb") as handle:
                return handle.read(MAX_YAML_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise FileSystemError("read", path, error) from None
