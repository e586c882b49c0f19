"""`powerx plugin import --offline --from oci://HOST/REPO[:TAG|@sha256:HEX]`: a bundle read
from the site's internal registry, checked by the same rules as a bundle file.

`RegistryScanner` is the import's `Scanner` for a registry. It reads the bundle's image
manifest (not trusted), pulls `bundle.json` and its signature, and hands them to the
import's own head check (signature, limits, every file accounted for) before a single
file is pulled. Each file is then pulled by the digest and size the signed index gives
(the registry's listing must agree with the index, `check_against_index`), through the
registry client's verified writer: a blob whose bytes differ is refused and never lands.

Interrupted pulls resume. Blobs go to a working folder of the plugin store,
`incoming/oci-<manifest digest>/`, which survives a killed or failed run: a blob pulled
whole is kept under its digest (and hashed again before it is used), a partial one is
continued by the client with a Range request. The folder is removed once the import
ends with a result or a refusal; a working folder of another bundle is removed when a
new one starts.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.bundle.import_request import Pause, no_pause
from pipeline.bundle.oci_layout import (
    BundleRegistry,
    Layer,
    check_against_index,
    parse_oci_manifest,
)
from pipeline.bundle.progress import Progress
from pipeline.bundle.tarstream import HeadCheck, ScanResult
from pipeline.fsutil import file_sha256, make_dirs

INCOMING = "incoming"
WORKDIR_PREFIX = "oci-"
PARTIAL_SUFFIX = ".partial"
"""The bytes of a blob received so far (continued with a Range request next time)."""


@dataclass
class PullCount:
    """What a pull fetched, and what it found already verified in its working folder."""

    pulled_blobs: int = 0
    pulled_bytes: int = 0
    reused_blobs: int = 0
    reused_bytes: int = 0


@dataclass
class RegistryScanner:
    """Reads a bundle from a registry into the plugin store's working folder.

    `reference` is the tag or `sha256:<hex>` within the client's repository; `where`
    names the bundle in messages (the `oci://` location, never credentials)."""

    registry: BundleRegistry
    reference: str
    where: str
    store: Path
    pause: Pause = no_pause
    count: PullCount = field(default_factory=PullCount)
    workdir: Path | None = None

    def __call__(self, head_check: HeadCheck, dest: Path, progress: Progress) -> ScanResult:
        """Pull and check the bundle; `dest` (the import's scratch) is not used: blobs
        stay in the working folder so that an interrupted pull can resume."""
        data, _media_type, digest = self.registry.get_manifest(self.reference)
        artifact = parse_oci_manifest(data, self.where)
        work = self._working_folder(digest)
        raw = self._pull(artifact.index, work).read_bytes()
        signature = self._pull(artifact.signature, work).read_bytes()
        manifest = head_check(raw, signature)
        check_against_index(artifact, manifest, self.where)
        progress.start(manifest.total_size())
        files: dict[str, Path] = {}
        for entry in manifest.files:
            layer = artifact.files[entry.path]
            files[entry.path] = self._pull(layer, work)
            progress(entry.size)
            self.pause("pulling")
        return ScanResult(manifest, raw, files)

    def finish(self) -> None:
        """Remove the working folder (the import ended: imported or refused)."""
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _working_folder(self, digest: str) -> Path:
        incoming = make_dirs(self.store / INCOMING)
        name = WORKDIR_PREFIX + digest.removeprefix("sha256:")
        for other in incoming.glob(f"{WORKDIR_PREFIX}*"):
            if other.name != name:  # another bundle's leftovers: it will not resume
                shutil.rmtree(other, ignore_errors=True)
        self.workdir = make_dirs(incoming / name)
        return self.workdir

    def _pull(self, layer: Layer, work: Path) -> Path:
        """The blob's verified file in `work`: kept from an earlier run, or pulled now."""
        target = work / layer.sha256
        if target.is_file():
            if file_sha256(target) == layer.sha256:
                self.count.reused_blobs += 1
                self.count.reused_bytes += layer.size
                return target
            target.unlink()  # damaged since: pulled again
        partial = work / f"{layer.sha256}{PARTIAL_SUFFIX}"  # a blob cut short continues
        self.registry.pull_blob(f"sha256:{layer.sha256}", layer.size, target, partial=partial)
        self.count.pulled_blobs += 1
        self.count.pulled_bytes += layer.size
        return target
