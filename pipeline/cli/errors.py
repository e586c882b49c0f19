"""The one top-level error handler: every command's errors become a message and an exit code."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence

import click

from pipeline.errors import (
    BUG_REPORT_URL,
    EXIT_BUG,
    EXIT_INPUT,
    EXIT_OK,
    FileSystemError,
    PowerXError,
)

EXIT_INTERRUPTED = 130


def run_command(command: click.Command, argv: Sequence[str] | None = None) -> int:
    """Run a click command and return its exit code; never lets a traceback through unasked."""
    try:
        result = command.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return EXIT_INTERRUPTED
    except click.ClickException as error:
        error.show()
        return EXIT_INPUT
    except PowerXError as error:
        click.echo(f"error: {error.diagnostics()}", err=True)
        return error.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except OSError as error:
        if error.filename is None:  # no path to blame: a bug, or a failure we did not expect
            return _bug()
        # a safety net: a path the user gave could not be used where no FileSystemError was raised
        click.echo(f"error: {FileSystemError.from_os_error(error).diagnostics()}", err=True)
        return EXIT_INPUT
    except Exception:
        return _bug()
    return int(result) if isinstance(result, int) else EXIT_OK


def _bug() -> int:
    """Print the traceback of the exception being handled and ask for a bug report."""
    click.echo(traceback.format_exc(), err=True)
    click.echo(
        "error: an unexpected error occurred; this is a bug in PowerX Release.\n"
        f"  Please report it with the output above: {BUG_REPORT_URL}",
        err=True,
    )
    return EXIT_BUG


def exit_with(command: click.Command) -> None:
    """Console-script entry point: run and exit with the command's code."""
    sys.exit(run_command(command))
