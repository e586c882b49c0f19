"""The local tenant views: the local host's plugin store (`powerx serve --plugin-store`).

`/local` lists each tenant of the store with every plugin the store has active (the host
runs each for every tenant): version and revision (source folder, git commit, digests:
`pipeline.host.sources`), enabled or not (`tenant.yaml`), granted against declared
permissions, and, when a host serves the store (`host/host.json` names it and its process
lives), its health from the host's own status (`/_powerx/status`) and a link that opens
the plugin's UI through it. `/local/{tenant}/{plugin}` adds the dev loop's rounds
(`host/dev/<plugin>.jsonl`, newest first) and the tail of the instance's log. Every read
is bounded; nothing is written.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError

from pipeline.errors import InputError
from pipeline.models.host import DevIteration, HostInfo, TenantSettings
from pipeline.names import unknown_name
from pipeline.web.views import Data, NotFoundError, Params, Source, View

MAX_HOST_INFO_BYTES = 16 * 1024
MAX_STATUS_BYTES = 1024 * 1024
"""Largest status answer read from a running host."""
STATUS_TIMEOUT = 2.0
MAX_DEV_BYTES = 256 * 1024
"""The end of the dev loop's log that is read (its newest rounds)."""
MAX_ITERATIONS = 100
MAX_LOG_BYTES = 64 * 1024
"""The end of an instance's log that is shown."""
MAX_LISTED = 500
"""Tenants, and plugins per tenant, listed at most."""
NO_STORE_HINT = "start the console with a store: powerx serve --plugin-store DIR"


def host_status(store: Path) -> Data:
    """The host serving `store`, from `host/host.json` and its status answer.

    `running` is False when no host announced itself or its process is gone (a host killed
    hard leaves its file behind); `error` says why a live host's status could not be read.
    """
    from pipeline.host.server import INFO_FILE
    from pipeline.jsonio import read_json_model

    none: Data = {"running": False, "url": None, "tenants": [], "plugins": [], "error": None}
    try:
        info = read_json_model(
            store / INFO_FILE,
            HostInfo,
            max_bytes=MAX_HOST_INFO_BYTES,
            what="the host's address file",
            hint="it is rewritten when the host starts again",
        )
    except InputError as error:
        return {**none, "error": error.message}
    if info is None or not process_lives(info.pid):
        return none
    found: Data = {**none, "running": True, "url": info.url, "tenants": list(info.tenants)}
    try:
        status = fetch_status(info.url)
    except (OSError, ValueError) as error:
        return {**found, "error": f"the host at {info.url} did not answer its status: {error}"}
    return {**found, "plugins": status}


def process_lives(pid: int) -> bool:
    """Whether a process `pid` exists (signal 0 checks without sending anything)."""
    if pid <= 0:  # 0 and below name process groups, not a process
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fetch_status(url: str) -> list[dict[str, Any]]:
    """The plugins a running host reports at `url`/_powerx/status (bounded, short timeout)."""
    import httpx

    try:
        with (
            httpx.Client(trust_env=False, timeout=STATUS_TIMEOUT) as client,
            client.stream("GET", f"{url}/_powerx/status") as answer,
        ):
            if answer.status_code != 200:
                raise ValueError(f"HTTP {answer.status_code}")
            body = b""
            for chunk in answer.iter_bytes():
                body += chunk
                if len(body) > MAX_STATUS_BYTES:
                    raise ValueError(f"the status is larger than {MAX_STATUS_BYTES} bytes")
    except httpx.HTTPError as error:
        raise ValueError(f"{type(error).__name__}: {error}") from None
    data = json.loads(body)
    plugins = data.get("plugins") if isinstance(data, dict) else None
    if not isinstance(plugins, list):
        raise ValueError("the status lists no plugins")
    return [item for item in plugins if isinstance(item, dict)]


def installed(store: Path) -> dict[str, Data]:
    """Every plugin active in the store: version, revision, source record, declared permissions."""
    from pipeline.agent.store import PluginStore
    from pipeline.errors import PowerXError
    from pipeline.host.sources import read_records, read_version

    plugins = PluginStore(store)
    found: dict[str, Data] = {}
    for name in plugins.active_names()[:MAX_LISTED]:
        folder = plugins.active_target(name)
        entry: Data = {"plugin": name, "version": None, "revision": None, "digest": None}
        entry |= {"declared": [], "source": None, "error": None}
        try:
            version = read_version(plugins, name, folder) if folder is not None else None
        except PowerXError as error:
            found[name] = {**entry, "error": error.message}
            continue
        if version is None:
            found[name] = {**entry, "error": "the store cannot tell which version is active"}
            continue
        entry |= {
            "version": version.version,
            "revision": version.revision,
            "digest": f"sha256:{version.digest}",
            "declared": list(version.manifest.permissions),
        }
        with contextlib.suppress(InputError):
            record = read_records(plugins, name).records.get(version.digest)
            if record is not None:
                entry["source"] = {
                    "dir": record.source_dir,
                    "digest": f"sha256:{record.source_digest}",
                    "gitCommit": record.git_commit,
                    "gitDirty": record.git_dirty,
                    "installedAt": record.installed_at.isoformat(),
                }
        found[name] = entry
    return found


def plugin_row(tenant: str, settings: TenantSettings, plugin: Data, host: Data) -> Data:
    """One plugin as one tenant sees it: enabled, grants, health, links and actions."""
    name = plugin["plugin"]
    granted = sorted(settings.granted(name))
    declared = plugin["declared"]
    health = None
    for item in host["plugins"]:
        if (item.get("tenant"), item.get("plugin")) == (tenant, name):
            health = {key: item.get(key) for key in ("state", "detail", "revision", "restarts")}
    served = host["running"] and tenant in host["tenants"]
    query = urlencode({"tenant": tenant, "plugin": name})
    enabled = settings.enabled(name)
    return {
        **plugin,
        "enabled": enabled,
        "granted": granted,
        "missing": [p for p in declared if p not in granted],
        "undeclared": [p for p in granted if p not in declared],
        "health": health,
        "ui": f"{host['url']}/t/{tenant}/p/{name}/" if served else None,
        "detail": f"/local/{tenant}/{name}",
        "action": {
            "name": "disable" if enabled else "enable",
            "url": f"/actions/{'disable' if enabled else 'enable'}?{query}",
        },
    }


def tenant_settings(store: Path) -> list[tuple[str, TenantSettings | InputError]]:
    """Each tenant of the store with its settings, or why they cannot be read."""
    from pipeline.host.tenants import TenantStore

    tenants = TenantStore(store)
    found: list[tuple[str, TenantSettings | InputError]] = []
    for name in tenants.names()[:MAX_LISTED]:
        try:
            found.append((name, tenants.load(name)))
        except InputError as error:
            found.append((name, error))
    return found


def no_store() -> Data:
    return {
        "store": None,
        "exists": False,
        "message": "no plugin store was given to the console",
        "hint": NO_STORE_HINT,
        "host": None,
        "tenants": [],
        "install": None,
    }


def local_data(source: Source, params: Params) -> Data:
    """Every tenant of the local host's store and its plugins."""
    store = source.store
    if store is None:
        return no_store()
    host = host_status(store)
    plugins = installed(store)
    tenants: list[Data] = []
    for name, settings in tenant_settings(store):
        if isinstance(settings, InputError):
            where = f"{settings.location}: " if settings.location else ""
            error = f"{where}{settings.message}"
            tenants.append(
                {"name": name, "title": name, "error": error, "served": False, "plugins": []}
            )
            continue
        rows = [plugin_row(name, settings, p, host) for p in plugins.values()]
        served = host["running"] and name in host["tenants"]
        tenants.append(
            {
                "name": name,
                "title": settings.title,
                "error": None,
                "served": served,
                "plugins": rows,
            }
        )
    return {
        "store": str(store),
        "exists": store.is_dir(),
        "message": None if tenants else "the store has no tenant yet",
        "hint": None
        if tenants
        else f"install a plugin for one: powerx plugin install --from DIR --tenant dev "
        f"--plugin-store {store}",
        "host": host,
        "tenants": tenants,
        "install": {"url": "/actions/install", "tenants": [t["name"] for t in tenants]},
    }


def local_plugin_data(source: Source, params: Params) -> Data:
    """One plugin of one tenant: its row, the dev loop's rounds and its log's tail."""
    store = source.store
    if store is None:
        raise NotFoundError("no plugin store was given to the console", hint=NO_STORE_HINT)
    tenant = params.text("tenant") or ""
    plugin = params.text("plugin") or ""
    known = dict(tenant_settings(store))
    settings = known.get(tenant)
    if settings is None:
        raise not_found("tenant", tenant, known, f"in the plugin store {store}")
    if isinstance(settings, InputError):
        raise settings
    plugins = installed(store)
    if plugin not in plugins:
        raise not_found("plugin", plugin, plugins, f"active in the plugin store {store}")
    host = host_status(store)
    iterations, unreadable = dev_iterations(store, plugin)
    log = instance_log(store, tenant, plugin)
    return {
        "store": str(store),
        "tenant": tenant,
        "host": host,
        "plugin": plugin_row(tenant, settings, plugins[plugin], host),
        "iterations": iterations,
        "unreadableIterations": unreadable,
        "log": log,
    }


def not_found(kind: str, name: str, known: Any, where: str) -> NotFoundError:
    """The 404 for an unknown tenant or plugin, with "did you mean"."""
    error = unknown_name(kind, name, list(known), where=where)
    return NotFoundError(error.message, hint=error.hint)


def tail(path: Path, limit: int) -> tuple[bytes, bool]:
    """The last `limit` bytes of a file, and whether anything before them was left out."""
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - limit))
        return handle.read(limit), size > limit


def dev_iterations(store: Path, plugin: str) -> tuple[list[Data], int]:
    """The dev loop's newest rounds of `plugin`, newest first, and how many lines were bad."""
    from pipeline.host.dev import DEV_LOG_DIR

    path = store / DEV_LOG_DIR / f"{plugin}.jsonl"
    try:
        raw, cut = tail(path, MAX_DEV_BYTES)
    except FileNotFoundError:
        return [], 0
    lines = raw.splitlines()
    if cut and lines:
        lines = lines[1:]  # the first line read may be the end of a longer one
    rounds: list[Data] = []
    unreadable = 0
    for line in reversed(lines):
        if len(rounds) == MAX_ITERATIONS:
            break
        try:
            found = DevIteration.model_validate_json(line)
        except ValidationError:
            unreadable += 1
            continue
        rounds.append(found.model_dump(mode="json", by_alias=True))
    return rounds, unreadable


def instance_log(store: Path, tenant: str, plugin: str) -> Data | None:
    """The tail of the newest log of `plugin`'s instances for `tenant` (None: no log)."""
    from pipeline.host.host import LOGS_DIR

    folder = store / LOGS_DIR / tenant / plugin
    try:
        logs = [p for p in folder.iterdir() if p.suffix == ".log" and p.is_file()]
        if not logs:
            return None
        newest = max(logs, key=lambda p: p.stat().st_mtime)
        raw, cut = tail(newest, MAX_LOG_BYTES)
    except OSError:  # none yet, or removed while read (a prune, a new run)
        return None
    return {
        "path": str(newest),
        "text": raw.decode("utf-8", errors="replace"),
        "truncated": cut,
        "limit": MAX_LOG_BYTES,
    }


VIEWS = [
    View("local", "/local", local_data, "local.html", "Local host"),
    View(
        "local-plugin",
        "/local/{tenant}/{plugin}",
        local_plugin_data,
        "local_plugin.html",
        "Local plugin",
        listed=False,
    ),
]
