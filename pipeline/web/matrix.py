"""The matrix view: plugins x environments at the repo's head, and why each held plugin waits.

Columns are the promotion order (policies/promotion.yaml), then any other environment of
the repo by its environment.yaml position. Each cell holds the stable version, the canary
(version, weight, step) while a rollout is in progress, and whether the plugin is enabled.
A plugin's next move is shown in the cell it would move into, with the promotion
planner's one-line reason when it is held (`judged_next_promotion`: the same rules as
`powerx promote`, judged once, nothing written). The page links each version to its release page
(/release/<plugin>/<version>), each canary to its canary page (/canary/<plugin>/<env>),
and each held reason to the release page of the held version. Rows are filtered (`q`:
part of the plugin's name; `env`: one environment's column and the plugins it runs) and
paged; reasons are worked out only for the page's plugins, so a repo of thousands of
plugins costs one page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from pipeline import layout
from pipeline.errors import InputError
from pipeline.models.policy import PolicySet
from pipeline.names import deployed_plugins, environment_names, plugin_names, require_environment
from pipeline.promotion.promote import judged_next_promotion
from pipeline.snapshot import Snapshot
from pipeline.web.views import Data, Params, Source, View

PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
MAX_PAGE = 100_000


def environments(snapshot: Snapshot) -> list[str]:
    """The promotion order, then the repo's other environments by position (then name)."""
    order = list(snapshot.policies().promotion.order)
    others = []
    for env in environment_names(snapshot) - set(order):
        loaded = snapshot.environment(env)
        others.append((loaded.model.position if loaded is not None else 0, env))
    return order + [env for _, env in sorted(others)]


def one_line(error: InputError) -> str:
    """An error as one line: where (file:line), then what."""
    return f"{error.location}: {error.message}" if error.location else error.message


def cell(snapshot: Snapshot, env: str, plugin: str) -> Data:
    """What `env` runs of `plugin`: stable version (with its release page when it has a
    manifest), canary, enabled (or the file's error)."""
    try:
        loaded = snapshot.plugin_state(env, plugin)
    except InputError as error:
        return {
            "version": None,
            "release": None,
            "enabled": None,
            "canary": None,
            "error": one_line(error),
        }
    if loaded is None:
        return {"version": None, "release": None, "enabled": None, "canary": None, "error": None}
    state = loaded.model
    canary = state.canary
    released = snapshot.git.file_id(snapshot.commit, layout.release_path(plugin, state.version))
    return {
        "version": state.version,
        "release": f"/release/{quote(plugin)}/{quote(state.version)}" if released else None,
        "enabled": state.enabled,
        "canary": (
            {"version": canary.version, "weight": canary.weight, "step": canary.step}
            if canary is not None
            else None
        ),
        "error": None,
    }


def next_move(
    snapshot: Snapshot, plugin: str, now: datetime, policies: PolicySet | None = None
) -> Data | None:
    """Where `plugin` moves next and whether it may now (the planner's reason if not)."""
    try:
        judged = judged_next_promotion(snapshot, plugin, now, policies=policies)
    except InputError as error:  # a file the planner cannot read: say so in the row
        return {
            "version": None,
            "from": None,
            "into": None,
            "ready": False,
            "reason": one_line(error),
        }
    if judged is None:
        return None
    promotion = judged.promotion
    return {
        "version": promotion.version,
        "from": promotion.source,
        "into": promotion.target,
        "ready": judged.held is None,
        "reason": judged.held,
    }


def matrix_data(source: Source, params: Params) -> Data:
    """A page of the matrix: environments, rows of cells, filters and page links."""
    size = params.number("size", PAGE_SIZE, low=1, high=MAX_PAGE_SIZE)
    page = params.number("page", 1, low=1, high=MAX_PAGE)
    query, env = params.text("q"), params.text("env")
    snapshot = Snapshot(source.git, source.head)
    columns = environments(snapshot)
    if env is not None:
        require_environment(snapshot, env)
        columns = [env]
        names = deployed_plugins(snapshot, env)
    else:
        names = plugin_names(snapshot)
    if query is not None:
        names = {name for name in names if query.lower() in name.lower()}
    matching = sorted(names)
    shown = matching[(page - 1) * size : page * size]
    now = datetime.now(UTC)
    policies = snapshot.policies()
    rows = []
    for plugin in shown:
        move = next_move(snapshot, plugin, now, policies)
        rows.append(
            {
                "plugin": plugin,
                "audit": "/audit?" + urlencode({"plugin": plugin}),
                "cells": {column: cell(snapshot, column, plugin) for column in columns},
                "next": move,
            }
        )
    given = {name: value for name, value in (("q", query), ("env", env)) if value is not None}

    def link(path: str, **extra: Any) -> str:
        values = {**given, **({"size": size} if size != PAGE_SIZE else {}), **extra}
        return path + ("?" + urlencode(values) if values else "")

    return {
        "head": source.head.id,
        "environments": columns,
        "filters": {"q": query, "env": env},
        "page": page,
        "size": size,
        "total": len(matching),
        "plugins": rows,
        "previous": link("/matrix", page=page - 1) if page > 1 else None,
        "next": link("/matrix", page=page + 1) if page * size < len(matching) else None,
        "json": link("/matrix.json", page=page) if page > 1 else link("/matrix.json"),
    }


VIEWS = [View("matrix", "/matrix", matrix_data, "matrix.html", "Matrix")]
