"""`powerx export`: one environment of a release repo as one signed bundle file.

The bundle is a plain tar, written in one streaming pass into a temporary file beside the
output and renamed into place only when complete: `bundle.json`, its signature, then every
indexed file (environment folder, release folders, artifacts, entitlements). Artifacts are
copied from content-addressed stores (or loose files) in chunks and hashed on the way;
a byte that differs from the release's sha256 aborts the export.

The sequence number is the creation time in milliseconds since 1970 (and, for `--since
BUNDLE`, at least one more than that bundle's): it grows with every export as long as the
exporting clock does not go back, without a counter that every export would have to commit.
"""

from __future__ import annotations

import hashlib
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from pipeline import layout
from pipeline.bundle.contents import Plan, PlannedRelease, RepoFile, artifact_path, plan_environment
from pipeline.bundle.manifest import (
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    SIGNATURE_NAME,
    encode_manifest,
    manifest_digest,
    parse_manifest,
    sign_manifest,
)
from pipeline.bundle.progress import Progress, no_progress
from pipeline.bundle.tarstream import BundleWriter
from pipeline.errors import GateError, InputError, Location
from pipeline.fsutil import atomic_writer, file_sha256, make_dirs
from pipeline.gitrepo import GitRepo
from pipeline.models.base import API_VERSION
from pipeline.models.bundle import (
    BUNDLE_FORMAT,
    BundleBase,
    BundleFile,
    BundleManifest,
    BundleRelease,
    BundleSource,
)
from pipeline.names import environment_names, require_name
from pipeline.signing.keys import load_private_key
from pipeline.snapshot import Snapshot
from pipeline.store.base import ArtifactSource, cas_uri
from pipeline.store.cas import ContentAddressedDirectory

DEFAULT_VALIDITY = timedelta(days=30)


@dataclass(frozen=True)
class ExportRequest:
    """What to export, from where, signed with which key, valid for how long."""

    repo: Path
    environment: str
    output: Path
    key: Path
    passphrase: bytes
    now: datetime
    rev: str = "HEAD"
    stores: tuple[Path, ...] = ()
    sources: tuple[ArtifactSource, ...] = ()
    """Other stores to fetch artifacts from (e.g. `oci://`), verified, into a scratch folder."""
    artifacts: tuple[Path, ...] = ()
    since: str | None = None
    valid_for: timedelta = DEFAULT_VALIDITY
    source_name: str | None = None


@dataclass(frozen=True)
class ExportResult:
    """A written bundle."""

    output: Path
    manifest: BundleManifest
    digest: str
    size: int
    warnings: tuple[str, ...] = ()

    @property
    def included(self) -> list[BundleRelease]:
        """The releases whose files travel in this bundle."""
        return [release for release in self.manifest.releases if release.included]


@dataclass(frozen=True)
class PreparedExport:
    """A signed bundle index and where each indexed file's bytes are: what a bundle file
    (`export_bundle`) or a registry push (`pipeline.bundle.oci_export`) writes out."""

    manifest: BundleManifest
    raw: bytes
    signature: bytes
    memory: dict[str, bytes]
    """The repo files (environment, releases, entitlements) by bundle path."""
    artifacts: dict[str, Path]
    """Each included artifact's file, by sha256 (its size already checked); an artifact the
    destination already holds (`prepare_export`'s `present`) has none."""
    warnings: tuple[str, ...]

    @property
    def digest(self) -> str:
        """The bundle's identity: the sha256 of its signed index."""
        return manifest_digest(self.raw)


def export_bundle(request: ExportRequest, *, progress: Progress = no_progress) -> ExportResult:
    """Write the bundle; nothing appears at `request.output` unless every step succeeded."""
    with _fetch_folder(request) as scratch:
        prepared = prepare_export(request, scratch)
        size = _write(request.output, prepared, progress)
    return ExportResult(request.output, prepared.manifest, prepared.digest, size, prepared.warnings)


@contextmanager
def _fetch_folder(request: ExportRequest) -> Iterator[Path | None]:
    """Where artifacts fetched from `request.sources` wait: a folder beside the output
    (the same file system, so a 1 GB artifact does not fill /tmp); None without sources."""
    if not request.sources:
        yield None
        return
    folder = make_dirs(request.output.absolute().parent)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=folder) as scratch:
        yield Path(scratch)


def prepare_export(
    request: ExportRequest,
    scratch: Path | None = None,
    *,
    present: Callable[[str], bool] | None = None,
) -> PreparedExport:
    """Plan, index and sign the export (`request.output` is not touched); artifacts only
    `request.sources` hold are fetched into `scratch`, which must outlive the result,
    unless `present(sha256)` says the destination holds them already (a registry push:
    such artifacts get no entry in `PreparedExport.artifacts`)."""
    if request.sources and scratch is None:
        raise ValueError("artifact sources need a scratch folder")
    if request.now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if request.valid_for <= timedelta(0):
        raise InputError("the validity must be positive", hint="e.g. --valid-for 30d")
    git = GitRepo(request.repo)
    commit = git.resolve(request.rev)
    require_name(
        "environment",
        request.environment,
        environment_names(Snapshot(git, commit)),
        message=f"environment {request.environment!r} does not exist at {commit.short_id}",
        hint=f"{layout.environment_path(request.environment)} is missing; check --env",
    )
    private_key = load_private_key(_read_key(request.key), request.passphrase, str(request.key))
    plan = plan_environment(git, commit, request.environment)
    base, carried = _since(git, request)
    included = [p for p in plan.releases if _missing(p, carried)]
    artifacts = _artifact_sources(included, request, scratch, present)
    entitlements = [f for f in plan.entitlements if (f.bundle_path, _sha(f.data)) not in carried]
    files = _index(plan, included, entitlements)
    manifest = BundleManifest.model_validate(
        {
            "apiVersion": API_VERSION,
            "kind": "OfflineBundle",
            "format": BUNDLE_FORMAT,
            "environment": request.environment,
            "sequence": _sequence(request.now, base),
            "created": request.now,
            "expires": request.now + request.valid_for,
            "source": BundleSource(
                repo=request.source_name or git.root.resolve().name, commit=plan.commit
            ),
            "since": base,
            "releases": [
                BundleRelease(
                    plugin=p.release.plugin,
                    version=p.release.version,
                    artifact=p.release.artifact.sha256,
                    role="deployed" if p.role == "deployed" else "dependency",
                    included=p in included,
                )
                for p in plan.releases
            ],
            "files": files,
        }
    )
    raw = encode_manifest(manifest)
    signature = sign_manifest(raw, manifest, private_key)
    warnings = tuple(
        f"{p.release.ref} is not released for the offline channel "
        f"(channels: {', '.join(p.release.channels)})"
        for p in plan.releases
        if "offline" not in p.release.channels
    )
    memory = {
        f.bundle_path: f.data
        for f in [*plan.environment_files, *(f for p in included for f in p.files), *entitlements]
    }
    sources = {sha: source.path for sha, source in artifacts.items()}
    return PreparedExport(manifest, raw, signature, memory, sources, warnings)


def _read_key(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise InputError(f"cannot read key {path}: {error.strerror}") from None


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _missing(planned: PlannedRelease, carried: set[tuple[str, str]]) -> bool:
    """Whether an earlier bundle/revision did not already carry this release and artifact."""
    sha = planned.release.artifact.sha256
    if (artifact_path(sha), sha) not in carried:
        return True
    return any((f.bundle_path, _sha(f.data)) not in carried for f in planned.files)


def _since(git: GitRepo, request: ExportRequest) -> tuple[BundleBase | None, set[tuple[str, str]]]:
    """What the target already has: the files of an earlier bundle, or of a revision's plan."""
    if request.since is None:
        return None, set()
    path = Path(request.since)
    if path.is_file():
        raw = read_bundle_head(path)
        earlier = parse_manifest(raw, f"{path}!{MANIFEST_NAME}")
        if earlier.environment != request.environment:
            raise InputError(
                f"{path} is a bundle of {earlier.environment!r}, not {request.environment!r}"
            )
        base = BundleBase(
            commit=earlier.source.commit, bundle=manifest_digest(raw), sequence=earlier.sequence
        )
        return base, {(f.path, f.sha256) for f in earlier.files}
    commit = git.resolve(request.since)
    try:
        carried = plan_environment(git, commit, request.environment).carried()
    except InputError:
        carried = set()  # the environment did not exist yet: the target has nothing
    return BundleBase(commit=str(commit.id)), carried


def read_bundle_head(path: Path) -> bytes:
    """The `bundle.json` of a bundle file, unverified (for `--since`)."""
    try:
        with tarfile.open(path, "r:*") as tar:
            member = tar.next()
            if member is None or member.name != MANIFEST_NAME or not member.isreg():
                raise InputError(f"{path}: not a bundle (it does not start with {MANIFEST_NAME})")
            if member.size > MAX_MANIFEST_BYTES:
                raise InputError(f"{path}: {MANIFEST_NAME} is too large")
            stream = tar.extractfile(member)
            assert stream is not None
            return stream.read()
    except (OSError, tarfile.TarError) as error:
        raise InputError(f"cannot read bundle {path}: {error}") from None


def _sequence(now: datetime, base: BundleBase | None) -> int:
    sequence = int(now.timestamp() * 1000)
    if base is not None and base.sequence is not None:
        sequence = max(sequence, base.sequence + 1)
    return sequence


@dataclass(frozen=True)
class _Source:
    path: Path
    size: int


def _artifact_sources(
    included: list[PlannedRelease],
    request: ExportRequest,
    scratch: Path | None,
    present: Callable[[str], bool] | None = None,
) -> dict[str, _Source]:
    """Where each included artifact's bytes are: a store object, a loose file, or a copy
    fetched (verified) from another source into `scratch`."""
    stores = [ContentAddressedDirectory(root) for root in request.stores]
    loose: dict[str, Path] | None = None
    found: dict[str, _Source] = {}
    for planned in included:
        artifact = planned.release.artifact
        path = next(
            (s.object_path(artifact.sha256) for s in stores if s.exists(artifact.sha256)), None
        )
        if path is None:
            if loose is None:
                loose = {file_sha256(p): p for p in request.artifacts}
            path = loose.get(artifact.sha256)
        if path is None and present is not None and present(artifact.sha256):
            continue  # the destination holds these bytes: nothing to read or send
        if path is None and scratch is not None:
            path = _fetched(request.sources, artifact.sha256, artifact.size, scratch)
        if path is None:
            raise GateError(
                f"the artifact of {planned.release.ref} (sha256 {artifact.sha256}) is not in "
                "any store or file given",
                hint="pass --store DIR (the artifact store) or --artifact FILE.pxp",
            )
        size = path.stat().st_size
        if size != artifact.size:
            raise GateError(
                f"{path} is {size:,} bytes, {planned.release.ref} says {artifact.size:,}",
                location=Location(str(path)),
            )
        found[artifact.sha256] = _Source(path, size)
    return found


def _fetched(
    sources: tuple[ArtifactSource, ...], sha256: str, size: int, scratch: Path
) -> Path | None:
    """The artifact fetched from the first source that holds it (digest and size checked)."""
    for source in sources:
        if source.exists(sha256):
            return source.fetch(cas_uri(sha256), sha256, size, scratch / sha256)
    return None


def _index(
    plan: Plan, included: list[PlannedRelease], entitlements: list[RepoFile]
) -> list[BundleFile]:
    files = [
        BundleFile(path=f.bundle_path, sha256=_sha(f.data), size=len(f.data))
        for f in [*plan.environment_files, *(f for p in included for f in p.files), *entitlements]
    ]
    seen: set[str] = set()
    for planned in included:
        artifact = planned.release.artifact
        if artifact.sha256 not in seen:
            seen.add(artifact.sha256)
            files.append(
                BundleFile(
                    path=artifact_path(artifact.sha256), sha256=artifact.sha256, size=artifact.size
                )
            )
    return files


def _write(output: Path, prepared: PreparedExport, progress: Progress) -> int:
    manifest, raw, signature = prepared.manifest, prepared.raw, prepared.signature
    with atomic_writer(output) as out:
        progress.start(len(raw) + len(signature) + manifest.total_size())
        writer = BundleWriter(out, mtime=int(manifest.created.timestamp()), progress=progress)
        writer.add_bytes(MANIFEST_NAME, raw)
        writer.add_bytes(SIGNATURE_NAME, signature)
        for entry in manifest.files:
            if entry.path in prepared.memory:
                writer.add_bytes(entry.path, prepared.memory[entry.path])
            else:
                source = prepared.artifacts[entry.sha256]
                writer.add_file(entry.path, source, size=entry.size, sha256=entry.sha256)
        writer.close()
        out.flush()
        size = out.tell()
    return size
