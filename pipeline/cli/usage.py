"""Small helpers every command module shares: usage errors and argument parsers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from pipeline.workflows.common import FlagError


@contextmanager
def usage_errors() -> Iterator[None]:
    """Show a workflow's FlagError as a usage error of the running command (exit 2)."""
    try:
        yield
    except FlagError as problem:
        raise click.UsageError(problem.message) from None


def release_ref(release: str) -> tuple[str, str]:
    """`plugin@version` split in two; a usage error otherwise."""
    plugin, _, version = release.partition("@")
    if not plugin or not version:
        raise click.UsageError(f"RELEASE must be plugin@version, not {release!r}")
    return plugin, version


def pair(value: str, separator: str, what: str) -> tuple[str, str]:
    """`left<separator>right`, both non-empty and stripped; a bad-parameter error otherwise."""
    left, sep, right = value.partition(separator)
    if not sep or not left.strip() or not right.strip():
        raise click.BadParameter(f"expected {what}, not {value!r}")
    return left.strip(), right.strip()
