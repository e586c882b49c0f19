"""Reading packages: every dangerous or damaged archive is refused and nothing is written."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import stat
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.errors import InputError
from pipeline.packaging import extract_package, inspect_package, pack_plugin

DEMO = Path(__file__).parent / "data" / "plugins" / "demo"

Member = tuple[tarfile.TarInfo, bytes | None]


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real package of the demo plugin."""
    root = tmp_path_factory.mktemp("pkg")
    plugin = Path(shutil.copytree(DEMO, root / "demo"))
    shutil.copytree(plugin / "src", plugin / "dist")
    return pack_plugin(plugin, root / "out").path


def members_of(path: Path) -> list[Member]:
    with tarfile.open(path) as tar:
        result: list[Member] = []
        for info in tar:
            stream = tar.extractfile(info) if info.isreg() else None
            result.append((info, stream.read() if stream else None))
        return result


def entry(
    name: str, data: bytes | None = b"", kind: bytes = tarfile.REGTYPE, link: str = ""
) -> Member:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(data) if data is not None and kind == tarfile.REGTYPE else 0
    return info, data if kind == tarfile.REGTYPE else None


def resum(members: list[Member]) -> list[Member]:
    """Replace checksums.txt with one that matches the other files."""
    rest = [m for m in members if m[0].name != "checksums.txt"]
    lines = sorted(
        f"{hashlib.sha256(data).hexdigest()}  {info.name}\n"
        for info, data in rest
        if data is not None and info.isreg()
    )
    return [*rest, entry("checksums.txt", "".join(lines).encode())]


def write(path: Path, members: list[Member], *, level: int = 6) -> Path:
    with (
        path.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=level) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def refused(path: Path, tmp_path: Path, message: str, **limits: int) -> InputError:
    """Extraction and inspection both refuse `path`, and nothing is left behind."""
    parent = tmp_path / "target"
    parent.mkdir(exist_ok=True)
    dest = parent / "plugin"
    with pytest.raises(InputError, match=message) as caught:
        extract_package(path, dest, **limits)
    assert list(parent.iterdir()) == []
    with pytest.raises(InputError, match=message):
        inspect_package(path, **limits)
    return caught.value


def test_a_good_package_extracts_and_verifies(package: Path, tmp_path: Path) -> None:
    dest = tmp_path / "x" / "demo"
    info = extract_package(package, dest)
    assert info.root == dest and info.manifest.name == "demo"
    assert info.sha256 == hashlib.sha256(package.read_bytes()).hexdigest()
    assert info.size == package.stat().st_size
    assert [f.path for f in info.files][-2:] == ["sbom.cdx.json", "checksums.txt"]
    assert stat.S_IMODE((dest / "dist/bin/run.py").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "dist/config.py").stat().st_mode) == 0o644
    assert stat.S_IMODE(dest.stat().st_mode) == 0o755
    subprocess.run(["sha256sum", "--quiet", "-c", "checksums.txt"], cwd=dest, check=True)
    assert [p.name for p in dest.parent.iterdir()] == ["demo"]
    assert inspect_package(package).root is None


def test_an_empty_dest_folder_is_fine_but_a_full_one_is_not(package: Path, tmp_path: Path) -> None:
    dest = tmp_path / "empty"
    dest.mkdir()
    extract_package(package, dest)
    assert (dest / "plugin.yaml").is_file()
    with pytest.raises(InputError, match=r"already exists and is not an empty folder"):
        extract_package(package, dest)
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match=r"already exists"):
        extract_package(package, tmp_path / "file")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (entry("../evil.txt", b"x"), r"unsafe entry '../evil.txt': its name climbs out with '..'"),
        (entry("dist/../../evil.txt", b"x"), r"climbs out"),
        (entry("/etc/evil", b"x"), r"unsafe entry '/etc/evil': its name is an absolute path"),
        (entry("C:/evil", b"x"), r"is an absolute path"),
        (entry("dist\\..\\evil", b"x"), r"backslash or a control character"),
        (entry("./", None, tarfile.DIRTYPE), r"its name is empty"),
        (
            entry("dist/passwd", None, tarfile.SYMTYPE, "/etc/passwd"),
            r"entry 'dist/passwd' is a symbolic link to '/etc/passwd'",
        ),
        (entry("dist/inner", None, tarfile.SYMTYPE, "config.py"), r"symbolic link"),
        (
            entry("dist/hard", None, tarfile.LNKTYPE, "plugin.yaml"),
            r"entry 'dist/hard' is a hard link to 'plugin.yaml'",
        ),
        (entry("dist/tty", None, tarfile.CHRTYPE), r"entry 'dist/tty' is a character device"),
        (entry("dist/sda", None, tarfile.BLKTYPE), r"is a block device"),
        (entry("dist/fifo", None, tarfile.FIFOTYPE), r"is a FIFO"),
        (entry("dist/cont", None, tarfile.CONTTYPE), r"is a entry of type b'7'"),
        (entry("plugin.yaml", b"kind: Plugin\n"), r"entry 'plugin.yaml' appears twice"),
        (entry("./dist/config.py", b"x"), r"entry 'dist/config.py' appears twice"),
        (entry("plugin.yaml/inside", b"x"), r"is inside 'plugin.yaml', which is a file"),
        (entry("dist/bin", b"x"), r"entry 'dist/bin' appears twice"),
    ],
)
def test_dangerous_entries_are_refused(
    package: Path, tmp_path: Path, bad: Member, message: str
) -> None:
    bad_package = write(tmp_path / "bad.pxp", resum([*members_of(package), bad]))
    refused(bad_package, tmp_path, message)


def test_a_file_where_a_folder_is_implied_is_refused(tmp_path: Path, package: Path) -> None:
    members = members_of(package)
    first = [entry("lib/a.py", b"a"), entry("lib", b"file")]
    refused(
        write(tmp_path / "bad.pxp", resum([*first, *members])), tmp_path, r"'lib' is a file, but"
    )


def test_a_decompression_bomb_stops_early(package: Path, tmp_path: Path) -> None:
    zeros = entry("dist/zeros.bin", bytes(50 * 1024 * 1024))
    bomb = write(tmp_path / "bomb.pxp", [*members_of(package)[:-1], zeros], level=9)
    assert bomb.stat().st_size < 200 * 1024
    error = refused(
        bomb, tmp_path, r"expands to more than 10,485,760 bytes", max_bytes=10 * 1024 * 1024
    )
    assert error.location is not None and error.location.path == str(bomb)


def test_too_many_entries(package: Path, tmp_path: Path) -> None:
    refused(package, tmp_path, r"more than 3 entries", max_entries=3)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda m: [m_ for m_ in m if m_[0].name != "checksums.txt"],
            r"package has no checksums.txt",
        ),
        (
            lambda m: resum([m_ for m_ in m if m_[0].name != "plugin.yaml"]),
            r"package has no plugin.yaml",
        ),
        (
            lambda m: resum([m_ for m_ in m if m_[0].name != "sbom.cdx.json"]),
            r"package has no sbom.cdx.json",
        ),
        (
            lambda m: [
                entry("dist/config.py", b"evil = True\n") if i.name == "dist/config.py" else (i, d)
                for i, d in m
            ],
            r"checksum mismatch for 'dist/config.py': checksums.txt says [0-9a-f]{64}, the file has",
        ),
        (
            lambda m: [entry("dist/extra.py", b"x"), *m],
            r"entry 'dist/extra.py' is not listed in checksums.txt",
        ),
        (
            lambda m: [m_ for m_ in m if m_[0].name != "CHANGELOG.md"],
            r"checksums.txt lists 'CHANGELOG.md', which is not in the package",
        ),
        (
            lambda m: resum([m_ for m_ in m if m_[0].name != "CHANGELOG.md"]),
            r"plugin.yaml names 'CHANGELOG.md', which is not in the package",
        ),
        (
            lambda m: resum([m_ for m_ in m if m_[0].name != "dist/bin/run.py"]),
            r"plugin.yaml names 'dist/bin/run.py'",
        ),
        (
            lambda m: [*m[:-1], entry("checksums.txt", b"not a checksum line\n")],
            r"checksums.txt line 1 is not '<sha256>  <path>'",
        ),
        (
            lambda m: [*m[:-1], entry("checksums.txt", b"\xff\xfe")],
            r"checksums.txt is not valid UTF-8",
        ),
        (
            lambda m: [
                *m[:-1],
                entry("checksums.txt", (m[-1][1] or b"") + (m[-1][1] or b"").splitlines(True)[0]),
            ],
            r"checksums.txt lists 'CHANGELOG.md' twice",
        ),
        (
            lambda m: resum(
                [
                    entry("plugin.yaml", b"x" * (1024 * 1024 + 1))
                    if i.name == "plugin.yaml"
                    else (i, d)
                    for i, d in m
                ]
            ),
            r"plugin.yaml is over 1,048,576 bytes",
        ),
    ],
)
def test_integrity_problems_are_refused(
    package: Path, tmp_path: Path, edit: Callable[[list[Member]], list[Member]], message: str
) -> None:
    refused(write(tmp_path / "bad.pxp", edit(members_of(package))), tmp_path, message)


def test_an_invalid_manifest_names_its_line(package: Path, tmp_path: Path) -> None:
    members = members_of(package)
    text = next(d for i, d in members if i.name == "plugin.yaml")
    assert text is not None
    broken = text.replace(b"version: 2.0.0-rc.1+build.7", b"version: two")
    edited = resum(
        [entry("plugin.yaml", broken) if i.name == "plugin.yaml" else (i, d) for i, d in members]
    )
    error = refused(write(tmp_path / "bad.pxp", edited), tmp_path, r"semantic version")
    assert error.location is not None
    assert error.location.path == f"{tmp_path / 'bad.pxp'}!plugin.yaml"
    assert error.location.line == 4


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda raw: raw[: len(raw) // 2], r"truncated or corrupt"),
        (lambda raw: raw[:-4], r"truncated or corrupt"),
        (lambda raw: raw[:-8] + bytes(8), r"truncated or corrupt: CRC check failed"),
        (
            lambda raw: raw[:40] + bytes(b ^ 0xFF for b in raw[40:80]) + raw[80:],
            r"truncated or corrupt",
        ),
        (
            lambda raw: b"PK\x03\x04 not a gzip file at all",
            r"truncated or corrupt: Not a gzipped file",
        ),
        (lambda raw: gzip.compress(b"not a tar archive" * 100, mtime=0), r"truncated or corrupt"),
    ],
)
def test_damaged_packages_are_refused(
    package: Path, tmp_path: Path, damage: Callable[[bytes], bytes], message: str
) -> None:
    bad = tmp_path / "bad.pxp"
    bad.write_bytes(damage(package.read_bytes()))
    error = refused(bad, tmp_path, message)
    assert error.hint == "copy or download the package again"


def test_a_missing_package(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"cannot read package: No such file"):
        inspect_package(tmp_path / "nope.pxp")


def test_a_symlinked_dest_is_refused(package: Path, tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(InputError, match=r"already exists"):
        extract_package(package, tmp_path / "link")
    assert os.listdir(tmp_path / "real") == []


def test_data_after_the_tar_still_counts(package: Path, tmp_path: Path) -> None:
    with gzip.open(package) as stream:
        tar_bytes = stream.read()
    padded = tmp_path / "padded.pxp"
    padded.write_bytes(gzip.compress(tar_bytes + bytes(20 * 1024 * 1024), mtime=0))
    assert inspect_package(padded).manifest.name == "demo"
    refused(padded, tmp_path, r"expands to more than", max_bytes=10 * 1024 * 1024)


def test_the_manifest_is_read_from_the_head_of_a_package(tmp_path: Path) -> None:
    import shutil

    from conftest import PROJECT

    from pipeline.packaging import build_plugin, pack_plugin
    from pipeline.packaging.archive import read_package_manifest

    plugin = tmp_path / "hello-world"
    shutil.copytree(
        PROJECT / "examples" / "hello-world",
        plugin,
        ignore=shutil.ignore_patterns("build", "dist", "*.pxp"),
    )
    build_plugin(plugin)
    package = pack_plugin(plugin, tmp_path).path
    assert read_package_manifest(package).ref == "hello-world@1.1.0"
    truncated = tmp_path / "truncated.pxp"
    truncated.write_bytes(package.read_bytes()[:40])
    with pytest.raises(InputError, match="truncated or corrupt"):
        read_package_manifest(truncated)
    empty = tmp_path / "empty.pxp"
    with tarfile.open(empty, "w:gz"):
        pass
    with pytest.raises(InputError, match=r"no plugin\.yaml at the head of the package"):
        read_package_manifest(empty)
