"""Blob uploads of the OCI distribution spec: a session's `PATCH` chunks and its final `PUT`.

A file goes up in `chunk`-byte `PATCH` requests (`Content-Range`), each streamed 1 MiB at a
time from the file, so memory stays flat; the final `PUT ?digest=` names the digest, which
the registry checks against what it received.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from pipeline.errors import InputError
from pipeline.fsutil import CHUNK, open_read
from pipeline.store.oci.transport import RegistryTransport


def send_chunks(
    transport: RegistryTransport,
    chunk: int,
    location: str,
    path: Path,
    size: int,
    stop: Callable[[], bool | None] = lambda: False,
) -> tuple[str, bool]:
    """`PATCH` the file in `chunk`-byte pieces: (the session's location, stopped).

    Before each piece `stop` is asked: True stops, False goes on without asking again,
    None (not known yet) asks again before the next piece.
    """
    asking = True
    with open_read(path) as handle:
        offset = 0
        while offset < size:
            if asking:
                answer = stop()
                if answer:
                    return location, True
                asking = answer is None
            length = min(chunk, size - offset)
            sent = transport.request(
                "PATCH",
                location,
                push=True,
                content=read_exactly(handle, length, path),
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(length),
                    "Content-Range": f"{offset}-{offset + length - 1}",
                },
            )
            transport.expect(sent, (202,), "upload a chunk to")
            location = transport.location(sent)
            offset += length
    return location, False


def finish_upload(transport: RegistryTransport, location: str, digest: str) -> None:
    """The final `PUT ?digest=` of an upload session (the registry checks the digest)."""
    done = transport.request(
        "PUT",
        location,
        push=True,
        params={"digest": f"sha256:{digest}"},
        headers={"Content-Length": "0", "Content-Type": "application/octet-stream"},
    )
    transport.expect(done, (201,), "finish an upload to")


def read_exactly(handle: BinaryIO, length: int, path: Path) -> Iterator[bytes]:
    """The next `length` bytes of `handle`, `CHUNK` at a time (InputError if it ends first)."""
    remaining = length
    while remaining:
        chunk = handle.read(min(CHUNK, remaining))
        if not chunk:
            raise InputError(f"{path} became shorter while it was read")
        remaining -= len(chunk)
        yield chunk


def same_size(hashed: tuple[str, int], size: int, path: Path) -> str:
    """The digest `hash_file` found, if it read as many bytes as were uploaded."""
    digest, read = hashed
    if read != size:
        raise InputError(
            f"{path} changed while it was uploaded ({size:,} bytes, then {read:,})",
            hint="push the package again once nothing writes to it",
        )
    return digest
