"""`powerx plugin install --from DIR`: a plugin folder (or its built dist/) into a store.

The steps, each named in any failure: **read** the folder's plugin.yaml; **permissions**:
the tenant must grant what it declares (checked before anything is written); **build** when
`dist/` is missing or older than the sources; **pack** a package; **store** it in the plugin
store's CAS; **install** it (extracted, verified, renamed into `plugins/`: `install_version`,
as `agent sync` does) and record its sources; **check**: start it and run its health check;
**activate**: switch `active/<name>` in one atomic rename. Until that last rename the
previous version stays active; a run killed anywhere leaves one whole version active, and
running it again completes. A host serving the store follows the switch on its own.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.agent.health import check_environ, run_health_check
from pipeline.agent.install import install_version
from pipeline.agent.store import PluginStore
from pipeline.agent.sync import health_environment
from pipeline.errors import GateError, InputError, PowerXError
from pipeline.host.host import DEFAULT_TENANT, LOGS_DIR, Host, missing_grants
from pipeline.host.instance import StartError, Version
from pipeline.host.sources import newest_mtime, record_source, source_digest
from pipeline.host.tenants import TenantStore, check_tenant_name
from pipeline.models.plugin import DIST_DIR, MANIFEST_FILE, PluginManifest
from pipeline.packaging.build import build_plugin
from pipeline.packaging.manifest import read_manifest
from pipeline.packaging.pack import pack_plugin

PAUSE_STAGES = ("built", "packed", "installed", "checked", "switched")
"""Where an install can be paused by a test (see `powerx agent sync`'s seam)."""

Pause = Callable[[str], None]


class StepFailedError(GateError):
    """One step of an install failed; the previous version is still the active one."""

    def __init__(self, step: str, error: PowerXError | StartError, serving: str | None) -> None:
        if isinstance(error, PowerXError):
            where = f"{error.location}: " if error.location else ""
            detail, hint = f"{where}{error.message}", error.hint
        else:
            detail, hint = str(error), None
        still = f"{serving} stays active" if serving else "nothing was active before"
        super().__init__(f"install failed at step '{step}': {detail}\n({still})", hint=hint)
        self.step = step
        self.detail = detail
        self.serving = serving
        if isinstance(error, InputError):
            self.exit_code = error.exit_code  # bad input stays bad input (2)


@dataclass(frozen=True)
class InstallRequest:
    """Install the plugin in `source` (a plugin folder or its dist/) for `tenant`."""

    source: Path
    store: PluginStore
    tenant: str = DEFAULT_TENANT
    grant_declared: bool = False
    """Grant the tenant what plugin.yaml declares (the dev loop's local tenant)."""
    force_build: bool = False
    environ: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Prepared:
    """A version built, packed, stored and installed (not yet active)."""

    version: Version
    plugin_dir: Path
    built: bool
    durations: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class InstallResult:
    """An installed and activated version, and what was active before."""

    prepared: Prepared
    previous: str | None
    health: str
    seconds: float

    @property
    def version(self) -> Version:
        return self.prepared.version


def locate(source: Path) -> tuple[Path, bool]:
    """(plugin folder, may build) for `--from`: a plugin folder, or a built dist/ in one."""
    source = Path(source)
    if not source.exists():
        raise InputError(f"{source} does not exist", hint="name a plugin folder (with plugin.yaml)")
    if not source.is_dir():
        raise InputError(f"{source} is not a folder", hint="name the folder that holds plugin.yaml")
    if (source / MANIFEST_FILE).is_file():
        return source.resolve(), True
    if source.name == DIST_DIR and (source.parent / MANIFEST_FILE).is_file():
        return source.parent.resolve(), False
    raise InputError(
        f"{MANIFEST_FILE} not found in {source}",
        hint="name a plugin folder (with plugin.yaml) or its built dist/; see examples/hello-world",
    )


def needs_build(plugin_dir: Path, manifest: PluginManifest) -> bool:
    """Whether dist/ is missing or older than the newest source file."""
    dist = plugin_dir / DIST_DIR
    if not dist.is_dir() or newest_mtime(dist) is None:
        return True
    _digest, newest = source_digest(plugin_dir, manifest.build.output)
    # A build publishes dist/ by a rename, which sets its ctime; its mtime is copied from the
    # build's output (copystat), which a build that copies its sources dates before them.
    published = dist.stat()
    return newest > max(published.st_mtime, published.st_ctime)


def check_permissions(request: InstallRequest, manifest: PluginManifest) -> None:
    """The tenant must grant what the plugin declares (unless the request grants it)."""
    tenants = TenantStore(request.store.root)
    if request.grant_declared or not manifest.permissions:
        return
    if not tenants.exists(request.tenant):
        missing = ", ".join(repr(p) for p in manifest.permissions)
        raise GateError(
            f"{manifest.name} declares {missing}, and tenant {request.tenant!r} does not exist "
            f"in {request.store.root}, so it granted nothing",
            hint=f"create it and grant them: powerx plugin grant {manifest.name} "
            f"{' '.join(manifest.permissions)} --tenant {request.tenant} "
            f"--plugin-store {request.store.root}",
        )
    probe = Version(manifest.name, manifest.version, "0" * 64, Path(), manifest, "")
    refusal = missing_grants(probe, tenants, request.tenant, request.store.root)
    if refusal is not None:
        raise GateError(refusal)


def prepare(
    request: InstallRequest,
    *,
    build: bool | None = None,
    pause: Pause = lambda stage: None,
    serving: str | None = None,
) -> Prepared:
    """Read, check, build (if needed or `build`), pack, store and install; not activated.

    Raises StepFailedError naming the step; nothing is active that was not before.
    """
    check_tenant_name(request.tenant)
    plugin_dir, may_build = locate(request.source)
    step = "read"
    durations: dict[str, float] = {}
    try:
        manifest = read_manifest(plugin_dir).manifest
        step = "permissions"
        check_permissions(request, manifest)
        step = "build"
        started = time.monotonic()
        # the sources the build starts from (a save during the build belongs to the next one)
        sources, _newest = source_digest(plugin_dir, manifest.build.output)
        if build is None:
            build = request.force_build or needs_build(plugin_dir, manifest)
        wanted = build and may_build
        if wanted:
            manifest = build_plugin(plugin_dir, env=request.environ).manifest
            pause("built")
        durations["build"] = time.monotonic() - started
        if request.grant_declared and manifest.permissions:
            TenantStore(request.store.root).set_grant(
                request.tenant, manifest.name, list(manifest.permissions), grant=True
            )
        step, started = "pack", time.monotonic()
        with request.store.staging() as work:
            packed = pack_plugin(plugin_dir, work)
            pause("packed")
            step = "store"
            request.store.artifacts.put(packed.path)
        durations["pack"] = time.monotonic() - started
        step, started = "install", time.monotonic()
        folder, _ = install_version(
            request.store,
            manifest.name,
            manifest.version,
            packed.sha256,
            pause=pause,
            source_hint=f"the package built from {plugin_dir}",
        )
        record = record_source(request.store, manifest, packed.sha256, plugin_dir, sources)
        durations["install"] = time.monotonic() - started
    except PowerXError as error:
        if step == "read" and isinstance(error, InputError):
            raise  # an invalid plugin.yaml: the message names file and line
        raise StepFailedError(step, error, serving) from None
    version = Version(
        plugin=manifest.name,
        version=manifest.version,
        digest=packed.sha256,
        folder=folder,
        manifest=manifest,
        revision=record.revision,
    )
    return Prepared(version, plugin_dir, wanted, durations)


def active_revision(store: PluginStore, plugin: str) -> str | None:
    """The revision active in the store for `plugin` (None: none)."""
    from pipeline.host.sources import read_version

    folder = store.active_target(plugin)
    if folder is None or not folder.is_dir():
        return None
    try:
        version = read_version(store, plugin, folder)
    except PowerXError:
        return folder.name
    return version.revision if version else folder.name


def install(request: InstallRequest, *, pause: Pause = lambda stage: None) -> InstallResult:
    """Install and activate the plugin of `request.source`; see the module docstring."""
    started = time.monotonic()
    tenants = TenantStore(request.store.root)
    with request.store.locked():
        request.store.clean_leftovers()
        name = read_manifest(locate(request.source)[0]).manifest.name
        previous = active_revision(request.store, name)
        prepared = prepare(request, pause=pause, serving=previous)
        tenants.ensure(request.tenant)
        version = prepared.version
        check_started = time.monotonic()
        try:
            health = asyncio.run(check_version(version, request))
        except StartError as error:
            raise StepFailedError("check", GateError(str(error)), previous) from None
        prepared.durations["check"] = time.monotonic() - check_started
        pause("checked")
        request.store.activate(version.plugin, version.folder)
        pause("switched")
    return InstallResult(prepared, previous, health, time.monotonic() - started)


async def check_version(version: Version, request: InstallRequest) -> str:
    """Start the version (if it serves) and run its health check; what the check saw."""
    if version.manifest.serve is None:
        check = version.manifest.health_check
        base = health_environment(os.environ if request.environ is None else request.environ)
        env = check_environ(base, version.folder, version.plugin, version.version)
        result = await asyncio.to_thread(
            run_health_check,
            check,
            version.folder,
            timeout=float(check.timeout_seconds),
            env=env,
        )
        if not result.healthy:
            raise StartError("health check", result.detail)
        return result.detail
    from pipeline.host.server import LOOPBACK, bind, serving

    # the plugin starts as a host would run it: with a host API of its own (a temporary one)
    log = request.store.root / LOGS_DIR / request.tenant / version.plugin / "install.log"
    checker = Host(request.store, [request.tenant], environ=request.environ)
    async with serving(checker, bind(LOOPBACK, 0), announce=False):
        instance = await checker.launch(version, request.tenant, log=log)
        await instance.stop()
    return instance.health
