"""Bytes to text for every file we read: a size limit first, then strict UTF-8."""

from __future__ import annotations

from pipeline.errors import InputError, Location


def decode_utf8(raw: bytes, path: str, *, max_bytes: int, what: str = "file") -> str:
    """The text of `raw`, or an InputError naming the size, or the line of a bad byte."""
    if len(raw) > max_bytes:
        raise InputError(
            f"{what} is {len(raw):,} bytes, over the limit of {max_bytes:,}",
            location=Location(path),
            hint="check that the right file was named",
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        raise InputError(
            f"not valid UTF-8 (byte 0x{raw[error.start]:02x} at offset {error.start})",
            location=Location(path, line, column),
            hint="save the file as UTF-8",
        ) from None
