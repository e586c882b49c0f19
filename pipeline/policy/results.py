"""What a check found: one result per gate per subject, and the overall verdict."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.errors import (
    EXIT_GATE,
    EXIT_INPUT,
    EXIT_OK,
    CombinedInputError,
    InputError,
    Location,
)

Status = Literal["pass", "fail", "warn", "error"]


class GateResult(BaseModel):
    """The outcome of one gate for one subject (a release, or a plugin in an environment)."""

    model_config = ConfigDict(frozen=True)

    subject: str = Field(description="e.g. 'hello-world@1.1.0' or 'prod/hello-world'")
    gate: str = Field(description="e.g. coverage, findings, licence, order")
    status: Status
    expected: str = ""
    found: str = ""
    message: str = ""
    file: str | None = None
    line: int | None = None
    column: int | None = None
    evidence: str | None = Field(default=None, description="the report the figure came from")
    hint: str | None = None

    @property
    def where(self) -> str:
        """file:line, for humans."""
        return str(Location(self.file, self.line, self.column)) if self.file else ""


def located(location: Location | None) -> dict[str, object]:
    """The file/line/column fields of a GateResult for a Location."""
    if location is None:
        return {}
    return {"file": location.path, "line": location.line, "column": location.column}


def results_from_error(subject: str, error: InputError) -> list[GateResult]:
    """Turn an input error (or several) into `error` results, so a report lists them all."""
    errors = error.errors if isinstance(error, CombinedInputError) else [error]
    return [
        GateResult(
            subject=subject,
            gate="input",
            status="error",
            message=item.message,
            hint=item.hint,
            **located(item.location),
        )
        for item in errors
    ]


class CheckReport(BaseModel):
    """Everything `powerx check` found between two revisions."""

    base: str
    head: str
    changed_files: int
    audit: bool = Field(default=False, description="every file at head was checked (--all)")
    results: list[GateResult] = Field(default_factory=list)

    @property
    def status(self) -> Status:
        """error if any input was bad, else fail if any gate failed, else pass."""
        statuses = {result.status for result in self.results}
        for status in ("error", "fail"):
            if status in statuses:
                return status
        return "pass"

    @property
    def exit_code(self) -> int:
        """0 all gates pass, 1 a gate failed, 2 bad input."""
        return {"error": EXIT_INPUT, "fail": EXIT_GATE}.get(self.status, EXIT_OK)

    def subjects(self) -> dict[str, list[GateResult]]:
        """Results grouped by subject, in first-seen order."""
        grouped: dict[str, list[GateResult]] = {}
        for result in self.results:
            grouped.setdefault(result.subject, []).append(result)
        return grouped
