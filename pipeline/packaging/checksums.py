"""`checksums.txt`: the sha256 of every file in a package, in `sha256sum` format, sorted."""

from __future__ import annotations

import re
from collections.abc import Mapping

from pipeline.errors import InputError, Location

_LINE = re.compile(r"^([0-9a-f]{64}) [ *](\S(?:.*\S)?)$")


def format_checksums(digests: Mapping[str, str]) -> bytes:
    """`<sha256>  <path>` lines sorted by path, as `sha256sum` writes them (`-c` reads them)."""
    return "".join(f"{digests[path]}  {path}\n" for path in sorted(digests)).encode("utf-8")


def parse_checksums(raw: bytes, where: str) -> dict[str, str]:
    """Path -> sha256 from `sha256sum` output; InputError naming the line of any bad one."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("checksums.txt is not valid UTF-8", location=Location(where)) from None
    digests: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = _LINE.match(line)
        if match is None:
            raise InputError(
                f"checksums.txt line {number} is not '<sha256>  <path>'",
                location=Location(where, number),
            )
        digest, path = match.groups()
        if path in digests:
            raise InputError(
                f"checksums.txt lists {path!r} twice", location=Location(where, number)
            )
        digests[path] = digest
    return digests
