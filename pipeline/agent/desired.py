"""What a host should run: an environment folder read from disk, resolved for one tenant."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pipeline.canary.assignment import runs_canary, version_for_tenant
from pipeline.errors import CombinedInputError, FileSystemError, InputError, Location
from pipeline.layout import ENVIRONMENT_FILE
from pipeline.models.environment import Environment, PluginState
from pipeline.models.load import parse_document
from pipeline.names import require_name
from pipeline.yamlio import MAX_YAML_BYTES

PLUGINS_DIR = "plugins"

D = TypeVar("D", Environment, PluginState)


@dataclass(frozen=True)
class DesiredPlugin:
    """One plugin as this host should run it."""

    name: str
    version: str
    digest: str
    enabled: bool
    canary: bool
    """True when the tenant runs the canary version rather than the stable one."""
    source: str
    """The state file it comes from."""


@dataclass(frozen=True)
class DesiredState:
    """An environment and the plugins it asks this host to run, sorted by name."""

    environment: Environment
    tenant: str | None
    plugins: tuple[DesiredPlugin, ...]


def load_desired(environment_dir: Path, tenant: str | None = None) -> DesiredState:
    """Read `environment.yaml` and `plugins/*.yaml`; InputError (file:line) on any problem.

    Every file is validated before anything is returned, so a broken folder changes nothing.
    """
    folder = Path(environment_dir)
    environment = _load(folder / ENVIRONMENT_FILE, Environment)
    if tenant is not None:
        known = [t.id for t in environment.tenants]
        require_name(
            "tenant",
            tenant,
            known,
            message=f"tenant {tenant!r} is not a tenant of environment {environment.name!r}",
            location=Location(str(folder / ENVIRONMENT_FILE)),
            hint=f"known tenants: {', '.join(known) or '(none)'}",
        )
    errors: list[InputError] = []
    plugins: list[DesiredPlugin] = []
    state_dir = folder / PLUGINS_DIR
    paths = sorted(state_dir.glob("*.yaml")) if state_dir.is_dir() else []
    for path in paths:
        try:
            plugins.append(_desired(path, environment, tenant))
        except CombinedInputError as error:
            errors.extend(error.errors)
        except InputError as error:
            errors.append(error)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise CombinedInputError(errors)
    return DesiredState(environment, tenant, tuple(plugins))


def _desired(path: Path, environment: Environment, tenant: str | None) -> DesiredPlugin:
    state = _load(path, PluginState)
    if state.plugin != path.stem:
        raise InputError(
            f"the file is named {path.name} but describes plugin {state.plugin!r}",
            location=Location(str(path)),
            hint=f"rename it to {state.plugin}.yaml",
        )
    if tenant is None:
        version, digest, canary = state.version, state.digest, False
    else:
        version, digest = version_for_tenant(state, tenant, environment)
        canary = runs_canary(state, tenant, environment)
    return DesiredPlugin(
        name=state.plugin,
        version=version,
        digest=digest,
        enabled=state.enabled,
        canary=canary,
        source=str(path),
    )


def _load(path: Path, model: type[D]) -> D:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_YAML_BYTES + 1)
    except FileNotFoundError:
        raise InputError(
            f"{path} does not exist",
            location=Location(str(path)),
            hint="point --env at an environment folder (environments/<env>/ of a release repo)",
        ) from None
    except OSError as error:
        raise FileSystemError("read", path, error) from None
    return parse_document(raw, str(path), model)
