"""Reading the files of a package that `pipeline.packaging` has already verified.

`inspect_package` enforces every archive rule (names, types, sizes, counts, checksums) in one
pass without writing anything; the rules that read contents (the secret scan, the notes)
then stream the verified package once more, here, instead of extracting it to disk. Nothing
is written and no name is used as a path, so the archive rules stay in their one home.
"""

from __future__ import annotations

import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from pipeline.market.rules.base import RuleUnavailableError


def package_files(
    path: Path, names: frozenset[str] | None = None
) -> Iterator[tuple[str, IO[bytes]]]:
    """(name, stream) of each regular file (only `names`, when given), in archive order."""
    try:
        with tarfile.open(path, "r|gz") as tar:
            for member in tar:
                if member.isfile() and (names is None or member.name in names):
                    stream = tar.extractfile(member)
                    assert stream is not None  # a regular file always has a stream
                    yield member.name, stream
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise RuleUnavailableError(f"the package could not be read again: {error}") from None


def read_text(path: Path, name: str, limit: int) -> str:
    """The first `limit` bytes of one file of the package, as text ('' if it is not there)."""
    for _, stream in package_files(path, frozenset({name})):
        return stream.read(limit).decode("utf-8", "replace")
    return ""
