"""`write_verified` hashes and writes on a thread of its own: its failures still reach the
caller, and a refused stream still leaves nothing behind."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PROJECT

from pipeline.errors import GateError
from pipeline.store.base import PIPELINE_DEPTH, WRITEBACK_STEP, write_verified

MIB = 1024 * 1024


def pieces(data: bytes, step: int) -> Iterator[bytes]:
    for start in range(0, len(data), step):
        yield data[start : start + step]


def test_many_small_chunks_arrive_whole(tmp_path: Path) -> None:
    data = bytes(range(256)) * (100 * 1024)  # 25 MiB in 64 KiB chunks: many batches,
    assert len(data) > WRITEBACK_STEP  # and a writeback started on the way
    digest = hashlib.sha256(data).hexdigest()
    dest = tmp_path / "out.bin"
    write_verified(pieces(data, 64 * 1024), dest, sha256=digest, size=len(data), source="t")
    assert dest.read_bytes() == data
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_a_buffer_the_source_fills_again_is_written_as_it_was_yielded(tmp_path: Path) -> None:
    blocks = [bytes([n]) * MIB for n in range(3 * PIPELINE_DEPTH)]

    def refilled() -> Iterator[bytes]:
        buffer = bytearray(MIB)
        for block in blocks:
            buffer[:] = block
            yield buffer  # type: ignore[misc]  # a bytearray, filled again after the yield

    data = b"".join(blocks)
    dest = tmp_path / "out.bin"
    digest = hashlib.sha256(data).hexdigest()
    write_verified(refilled(), dest, sha256=digest, size=len(data), source="t")
    assert dest.read_bytes() == data


def test_a_stream_longer_than_announced_is_refused_with_batches_queued(tmp_path: Path) -> None:
    dest = tmp_path / "out.bin"
    dest.write_bytes(b"old")
    data = b"x" * (2 * PIPELINE_DEPTH + 4) * MIB
    size = len(data) - 1
    with pytest.raises(GateError, match="longer than the expected"):
        write_verified(pieces(data, MIB), dest, sha256="0" * 64, size=size, source="t")
    assert dest.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_a_write_that_fails_on_the_writer_thread_is_raised_and_cleaned(tmp_path: Path) -> None:
    child = textwrap.dedent(
        """
        import resource, signal, sys
        from pathlib import Path
        from pipeline.errors import FileSystemError
        from pipeline.store.base import write_verified
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
        chunks = (b"y" * 65536 for _ in range(64))  # 4 MiB: past the 1 MiB file limit
        try:
            write_verified(chunks, Path(sys.argv[1]), sha256="0" * 64, size=4 << 20, source="t")
        except FileSystemError as error:
            print(error)
        """
    )
    dest = tmp_path / "out.bin"
    done = subprocess.run(
        [sys.executable, "-c", child, str(dest)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "write" in done.stdout and str(dest) in done.stdout, done.stdout
    assert list(tmp_path.iterdir()) == []
