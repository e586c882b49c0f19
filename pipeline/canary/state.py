"""The canary block of a plugin's state file: read it at a commit, write it back, comments kept.

The state of a rollout lives only in git: the plugin's state file in the environment folder
holds the stable version and the `canary` (version, weight, step, timestamps).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline import layout
from pipeline.canary.record import Target
from pipeline.errors import GateError, InputError
from pipeline.gitrepo import Commit, GitRepo
from pipeline.models.environment import Canary, PluginState
from pipeline.models.policy import PolicySet
from pipeline.models.rollout import RolloutSpec
from pipeline.names import deployed_plugins, require_in_order, unknown_name
from pipeline.snapshot import Loaded, Snapshot
from pipeline.yamlio import dump_yaml, parse_yaml


@dataclass(frozen=True)
class Current:
    """A plugin's state in an environment at one commit, with the policies there."""

    snapshot: Snapshot
    policies: PolicySet
    path: str
    loaded: Loaded[PluginState]
    spec: RolloutSpec

    @property
    def state(self) -> PluginState:
        return self.loaded.model

    @property
    def environment(self) -> str:
        """The environment, from the state file's path (environments/<env>/...)."""
        return self.path.split("/")[1]


def branch_tip(target: Target) -> Commit:
    """The target branch's tip: fetched from the remote, or the local branch."""
    if target.remote is not None:
        fetched = target.git.fetch(target.remote, target.branch)
        if fetched is None:
            raise InputError(f"branch {target.branch!r} does not exist on {target.remote!r}")
        return fetched
    return target.git.resolve(f"refs/heads/{target.branch}")


def read_state(git: GitRepo, tip: Commit, plugin: str, environment: str) -> Current:
    """`plugin`'s state in `environment` at `tip`; the plugin must be deployed there."""
    snapshot = Snapshot(git, tip)
    policies = snapshot.policies()
    require_in_order(environment, policies.promotion.order)
    path = layout.plugin_state_path(environment, plugin)
    loaded = snapshot.plugin_state(environment, plugin)
    if loaded is None:
        raise unknown_name(
            "plugin",
            plugin,
            deployed_plugins(snapshot, environment),
            message=f"{plugin} is not deployed in {environment}: a canary needs a stable version",
            hint=f"promote a first version with 'powerx promote {plugin} --to {environment}'",
        )
    return Current(snapshot, policies, path, loaded, policies.rollout.for_plugin(plugin))


def with_canary(current: Current, canary: Canary | None, **fields: str) -> bytes:
    """The state file with `canary` (None: removed) and other fields, comments kept."""
    raw = current.snapshot.read(current.path)
    assert raw is not None  # it was loaded from this snapshot
    tree = parse_yaml(raw, current.path).tree
    for name, value in fields.items():
        tree[name] = value
    if canary is None:
        tree.pop("canary", None)
    else:
        tree["canary"] = canary.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dump_yaml(tree).encode()


def same_rollout(current: Current, expected: Canary | None) -> None:
    """Refuse to apply a decision when someone else changed the rollout meanwhile."""
    canary = current.state.canary
    if canary is None or expected is None or canary != expected:
        raise GateError(
            f"the rollout of {current.state.plugin} changed while it was being judged "
            "(another controller, or a person, decided first)",
            hint="run 'powerx rollout status' to see the state, then step again",
        )


def weight_text(canary: Canary) -> str:
    """The canary's share: its tenant group, or its weight in percent."""
    return f"group {canary.group}" if canary.group else f"{canary.weight}%"
