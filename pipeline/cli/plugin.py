"""`px-plugin`: the plugin developer's tools: build, pack, sign and verify plugin packages.

The group imports no command: each is imported when it runs (`COMMANDS`).
"""

from __future__ import annotations

import click

from pipeline import __version__
from pipeline.cli.errors import exit_with
from pipeline.cli.lazy import Lazy, LazyGroup

COMMANDS = {
    "build": Lazy(
        "pipeline.cli.plugin_build:build",
        "Run the plugin's declared build and collect its output in DIRECTORY/dist/.",
    ),
    "dev": Lazy(
        "pipeline.cli.plugin_dev:dev",
        "Serve the plugin in DIRECTORY on a local host; rebuild and swap it on every change.",
    ),
    "keygen": Lazy(
        "pipeline.cli.plugin_sign:keygen",
        "Make an ECDSA P-256 key pair; the private key is encrypted with a passphrase.",
    ),
    "pack": Lazy(
        "pipeline.cli.plugin_build:pack",
        "Write a reproducible <name>-<version>.pxp of plugin.yaml, dist/, notes, checksums, SBOM.",
    ),
    "permissions": Lazy(
        "pipeline.cli.plugin_dev:permissions",
        "What a plugin's permissions should be, from what its calls used.",
    ),
    "publish": Lazy(
        "pipeline.cli.plugin_publish:publish",
        "Build, sign, validate DIR; open its release request and listing pull request.",
    ),
    "sign": Lazy(
        "pipeline.cli.plugin_sign:sign",
        "Sign ARTIFACT: a Sigstore bundle over an in-toto statement of the release.",
    ),
    "verify": Lazy(
        "pipeline.cli.plugin_sign:verify",
        "Verify ARTIFACT's signature, offline: digest, signature, signer, validity, revocation.",
    ),
}
"""Every `px-plugin` command: where it lives and its short help (kept equal to the
command's own by tests/test_cli_lazy.py)."""


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="px-plugin")
def cli() -> None:
    """PowerX plugin developer's tools: build, pack, sign and verify plugin packages.

    See docs/cli.md for every command.
    """


def main() -> None:
    """Entry point of the `px-plugin` console script."""
    exit_with(cli)
