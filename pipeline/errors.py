"""One error hierarchy for the whole package, with the exit code each error maps to.

| code | meaning                                   | class            |
|------|-------------------------------------------|------------------|
| 0    | ok                                        | (no error)       |
| 1    | a gate or a verification said no          | `GateError`      |
| 2    | bad input or usage                        | `InputError`     |
| 3    | unexpected error (please report a bug)    | `PowerXError`    |

Every error knows how to describe itself (`diagnostics()`), so the one top-level
handler in `pipeline.cli.errors` only prints and exits.
"""

from __future__ import annotations

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
