"""One error hierarchy for the whole package, with the exit code each error maps to.

| code | meaning                                   | class            |
|------|-------------------------------------------|------------------|
| 0    | ok                                        | (no error)       |
| 1    | a gate or a verification said no          | `GateError`      |
| 2    | bad input or usage, an unusable path      | `InputError`     |
| 3    | unexpected error (please report a bug)    | `PowerXError`    |

Every error knows how to describe itself (`diagnostics()`), so the one top-level
handler in `pipeline.cli.errors` only prints and exits.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass

EXIT_OK = 0
EXIT_GATE = 1
EXIT_INPUT = 2
EXIT_BUG = 3

BUG_REPORT_URL = "https://github.com/powerx/powerx-release/issues/new"


@dataclass(frozen=True)
class Location:
    """Where in which file something is wrong (1-based line and column, when known)."""

    path: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        text = self.path
        if self.line is not None:
            text += f":{self.line}"
            if self.column is not None:
                text += f":{self.column}"
        return text


class PowerXError(Exception):
    """Base of every error we raise on purpose; exit code 3 unless a subclass says otherwise."""

    exit_code = EXIT_BUG

    def __init__(
        self, message: str, *, location: Location | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.hint = hint

    def diagnostics(self) -> str:
        """A human-readable description: where, what, and what to do about it."""
        where = f"{self.location}: " if self.location else ""
        text = f"{where}{self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class InputError(PowerXError):
    """Bad input: a file, an argument or a revision we cannot accept (exit 2)."""

    exit_code = EXIT_INPUT


class GateError(PowerXError):
    """A gate or a verification said no (exit 1)."""

    exit_code = EXIT_GATE


class CombinedInputError(InputError):
    """Several independent input problems, reported together."""

    def __init__(self, errors: list[InputError]) -> None:
        super().__init__(f"{len(errors)} input problem(s)")
        self.errors = errors

    def diagnostics(self) -> str:
        return "\n".join(error.diagnostics() for error in self.errors)


_FS_HINTS: dict[int, str] = {
    errno.EACCES: "check the permissions of {path} and of the folders above it{or_choose}",
    errno.EPERM: "check the permissions of {path} and of the folders above it{or_choose}",
    errno.EROFS: "the file system is read-only: choose a path on a writable one",
    errno.ENOSPC: "free some space on that file system, or choose a path on another one",
    errno.EDQUOT: "the disk quota is exhausted: free some space, or choose another path",
    errno.ENOTDIR: "a part of {path} is a file where a folder is expected",
    errno.EISDIR: "{path} is a folder where a file is expected",
    errno.EEXIST: "{path} already exists (as a file, or as a link): move it away",
    errno.ENAMETOOLONG: "the path or one of its names is too long: choose a shorter one",
    errno.ENOENT: "it does not exist (or vanished while in use): check the path",
    errno.ELOOP: "{path} leads through too many links (a link loop?)",
}

_READS = {"read", "open", "list", "use"}

_FS_OPERATIONS = {
    "mkdir": "create directory",
    "makedirs": "create directory",
    "mkstemp": "create a temporary file in",
    "mkdtemp": "create a temporary directory in",
    "_mkstemp_inner": "create a temporary file in",
    "open": "open",
    "read_bytes": "read",
    "read_text": "read",
    "write_bytes": "write",
    "write_text": "write",
    "replace": "replace",
    "rename": "rename",
    "unlink": "remove",
    "rmdir": "remove",
    "rmtree": "remove",
    "symlink_to": "create link",
    "copyfile": "copy",
    "copytree": "copy",
    "chmod": "change the mode of",
    "iterdir": "list",
    "scandir": "list",
    "stat": "read",
}


class FileSystemError(InputError):
    """A read, write, mkdir, rename or temporary file on a path failed (exit 2).

    Built from the OSError and the operation: "cannot create directory /x: permission denied",
    with a hint for the usual causes (permissions, read-only, full disk, a file in the way).
    """

    def __init__(
        self, operation: str, path: object, error: OSError, *, hint: str | None = None
    ) -> None:
        target = os.fsdecode(path) if isinstance(path, str | bytes | os.PathLike) else str(path)
        reason = error.strerror or str(error) or type(error).__name__
        reason = reason[:1].lower() + reason[1:]
        known = _FS_HINTS.get(error.errno) if error.errno is not None else None
        choose = "" if operation in _READS else ", or choose a path you may write to"
        super().__init__(
            f"cannot {operation} {target}: {reason}",
            hint=hint or (known.format(path=target, or_choose=choose) if known else None),
        )
        self.operation = operation
        self.path = target
        self.errno = error.errno

    @classmethod
    def from_os_error(cls, error: OSError) -> FileSystemError:
        """The error for an OSError that names a file, its operation read off the traceback."""
        frame, operation = error.__traceback__, None
        while frame is not None and operation is None:  # the outermost known call names it
            operation = _FS_OPERATIONS.get(frame.tb_frame.f_code.co_name)
            frame = frame.tb_next
        return cls(operation or "use", error.filename, error)
