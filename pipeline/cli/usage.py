"""Small helpers every command module shares: usage errors and argument parsers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from pipeline.refs import parse_release_ref
from pipeline.workflows.common import FlagError


@contextmanager
def usage_errors() -> Iterator[None]:
    """Show a workflow's FlagError as a usage error of the running command (exit 2)."""
    try:
        yield
    except FlagError as problem:
        raise click.UsageError(problem.message) from None


def release_ref(release: str, what: str = "RELEASE") -> tuple[str, str]:
    """`plugin@version` split in two (`pipeline.refs.parse_release_ref`); a usage error
    naming the argument (`what`) otherwise."""
    try:
        return parse_release_ref(release)
    except ValueError:
        raise click.UsageError(f"{what} must be plugin@version, not {release!r}") from None


def pair(value: str, separator: str, what: str) -> tuple[str, str]:
    """`left<separator>right`, both non-empty and stripped; a bad-parameter error otherwise."""
    left, sep, right = value.partition(separator)
    if not sep or not left.strip() or not right.strip():
        raise click.BadParameter(f"expected {what}, not {value!r}")
    return left.strip(), right.strip()
