"""Bytes to text for every file we read: a size limit first, then strict UTF-8, no NUL."""

from __future__ import annotations

from pipeline.errors import InputError, Location


def check_size(size: int, path: str, *, max_bytes: int, what: str = "file") -> None:
    """InputError if `size` bytes is over `max_bytes` (refused unread, so no line is given)."""
    if size > max_bytes:
        raise InputError(
            f"{what} is {size:,} bytes, over the limit of {max_bytes:,}",
            location=Location(path),
            hint="no line is named: the file is refused by its size before it is read;"
            " check that the right file was named",
        )


def decode_utf8(raw: bytes, path: str, *, max_bytes: int, what: str = "file") -> str:
    """The text of `raw`, or an InputError naming the size, or the line of a bad byte."""
    check_size(len(raw), path, max_bytes=max_bytes, what=what)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(
            f"not valid UTF-8 (byte 0x{raw[error.start]:02x} at offset {error.start})",
            location=_position(raw, error.start, path),
            hint="save the file as UTF-8",
        ) from None
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise InputError(
            f"{what} holds a NUL byte (at offset {nul}): text files never do",
            location=_position(raw, nul, path),
            hint="the file is binary or damaged: check that the right file was named",
        )
    return text


def _position(raw: bytes, offset: int, path: str) -> Location:
    line = raw.count(b"\n", 0, offset) + 1
    return Location(path, line, offset - (raw.rfind(b"\n", 0, offset) + 1) + 1)
