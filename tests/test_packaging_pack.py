"""px-plugin pack: reproducible bytes, normalised headers, checksums and SBOM, safe inputs."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from pipeline.errors import FileSystemError, InputError
from pipeline.packaging import inspect_package, pack_plugin, plugin_purl

DEMO = Path(__file__).parent / "data" / "plugins" / "demo"
DEMO_FILE = "demo-2.0.0-rc.1+build.7.pxp"


def built(where: Path, *, umask: int = 0o022, mtime: int | None = None) -> Path:
    """A copy of the demo plugin with dist/ made from src/ (as its build would)."""
    old = os.umask(umask)
    try:
        plugin = Path(shutil.copytree(DEMO, where, copy_function=shutil.copyfile))
        shutil.copytree(plugin / "src", plugin / "dist", copy_function=shutil.copyfile)
    finally:
        os.umask(old)
    (plugin / "dist" / "bin" / "run.py").chmod(0o750)
    if mtime is not None:
        for path in [plugin, *plugin.rglob("*")]:
            os.utime(path, (mtime, mtime))
    return plugin


def listing(package: Path) -> list[list[str]]:
    """`tar -tvzf` output, split into fields."""
    out = subprocess.run(
        ["tar", "-tvzf", str(package)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "TZ": "UTC"},
    ).stdout
    return [line.split() for line in out.splitlines()]


def test_same_inputs_give_the_same_bytes(tmp_path: Path) -> None:
    one = built(tmp_path / "a" / "demo", umask=0o022, mtime=1_000_000_000)
    two = built(tmp_path / "b" / "elsewhere", umask=0o077, mtime=1_700_000_000)
    first = pack_plugin(one, tmp_path / "out1")
    second = pack_plugin(two, tmp_path / "out2")
    assert first.path.name == second.path.name == DEMO_FILE
    assert first.sha256 == second.sha256
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256 == hashlib.sha256(first.path.read_bytes()).hexdigest()
    assert first.size == first.path.stat().st_size
    assert first.files == second.files
    assert oct(first.path.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in (tmp_path / "out1").iterdir()] == [DEMO_FILE]


def test_headers_are_normalised_as_tar_sees_them(tmp_path: Path) -> None:
    plugin = built(tmp_path / "demo", umask=0o077, mtime=1_700_000_000)
    result = pack_plugin(plugin, source_date_epoch=86_400)
    assert result.path == plugin / DEMO_FILE
    rows = listing(result.path)
    names = [row[5] for row in rows]
    assert names == [
        "plugin.yaml",
        "CHANGELOG.md",
        "dist/",
        "dist/bin/",
        "dist/bin/run.py",
        "dist/config.py",
        "docs/",
        "docs/RELEASE_NOTES.md",
        "sbom.cdx.json",
        "checksums.txt",
    ]
    modes = {row[5]: row[0] for row in rows}
    assert modes["dist/"] == modes["docs/"] == "drwxr-xr-x"
    assert modes["dist/bin/run.py"] == "-rwxr-xr-x"
    assert modes["dist/config.py"] == modes["plugin.yaml"] == "-rw-r--r--"
    assert {row[1] for row in rows} == {"0/0"}
    assert {(row[3], row[4]) for row in rows} == {("1970-01-02", "00:00")}
    raw = result.path.read_bytes()
    assert raw[3] == 0  # no FNAME, no FEXTRA, no comment
    assert raw[4:8] == b"\0\0\0\0"  # gzip mtime 0
    with tarfile.open(result.path) as tar:
        assert {(m.uname, m.gname, m.uid, m.gid) for m in tar} == {("", "", 0, 0)}


def test_checksums_verify_with_sha256sum(tmp_path: Path) -> None:
    plugin = built(tmp_path / "demo")
    result = pack_plugin(plugin, tmp_path / "out")
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    subprocess.run(["tar", "-xzf", str(result.path), "-C", str(unpacked)], check=True)
    check = subprocess.run(
        ["sha256sum", "--strict", "-c", "checksums.txt"],
        cwd=unpacked,
        check=True,
        capture_output=True,
        text=True,
    )
    assert check.stdout.count(": OK") == 6
    lines = (unpacked / "checksums.txt").read_text().splitlines()
    assert [line.split("  ")[1] for line in lines] == sorted(
        f.path for f in result.files if f.path != "checksums.txt"
    )
    assert (unpacked / "plugin.yaml").read_bytes() == (DEMO / "plugin.yaml").read_bytes()
    info = inspect_package(result.path)
    assert info.sha256 == result.sha256 and info.files == result.files


def test_sbom_describes_plugin_files_and_dependencies(tmp_path: Path) -> None:
    plugin = built(tmp_path / "demo")
    result = pack_plugin(plugin, tmp_path / "out", source_date_epoch=1_700_000_000)
    with tarfile.open(result.path) as tar:
        member = tar.extractfile("sbom.cdx.json")
        assert member is not None
        sbom = json.loads(member.read())
    assert sbom["bomFormat"] == "CycloneDX" and sbom["specVersion"] == "1.5"
    assert sbom["serialNumber"].startswith("urn:uuid:")
    purl = "pkg:generic/powerx-plugin/demo@2.0.0-rc.1%2Bbuild.7"
    assert plugin_purl("demo", "2.0.0-rc.1+build.7") == purl
    component = sbom["metadata"]["component"]
    assert component == {
        "type": "application",
        "bom-ref": purl,
        "name": "demo",
        "version": "2.0.0-rc.1+build.7",
        "description": "A test plugin with every optional field.",
        "licenses": [{"expression": "Apache-2.0 OR MIT"}],
        "purl": purl,
    }
    assert sbom["metadata"]["timestamp"] == "2023-11-14T22:13:20Z"
    digests = {f.path: f.sha256 for f in result.files}
    files = [c for c in sbom["components"] if c["type"] == "file"]
    assert [c["name"] for c in files] == ["dist/bin/run.py", "dist/config.py"]
    for entry in files:
        assert entry["hashes"] == [{"alg": "SHA-256", "content": digests[entry["name"]]}]
    plugins = [c for c in sbom["components"] if c["type"] == "application"]
    assert [(c["name"], c["purl"], c["properties"][0]["value"]) for c in plugins] == [
        ("hello-world", "pkg:generic/powerx-plugin/hello-world", "^1.1"),
        ("ledger-sync", "pkg:generic/powerx-plugin/ledger-sync", ">=1.0.1"),
    ]
    assert sbom["dependencies"][0] == {
        "ref": purl,
        "dependsOn": [
            "pkg:generic/powerx-plugin/hello-world",
            "pkg:generic/powerx-plugin/ledger-sync",
        ],
    }


def test_serial_number_follows_content(tmp_path: Path) -> None:
    def serial(plugin: Path) -> str:
        result = pack_plugin(plugin, plugin.parent / "out")
        with tarfile.open(result.path) as tar:
            member = tar.extractfile("sbom.cdx.json")
            assert member is not None
            return str(json.loads(member.read())["serialNumber"])

    plugin = built(tmp_path / "demo")
    first = serial(plugin)
    assert serial(plugin) == first
    (plugin / "dist" / "config.py").write_text("greeting = 'bye'\n")
    assert serial(plugin) != first


def test_large_files_stream_through(tmp_path: Path) -> None:
    plugin = built(tmp_path / "demo")
    blob = os.urandom(1024 * 1024) * 3 + b"tail"
    (plugin / "dist" / "blob.bin").write_bytes(blob)
    result = pack_plugin(plugin, tmp_path / "out")
    packed = {f.path: f for f in result.files}["dist/blob.bin"]
    assert packed.size == len(blob)
    assert packed.sha256 == hashlib.sha256(blob).hexdigest()
    with gzip.open(result.path) as stream:
        assert blob in stream.read()


def test_links_inside_dist_are_packed_as_files(tmp_path: Path) -> None:
    plugin = built(tmp_path / "demo")
    (plugin / "dist" / "alias.py").symlink_to("bin/run.py")
    result = pack_plugin(plugin, tmp_path / "out")
    with tarfile.open(result.path) as tar:
        alias = tar.getmember("dist/alias.py")
        assert alias.isreg() and alias.mode == 0o755
    digests = {f.path: f.sha256 for f in result.files}
    assert digests["dist/alias.py"] == digests["dist/bin/run.py"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda d: (d / "evil").symlink_to("/etc/passwd"),
            r"dist/evil is a link to /etc/passwd, outside dist/",
        ),
        (
            lambda d: (d / "up").symlink_to("../plugin.yaml"),
            r"dist/up is a link to .*outside dist/",
        ),
        (lambda d: (d / "loop").symlink_to("bin"), r"dist/loop is a link to a folder"),
        (lambda d: (d / "gone").symlink_to("missing.txt"), r"dist/gone is a broken link"),
        (lambda d: os.mkfifo(d / "pipe"), r"dist/pipe is a FIFO"),
        (lambda d: (d / "back\\slash").write_text("x"), r"backslash or a control character"),
        (lambda d: (d / "new\nline").write_text("x"), r"backslash or a control character"),
        (lambda d: Path(os.fsdecode(bytes(d / "x") + b"\xff")).write_text("x"), r"not valid UTF-8"),
    ],
)
def test_unsafe_dist_content_is_refused(tmp_path: Path, make: object, message: str) -> None:
    plugin = built(tmp_path / "demo")
    make(plugin / "dist")  # type: ignore[operator]
    with pytest.raises(InputError, match=message):
        pack_plugin(plugin, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_special_files_are_named(tmp_path: Path) -> None:
    import socket

    plugin = built(tmp_path / "demo")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(plugin / "dist" / "s"))
        with pytest.raises(InputError, match=r"dist/s is a socket"):
            pack_plugin(plugin, tmp_path / "out")


def test_pack_needs_a_build(tmp_path: Path) -> None:
    plugin = Path(shutil.copytree(DEMO, tmp_path / "demo"))
    with pytest.raises(InputError, match=r"dist is missing") as caught:
        pack_plugin(plugin)
    assert caught.value.hint == "run px-plugin build first"
    (plugin / "dist").symlink_to(plugin / "src")
    with pytest.raises(InputError, match=r"not a folder"):
        pack_plugin(plugin)


def test_declared_files_must_exist_inside(tmp_path: Path) -> None:
    plugin = built(tmp_path / "demo")
    (plugin / "CHANGELOG.md").unlink()
    with pytest.raises(InputError, match=r"changelog file 'CHANGELOG.md' not found") as caught:
        pack_plugin(plugin, tmp_path / "out")
    assert caught.value.location is not None and caught.value.location.line == 20
    (tmp_path / "outside.md").write_text("x")
    (plugin / "CHANGELOG.md").symlink_to(tmp_path / "outside.md")
    with pytest.raises(InputError, match=r"leads outside the plugin folder"):
        pack_plugin(plugin, tmp_path / "out")


def test_entrypoint_must_be_packed(tmp_path: Path) -> None:
    plugin = built(tmp_path / "demo")
    (plugin / "dist" / "bin" / "run.py").unlink()
    with pytest.raises(InputError, match=r"entrypoint 'bin/run.py' is not a file in dist/"):
        pack_plugin(plugin, tmp_path / "out")


def test_bad_arguments(tmp_path: Path) -> None:
    plugin = built(tmp_path / "demo")
    with pytest.raises(InputError, match=r"must not be negative"):
        pack_plugin(plugin, source_date_epoch=-1)
    with pytest.raises(InputError, match=r"would pack itself"):
        pack_plugin(plugin, plugin / "dist" / "packages")


def test_failed_write_keeps_the_old_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin = built(tmp_path / "demo")
    out = tmp_path / "out"
    pack_plugin(plugin, out)
    before = (out / DEMO_FILE).read_bytes()
    (plugin / "dist" / "config.py").write_text("changed = True\n")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(FileSystemError, match=r"cannot write .*: no space left on device"):
        pack_plugin(plugin, out)
    assert [p.name for p in out.iterdir()] == [DEMO_FILE]
    assert (out / DEMO_FILE).read_bytes() == before
