"""The content-addressed directory store: real files, real processes."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from waiting import DEADLINE

from pipeline.errors import EXIT_GATE, EXIT_INPUT, GateError, InputError
from pipeline.store import (
    COPY_BUFFER,
    ArtifactSource,
    ArtifactStore,
    ContentAddressedDirectory,
    HttpsArtifactSource,
    StoredArtifact,
    cas_uri,
    object_key,
    parse_cas_uri,
    register_scheme,
    registry,
    store_for,
    writable_store_for,
)
from pipeline.store.base import check_sha256, check_size

PROJECT = Path(__file__).resolve().parents[1]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> ContentAddressedDirectory:
    return ContentAddressedDirectory(tmp_path / "store")


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    path = tmp_path / "hello-1.2.0.pxp"
    path.write_bytes(os.urandom(3 * COPY_BUFFER + 17))  # several buffers and a tail
    return path


def test_put_lays_out_objects_by_digest_read_only(
    store: ContentAddressedDirectory, artifact: Path
) -> None:
    data = artifact.read_bytes()
    stored = store.put(artifact)
    digest = sha(data)
    assert stored == StoredArtifact(f"cas:sha256:{digest}", digest, len(data))
    target = store.root / "sha256" / digest[:2] / digest
    assert target == store.object_path(digest)
    assert target.read_bytes() == data
    assert stat.S_IMODE(target.stat().st_mode) == 0o444
    assert store.exists(digest)
    assert not store.exists(sha(b"other"))
    assert sorted(p.name for p in target.parent.iterdir()) == [digest]  # no temp files left


def test_put_twice_is_a_no_op(
    store: ContentAddressedDirectory, artifact: Path, tmp_path: Path
) -> None:
    first = store.put(artifact)
    before = store.object_path(first.sha256).stat()
    copy = tmp_path / "copy.pxp"
    copy.write_bytes(artifact.read_bytes())
    assert store.put(copy) == first
    after = store.object_path(first.sha256).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_fetch_round_trip_and_replaces_dest_atomically(
    store: ContentAddressedDirectory, artifact: Path, tmp_path: Path
) -> None:
    stored = store.put(artifact)
    dest = tmp_path / "out" / "deep" / "hello.pxp"
    assert store.fetch(stored.uri, stored.sha256, stored.size, dest) == dest
    assert dest.read_bytes() == artifact.read_bytes()
    assert stat.S_IMODE(dest.stat().st_mode) == 0o644
    # fetching again over an existing file replaces it
    dest.write_bytes(b"stale")
    store.fetch(stored.uri, "sha256:" + stored.sha256, stored.size, dest)
    assert dest.read_bytes() == artifact.read_bytes()


def test_empty_artifact(store: ContentAddressedDirectory, tmp_path: Path) -> None:
    empty = tmp_path / "empty.pxp"
    empty.write_bytes(b"")
    stored = store.put(empty)
    assert stored.size == 0
    assert stored.sha256 == sha(b"")
    dest = tmp_path / "empty-out"
    store.fetch(stored.uri, stored.sha256, 0, dest)
    assert dest.read_bytes() == b""


def test_corrupted_object_is_refused_and_nothing_reaches_dest(
    store: ContentAddressedDirectory, artifact: Path, tmp_path: Path
) -> None:
    stored = store.put(artifact)
    target = store.object_path(stored.sha256)
    target.chmod(0o644)
    data = bytearray(target.read_bytes())
    data[COPY_BUFFER + 5] ^= 0xFF  # same size, one flipped byte
    target.write_bytes(bytes(data))
    out = tmp_path / "out"
    out.mkdir()
    dest = out / "hello.pxp"
    dest.write_bytes(b"previous good file")
    with pytest.raises(GateError) as caught:
        store.fetch(stored.uri, stored.sha256, stored.size, dest)
    error = caught.value
    assert error.exit_code == EXIT_GATE
    assert f"expected {stored.sha256}" in error.message
    assert f"found {sha(bytes(data))}" in error.message
    assert "corrupted" in (error.hint or "")
    assert dest.read_bytes() == b"previous good file"  # untouched
    assert sorted(p.name for p in out.iterdir()) == ["hello.pxp"]  # no temp file left

    # putting the original again repairs the store
    assert store.put(artifact) == stored
    assert target.read_bytes() == artifact.read_bytes()
    assert stat.S_IMODE(target.stat().st_mode) == 0o444
    store.fetch(stored.uri, stored.sha256, stored.size, dest)
    assert dest.read_bytes() == artifact.read_bytes()


def test_object_longer_or_shorter_than_expected(
    store: ContentAddressedDirectory, artifact: Path, tmp_path: Path
) -> None:
    stored = store.put(artifact)
    dest = tmp_path / "out" / "a.pxp"
    with pytest.raises(GateError, match="longer than the expected"):
        store.fetch(stored.uri, stored.sha256, stored.size - 1, dest)
    with pytest.raises(GateError, match="shorter than the expected"):
        store.fetch(stored.uri, stored.sha256, stored.size + 1, dest)
    assert list(dest.parent.iterdir()) == []


def test_fetch_refuses_bad_requests(store: ContentAddressedDirectory, tmp_path: Path) -> None:
    digest = sha(b"missing")
    dest = tmp_path / "d"
    with pytest.raises(InputError, match="is not in the artifact store") as caught:
        store.fetch(cas_uri(digest), digest, 7, dest)
    assert caught.value.exit_code == EXIT_INPUT
    with pytest.raises(InputError, match="names sha256"):
        store.fetch(cas_uri(sha(b"a")), sha(b"b"), 1, dest)
    with pytest.raises(InputError, match="not a content URI"):
        store.fetch(f"file:///{digest}", digest, 1, dest)
    with pytest.raises(InputError, match="not a sha256 digest"):
        store.fetch(cas_uri(digest), digest.upper(), 1, dest)
    with pytest.raises(InputError, match="not an artifact size"):
        store.fetch(cas_uri(digest), digest, -1, dest)
    assert not dest.exists()


def test_put_refuses_unreadable_input(store: ContentAddressedDirectory, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        store.put(tmp_path / "nope.pxp")
    with pytest.raises(InputError, match="cannot read"):
        store.put(tmp_path)  # a directory


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc")
def test_put_refuses_a_file_that_changes_while_stored(
    store: ContentAddressedDirectory,
) -> None:
    # /proc/self/io counts the bytes this process reads, so it differs on every read
    with pytest.raises(InputError, match="changed while it was being stored"):
        store.put(Path("/proc/self/io"))
    leftovers = [p for p in store.root.rglob("*") if p.is_file()]
    assert leftovers == []


PUT_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from pipeline.store import ContentAddressedDirectory

    root, artifact = map(Path, sys.argv[1:3])
    sys.stdin.read()  # the start line: every process is started before any of them stores
    print(ContentAddressedDirectory(root).put(artifact).uri)
    """
)


def test_concurrent_puts_from_several_processes(tmp_path: Path) -> None:
    data = os.urandom(8 * COPY_BUFFER)
    root = tmp_path / "store"
    sources = []
    for index in range(8):  # separate copies, as separate CI jobs would have
        source = tmp_path / f"artifact-{index}.pxp"
        source.write_bytes(data)
        sources.append(source)
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    start_line, go = os.pipe()  # every process reads it; closing `go` starts them all at once
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", PUT_SCRIPT, str(root), str(source)],
            stdin=start_line,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for source in sources
    ]
    os.close(start_line)
    os.close(go)
    results = [process.communicate(timeout=DEADLINE) for process in processes]
    assert [process.returncode for process in processes] == [0] * 8, results
    uris = {out.strip() for out, _ in results}
    assert uris == {f"cas:sha256:{sha(data)}"}
    store = ContentAddressedDirectory(root)
    target = store.object_path(sha(data))
    assert target.read_bytes() == data
    assert [p for p in root.rglob("*") if p.is_file()] == [target]  # no temp files left
    store.fetch(uris.pop(), sha(data), len(data), tmp_path / "fetched")
    assert (tmp_path / "fetched").read_bytes() == data


def test_content_uri_helpers() -> None:
    digest = sha(b"x")
    assert cas_uri("sha256:" + digest) == f"cas:sha256:{digest}"
    assert parse_cas_uri(cas_uri(digest)) == digest
    assert object_key(digest) == f"sha256/{digest[:2]}/{digest}"
    assert check_sha256(digest) == digest
    for bad in ("", "abc", digest[:-1], digest + "0", "md5:" + digest):
        with pytest.raises(InputError):
            check_sha256(bad)
    with pytest.raises(InputError, match="not a content URI"):
        parse_cas_uri(f"cas:sha512:{digest}")
    assert check_size(0) == 0
    for bad_size in (-1, True, 1.5):
        with pytest.raises(InputError):
            check_size(bad_size)  # type: ignore[arg-type]


def test_store_for_directories(tmp_path: Path) -> None:
    plain = store_for(str(tmp_path / "a"))
    assert isinstance(plain, ContentAddressedDirectory)
    assert plain.root == tmp_path / "a"
    assert repr(plain) == f"ContentAddressedDirectory({str(tmp_path / 'a')!r})"
    from_uri = store_for(f"file://{tmp_path}/b%20c")
    assert isinstance(from_uri, ContentAddressedDirectory)
    assert from_uri.root == tmp_path / "b c"
    local = store_for(f"file://localhost{tmp_path}")
    assert isinstance(local, ContentAddressedDirectory)
    assert isinstance(writable_store_for(str(tmp_path)), ArtifactStore)
    for bad in ("file://server/share", f"file://{tmp_path}?x=1"):
        with pytest.raises(InputError, match="unsupported file URI"):
            store_for(bad)
    with pytest.raises(InputError, match="empty"):
        store_for("  ")
    with pytest.raises(InputError, match="unknown artifact store scheme 's3'") as caught:
        store_for("s3://bucket/prefix")
    assert "file, http, https" in (caught.value.hint or "")


def test_store_for_https_is_read_only() -> None:
    source = store_for("https://mirror.example/artifacts")
    assert isinstance(source, HttpsArtifactSource)
    assert isinstance(source, ArtifactSource)
    assert not isinstance(source, ArtifactStore)
    with pytest.raises(InputError, match="read-only"):
        writable_store_for("https://mirror.example/artifacts")


class _MemoryStore:
    """A tiny third-party store, registered the way an object store would be."""

    def __init__(self, location: str) -> None:
        self.location = location

    def put(self, path: Path) -> StoredArtifact:
        data = path.read_bytes()
        return StoredArtifact(cas_uri(sha(data)), sha(data), len(data))

    def fetch(self, uri: str, sha256: str, size: int, dest: Path) -> Path:
        return dest

    def exists(self, sha256: str) -> bool:
        return False


def test_register_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_FACTORIES", dict(registry._FACTORIES))
    register_scheme("MEM", lambda location, options: _MemoryStore(location))
    store = writable_store_for("mem://bucket/x")
    assert isinstance(store, _MemoryStore)
    assert store.location == "mem://bucket/x"
