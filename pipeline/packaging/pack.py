"""`px-plugin pack`: a reproducible `<name>-<version>.pxp` from a built plugin folder.

A package is a gzip'ed PAX tar holding `plugin.yaml` (always the first entry), `dist/**`,
the declared release notes and changelog, then `sbom.cdx.json` and, last, `checksums.txt`
(the sha256 of every other file, as `sha256sum` writes it). The same inputs give the same
bytes: entries are sorted (parents before children), every time is SOURCE_DATE_EPOCH,
owners are 0/0 with no names, modes are 0755 for folders and executables and 0644
otherwise, and the gzip header holds no name and no time. Files are streamed (1 MiB at a
time) and hashed while they are written.

Only files and folders are packed. A link inside `dist/` to a file inside `dist/` is packed
as a copy of that file; a link to a folder, a broken link, a link leaving `dist/` and any
special file (FIFO, socket, device) are refused.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, cast

from pipeline.errors import InputError, Location
from pipeline.fsutil import atomic_writer, make_dirs
from pipeline.models.plugin import CHECKSUMS_FILE, DIST_DIR, MANIFEST_FILE, SBOM_FILE
from pipeline.packaging.checksums import format_checksums
from pipeline.packaging.manifest import LoadedManifest, read_manifest
from pipeline.packaging.sbom import build_sbom, sbom_bytes
from pipeline.packaging.streams import COPY_BUFFER, GZIP_LEVEL, HashingReader, HashingWriter

_SPECIAL_KINDS = {
    stat.S_IFIFO: "FIFO",
    stat.S_IFSOCK: "socket",
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
}


@dataclass(frozen=True)
class PackedFile:
    """One regular file in a package: its path inside the package, sha256 and size."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class PackResult:
    """A written package: where, its sha256 and size, and the files it holds (in order)."""

    path: Path
    sha256: str
    size: int
    files: tuple[PackedFile, ...]


@dataclass(frozen=True)
class _Entry:
    """Something to pack: a folder (`source` None) or a file read from `source`."""

    name: str
    source: Path | None
    size: int = 0
    executable: bool = False

    @property
    def key(self) -> tuple[str, ...]:
        return PurePosixPath(self.name).parts


def pack_plugin(
    plugin_dir: Path, out: Path | None = None, *, source_date_epoch: int = 0
) -> PackResult:
    """Write `<out>/<name>-<version>.pxp` (out defaults to `plugin_dir`) from a built plugin.

    The write is atomic: a temporary file beside the target, renamed into place.
    """
    if source_date_epoch < 0:
        raise InputError(f"SOURCE_DATE_EPOCH must not be negative, found {source_date_epoch}")
    loaded = read_manifest(plugin_dir)
    dist = plugin_dir / DIST_DIR
    entries = sorted([*_extra_entries(loaded, plugin_dir), *_dist_entries(dist)], key=_key)
    _check_entrypoint(loaded, entries)
    folder = plugin_dir if out is None else out
    make_dirs(folder)
    if folder.resolve().is_relative_to(dist.resolve()):
        raise InputError(f"cannot write the package into {dist}: it would pack itself later")
    target = folder / loaded.manifest.package_name
    with atomic_writer(target) as handle:
        sink = HashingWriter(handle)
        files = _write_package(sink, loaded, entries, source_date_epoch)
    return PackResult(path=target, sha256=sink.hash.hexdigest(), size=sink.size, files=files)


def _key(entry: _Entry) -> tuple[bool, tuple[str, ...]]:
    # plugin.yaml first, so a reader can name a package from the head of the stream
    return (entry.name != MANIFEST_FILE, entry.key)


def _write_package(
    sink: HashingWriter, loaded: LoadedManifest, entries: list[_Entry], epoch: int
) -> tuple[PackedFile, ...]:
    """Stream the tar.gz into `sink`; the files written, in order."""
    files: list[PackedFile] = []
    raw = cast(IO[bytes], sink)
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=GZIP_LEVEL, mtime=0) as gz,
        tarfile.TarFile(
            fileobj=gz,
            mode="w",
            format=tarfile.PAX_FORMAT,
            encoding="utf-8",
            copybufsize=COPY_BUFFER,
        ) as tar,
    ):
        for entry in entries:
            if entry.source is None:
                tar.addfile(_info(entry.name, epoch, directory=True))
            elif entry.name == MANIFEST_FILE:
                files.append(_add_bytes(tar, MANIFEST_FILE, loaded.raw, epoch))
            else:
                files.append(_add_file(tar, entry, epoch))
        dist_prefix = f"{DIST_DIR}/"
        dist_files = {f.path: f.sha256 for f in files if f.path.startswith(dist_prefix)}
        sbom = build_sbom(loaded.manifest, dist_files, source_date_epoch=epoch)
        files.append(_add_bytes(tar, SBOM_FILE, sbom_bytes(sbom), epoch))
        checksums = format_checksums({f.path: f.sha256 for f in files})
        files.append(_add_bytes(tar, CHECKSUMS_FILE, checksums, epoch))
    return tuple(files)


def _info(
    name: str, epoch: int, *, directory: bool = False, executable: bool = False
) -> tarfile.TarInfo:
    """A tar header with every varying field normalised."""
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = 0o755 if directory or executable else 0o644
    info.mtime = epoch
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _add_file(tar: tarfile.TarFile, entry: _Entry, epoch: int) -> PackedFile:
    assert entry.source is not None
    info = _info(entry.name, epoch, executable=entry.executable)
    info.size = entry.size
    with entry.source.open("rb") as handle:
        reader = HashingReader(handle)
        tar.addfile(info, cast(IO[bytes], reader))
    return PackedFile(entry.name, reader.hash.hexdigest(), entry.size)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, epoch: int) -> PackedFile:
    info = _info(name, epoch)
    info.size = len(data)
    reader = HashingReader(io.BytesIO(data))
    tar.addfile(info, cast(IO[bytes], reader))
    return PackedFile(name, reader.hash.hexdigest(), len(data))


def _extra_entries(loaded: LoadedManifest, plugin_dir: Path) -> Iterator[_Entry]:
    """plugin.yaml, the release notes and the changelog, with the folders that hold them."""
    yield _Entry(MANIFEST_FILE, loaded.path, len(loaded.raw))
    root = plugin_dir.resolve()
    folders: set[str] = set()
    for field, name in (("notes", loaded.manifest.notes), ("changelog", loaded.manifest.changelog)):
        if name is None:
            continue
        path = plugin_dir / name
        location = loaded.locate((field,))
        if not path.is_file():
            raise InputError(f"{field} file {name!r} not found", location=location)
        source = path.resolve()
        if not source.is_relative_to(root):
            raise InputError(
                f"{field} file {name!r} leads outside the plugin folder", location=location
            )
        _check_name(name)
        folders.update(parent.as_posix() for parent in PurePosixPath(name).parents)
        yield _Entry(name, source, source.stat().st_size)
    for folder in sorted(folders - {"."}):
        yield _Entry(folder, None)


def _dist_entries(dist: Path) -> list[_Entry]:
    """Every folder and file under `dist/`, refusing links that leave it and special files."""
    if dist.is_symlink() or not dist.is_dir():
        raise InputError(
            f"{dist} is missing (or is not a folder)",
            location=Location(str(dist)),
            hint="run px-plugin build first",
        )
    root = dist.resolve()
    entries = [_Entry(DIST_DIR, None)]
    pending = [dist]
    while pending:
        folder = pending.pop()
        with os.scandir(folder) as items:
            for item in items:
                path = Path(item.path)
                name = path.relative_to(dist.parent).as_posix()
                _check_name(name)
                mode = item.stat(follow_symlinks=False).st_mode
                if stat.S_ISLNK(mode):
                    entries.append(_linked_file(path, name, root))
                elif stat.S_ISDIR(mode):
                    entries.append(_Entry(name, None))
                    pending.append(path)
                elif stat.S_ISREG(mode):
                    size = item.stat(follow_symlinks=False).st_size
                    entries.append(_Entry(name, path, size, bool(mode & 0o111)))
                else:
                    raise _special(name, mode)
    return entries


def _linked_file(path: Path, name: str, root: Path) -> _Entry:
    """A link inside dist/ to a file inside dist/, packed as a copy of that file."""
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise InputError(f"{name} is a broken link", location=Location(str(path))) from None
    if not target.is_relative_to(root):
        raise InputError(
            f"{name} is a link to {target}, outside dist/",
            location=Location(str(path)),
            hint="copy the file into the build output instead of linking to it",
        )
    info = target.stat()
    if not stat.S_ISREG(info.st_mode):
        raise InputError(
            f"{name} is a link to a folder or special file; only links to files are packed",
            location=Location(str(path)),
            hint="copy the folder into the build output instead of linking to it",
        )
    return _Entry(name, target, info.st_size, bool(info.st_mode & 0o111))


def _special(name: str, mode: int) -> InputError:
    kind = _SPECIAL_KINDS.get(stat.S_IFMT(mode), "special file")
    return InputError(f"{name} is a {kind}: a package holds only files and folders")


def _check_name(name: str) -> None:
    """Refuse names that cannot be written to checksums.txt or read back everywhere."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"file name {name!r} is not valid UTF-8") from None
    if "\\" in name or any(ord(char) < 32 or ord(char) == 127 for char in name):
        raise InputError(
            f"file name {name!r} contains a backslash or a control character",
            hint="rename the file: package paths are plain '/'-separated names",
        )


def _check_entrypoint(loaded: LoadedManifest, entries: list[_Entry]) -> None:
    name = f"{DIST_DIR}/{loaded.manifest.entrypoint}"
    if not any(entry.name == name and entry.source is not None for entry in entries):
        raise InputError(
            f"entrypoint {loaded.manifest.entrypoint!r} is not a file in dist/",
            location=loaded.locate(("entrypoint",)),
            hint="run px-plugin build, or fix entrypoint (it is relative to dist/)",
        )
