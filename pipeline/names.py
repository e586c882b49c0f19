"""Name lookup with "did you mean": environments, plugins, versions, groups a repo defines.

The one home of "did you mean" (file fields and permissions in `models` use it too): at
run time it needs only `errors` and `layout`, so every layer may call it.

Every command that takes a name checks it here before it writes anything: a name the
repository does not define is an InputError (exit 2) that lists what exists and, when
one is close, suggests it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pipeline import layout
from pipeline.errors import InputError, Location

if TYPE_CHECKING:  # only types: the lookup itself needs nothing above `errors`
    from pipeline.models.release import Release
    from pipeline.snapshot import Loaded, Snapshot

MAX_LISTED = 10
"""Known names an error lists when none is close."""


def did_you_mean(name: str, known: Iterable[str], *, cutoff: float = 0.7) -> str | None:
    """The known name closest to `name`, if one is close enough (difflib's ratio)."""
    found = difflib.get_close_matches(name, sorted(set(known)), n=1, cutoff=cutoff)
    return found[0] if found else None


def unknown_name(
    kind: str,
    name: str,
    known: Iterable[str],
    *,
    where: str = "",
    hint: str | None = None,
    message: str | None = None,
    location: Location | None = None,
) -> InputError:
    """The error for a `kind` called `name` that is not among `known`.

    The message is "there is no <kind> <name> <where>" unless `message` says it otherwise;
    "did you mean" follows when a known name is close.
    """
    names = sorted(set(known))
    guess = did_you_mean(name, names)
    place = f" {where}" if where else ""
    message = message or f"there is no {kind} {name!r}{place}"
    if guess is not None:
        message += f": did you mean {guess!r}?"
    if hint is None:
        listed = ", ".join(names[:MAX_LISTED]) + (", ..." if len(names) > MAX_LISTED else "")
        hint = f"known {kind}s: {listed}" if names else f"the repository defines no {kind} yet"
    return InputError(message, hint=hint, location=location)


def require_name(
    kind: str,
    name: str,
    known: Iterable[str],
    *,
    where: str = "",
    hint: str | None = None,
    message: str | None = None,
    location: Location | None = None,
) -> str:
    """`name` when it is one of `known`; else the "did you mean" InputError."""
    names = set(known)
    if name not in names:
        raise unknown_name(
            kind, name, names, where=where, hint=hint, message=message, location=location
        )
    return name


def require_in_order(env: str, order: list[str]) -> str:
    """`env` when it is in the promotion order (where releases go, approvals count)."""
    return require_name(
        "environment",
        env,
        order,
        message=f"{env!r} is not in the promotion order ({' -> '.join(order)})",
        hint="name an environment of the order in policies/promotion.yaml",
    )


def environment_names(snapshot: Snapshot) -> set[str]:
    """Environments the repo defines: a folder with environment.yaml, or a place in the order."""
    folders = {
        name
        for name, is_dir in snapshot.git.list_dir(snapshot.commit, layout.ENVIRONMENTS)
        if is_dir and snapshot.blob_id(layout.environment_path(name)) is not None
    }
    return folders | set(snapshot.policies().promotion.order)


def require_environment(snapshot: Snapshot, env: str) -> str:
    """`env` when the repo defines it (at the snapshot's revision)."""
    return require_name("environment", env, environment_names(snapshot))


def deployed_plugins(snapshot: Snapshot, env: str) -> set[str]:
    """Plugins with a state file in environments/<env>/plugins/."""
    return {
        name.removesuffix(".yaml")
        for name, is_dir in snapshot.git.list_dir(
            snapshot.commit, f"{layout.ENVIRONMENTS}/{env}/plugins"
        )
        if not is_dir and name.endswith(".yaml")
    }


def plugin_names(snapshot: Snapshot) -> set[str]:
    """Plugins the repo knows: released (releases/<plugin>/) or deployed somewhere."""
    git, commit = snapshot.git, snapshot.commit
    released = {name for name, is_dir in git.list_dir(commit, layout.RELEASES) if is_dir}
    environments = [env for env, is_dir in git.list_dir(commit, layout.ENVIRONMENTS) if is_dir]
    return released.union(*(deployed_plugins(snapshot, env) for env in environments))


def require_plugin(snapshot: Snapshot, plugin: str) -> str:
    """`plugin` when the repo releases or deploys it."""
    if _known_plugin(snapshot, plugin):
        return plugin  # found by name: no need to list every plugin of the repo
    return require_name("plugin", plugin, plugin_names(snapshot))


def _known_plugin(snapshot: Snapshot, plugin: str) -> bool:
    """`plugin in plugin_names(snapshot)`, looked up by name rather than by listing."""
    if not plugin or "/" in plugin or "\0" in plugin or plugin in (".", ".."):
        return False  # not a plain name: `plugin_names` decides
    git, commit = snapshot.git, snapshot.commit
    if git.folder_id(commit, f"{layout.RELEASES}/{plugin}") is not None:
        return True
    return any(
        is_dir and git.file_id(commit, f"{layout.ENVIRONMENTS}/{env}/plugins/{plugin}.yaml")
        for env, is_dir in git.list_dir(commit, layout.ENVIRONMENTS)
    )


def require_release(snapshot: Snapshot, plugin: str, version: str) -> Loaded[Release]:
    """The manifest of plugin@version; the "did you mean" InputError when there is none."""
    require_plugin(snapshot, plugin)
    loaded = snapshot.release(plugin, version)
    if loaded is None:
        versions = [str(v) for v in snapshot.versions(plugin)]
        raise unknown_name(
            "version",
            version,
            versions,
            where=f"of {plugin} ({plugin}@{version} has no release manifest)",
            hint=f"released versions of {plugin}: {', '.join(versions) or 'none'}",
        )
    return loaded
