"""`powerx plugin enable|disable`: the admin's switch, one commit in the site's release repo.

The switch sets `enabled` in `environments/<env>/plugins/<name>.yaml` (comments and key order
kept) as one commit whose trailers (`PowerX-Action: enable|disable`, plugin, version,
environment, operator, digest, reason) put it in `powerx audit`. Hosts follow at their next
`powerx agent sync`.

Enabling is gated on health: the plugin store of a host that synced this environment must
record that the version and digest the state file names passed their health check. The
intended flow is "import disabled -> sync (installs and checks it, inactive) -> enable".
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline import layout
from pipeline.agent.store import PluginStore
from pipeline.errors import GateError, InputError
from pipeline.gitrepo import ChangeSet, Commit, GitRepo, Trailers, compose_message
from pipeline.models.agent import HealthRecord
from pipeline.models.digest import digest_text
from pipeline.models.environment import PluginState
from pipeline.models.load import parse_document, validate_document
from pipeline.names import deployed_plugins, require_environment, unknown_name
from pipeline.snapshot import Snapshot
from pipeline.yamlio import dump_yaml, parse_yaml

MAX_STATE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class SwitchRequest:
    """Enable or disable one plugin in one environment, on behalf of an operator."""

    plugin: str
    environment: str
    enabled: bool
    operator: str | None = None
    reason: str | None = None
    ci_run: str | None = None

    @property
    def action(self) -> str:
        return "enable" if self.enabled else "disable"


@dataclass(frozen=True)
class SwitchResult:
    """The commit that landed (None: the plugin already was in that state)."""

    commit: str | None
    version: str
    digest: str
    health: HealthRecord | None = None


def require_healthy(
    store: PluginStore, environment: str, plugin: str, version: str, digest: str
) -> HealthRecord:
    """The store's record that this version passed its health check; GateError otherwise.

    A version whose check is HTTP cannot answer while it is inactive: its record says the
    check is deferred (`healthy` null), which is accepted. The agent runs the check right
    after activating it and rolls back to the last working version if it fails.
    """
    sync_hint = (
        f"run 'powerx agent sync --env environments/{environment} --store {store.root}' "
        "(a disabled plugin is installed and checked, not activated), then enable again"
    )
    status = store.read_status()
    if status is None:
        raise GateError(
            f"cannot enable {plugin}: the plugin store {store.root} was never synced",
            hint=sync_hint,
        )
    if status.environment != environment:
        raise InputError(
            f"the plugin store {store.root} follows environment {status.environment!r}, "
            f"not {environment!r}",
            hint="pass the --store of a host of that environment",
        )
    entry = status.plugins.get(plugin)
    record = entry.check_for(digest) if entry is not None else None
    if record is None or record.version != version:
        raise GateError(
            f"cannot enable {plugin} {version}: it has not been health-checked in {store.root}",
            hint=sync_hint,
        )
    if record.healthy is False:
        raise GateError(
            f"cannot enable {plugin} {version}: its health check failed at "
            f"{record.checked_at.isoformat()}: {record.detail}",
            hint="fix the plugin (or its host) and sync again; enable once the check passes",
        )
    return record


class _AlreadyDoneError(Exception):
    """Raised inside a push retry when the remote already has the wanted state."""


@dataclass(frozen=True)
class _Plan:
    """The edit to make on top of one tip (no changes: already in the wanted state)."""

    changes: ChangeSet
    message: str
    state: PluginState
    health: HealthRecord | None

    def result(self, commit: str | None) -> SwitchResult:
        return SwitchResult(commit, self.state.version, self.state.digest, self.health)


def set_enabled(
    git: GitRepo,
    request: SwitchRequest,
    *,
    branch: str = "main",
    remote: str | None = None,
    store: PluginStore | None = None,
    when: float | None = None,
) -> SwitchResult:
    """Commit the switch on `branch` (pushed to `remote` if given, rebasing on conflicts).

    Enabling needs `store` (see `require_healthy`). No commit when nothing changes.
    """
    if request.enabled and store is None:
        raise InputError(
            f"enabling {request.plugin} needs the plugin store that checked it",
            hint="pass --store DIR (a store synced from this environment)",
        )
    if remote is None:
        ref = f"refs/heads/{branch}"
        tip = git.resolve(ref) if ref in git.repo.references else None
        plan = _plan(git, tip, request, store)
        if not plan.changes:
            return plan.result(None)
        commit = git.commit(branch, plan.changes, plan.message, parent=tip, when=when)
        return plan.result(str(commit.id))
    plan = _plan(git, git.fetch(remote, branch), request, store)
    if not plan.changes:
        return plan.result(None)
    latest = [plan]

    def change(tip: Commit | None) -> tuple[ChangeSet, str]:
        latest[0] = _plan(git, tip, request, store)  # others pushed first: decide again
        if not latest[0].changes:
            raise _AlreadyDoneError
        return latest[0].changes, latest[0].message

    try:
        commit = git.commit_and_push(remote, branch, change, when=when)
    except _AlreadyDoneError:  # someone else made the same switch meanwhile
        return latest[0].result(None)
    return latest[0].result(str(commit.id))


def _plan(
    git: GitRepo,
    tip: Commit | None,
    request: SwitchRequest,
    store: PluginStore | None,
) -> _Plan:
    """The edit of the state file on top of `tip`."""
    path = layout.plugin_state_path(request.environment, request.plugin)
    raw = git.read(tip, path, max_bytes=MAX_STATE_BYTES) if tip is not None else None
    if raw is None:
        known: set[str] = set()
        if tip is not None:
            snapshot = Snapshot(git, tip)
            require_environment(snapshot, request.environment)
            known = deployed_plugins(snapshot, request.environment)
        raise unknown_name(
            "plugin",
            request.plugin,
            known,
            message=f"{request.plugin} is not deployed in {request.environment}: "
            f"{path} does not exist",
            hint="promote or import the plugin into that environment first",
        )
    doc = parse_yaml(raw, path)
    state = validate_document(doc, PluginState)
    health = (
        require_healthy(store, request.environment, state.plugin, state.version, state.digest)
        if request.enabled and store is not None
        else None
    )
    if state.enabled == request.enabled:
        return _Plan({}, "", state, health)
    tree = doc.tree
    tree["enabled"] = request.enabled
    content = dump_yaml(tree).encode()
    parse_document(content, path, PluginState)  # the edited file is still valid
    return _Plan({path: content}, _message(request, state, health), state, health)


def _message(request: SwitchRequest, state: PluginState, health: HealthRecord | None) -> str:
    extra = {"Digest": digest_text(state.digest)}
    if health is not None and health.healthy:
        extra["Health-Checked"] = health.checked_at.isoformat()
    elif health is not None:
        extra["Health-Check"] = "at activation"
    if request.reason:
        extra["Reason"] = " ".join(request.reason.split())
    trailers = Trailers(
        action=request.action,
        plugin=request.plugin,
        version=state.version,
        environment=request.environment,
        operator=request.operator,
        ci_run=request.ci_run,
        extra=extra,
    )
    verb = "Enable" if request.enabled else "Disable"
    body = f"{request.environment}: {state.plugin} {state.version} enabled: {request.enabled}"
    if health is not None and health.healthy:
        body += f"\nhealth check passed at {health.checked_at.isoformat()}: {health.detail}"
    elif health is not None:
        body += "\nhealth check: HTTP, run by the agent at activation (a failure rolls back)"
    if request.reason:
        body += f"\n\nReason: {request.reason}"
    return compose_message(
        f"{verb} {request.plugin} {state.version} in {request.environment}", body, trailers
    )
