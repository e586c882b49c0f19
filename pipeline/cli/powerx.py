"""`powerx`: the release-repo runner.

The group imports no command: each lives in its own module, imported when it runs
(`COMMANDS`), so `powerx --version` and `powerx --help` start at once.
"""

from __future__ import annotations

import click

from pipeline import __version__
from pipeline.cli.errors import exit_with
from pipeline.cli.lazy import Lazy, LazyGroup

COMMANDS = {
    "agent": Lazy(
        "pipeline.cli.agent:agent",
        "The host side: make a local plugin store match an environment folder.",
    ),
    "approve": Lazy(
        "pipeline.cli.cmd_approve:approve",
        "Approve RELEASE (plugin@version) for an environment with a signed record.",
    ),
    "audit": Lazy(
        "pipeline.cli.cmd_audit:audit",
        "The audit trail from git history: who, when, what, which plugin, version, environment.",
    ),
    "check": Lazy(
        "pipeline.cli.cmd_check:check", "Run every gate on what changed between BASE and HEAD."
    ),
    "console": Lazy(
        "pipeline.cli.cmd_console:console",
        "The web console's users: tokens to log in with (`powerx serve`).",
    ),
    "export": Lazy(
        "pipeline.cli.offline:export",
        "Export ENV as one signed offline bundle: desired state, releases, artifacts, licences.",
    ),
    "host": Lazy(
        "pipeline.cli.host:host",
        "Run the plugins active in a plugin store for its tenants, behind one local address.",
    ),
    "init": Lazy(
        "pipeline.cli.cmd_init:init",
        "Scaffold a release repo in DIRECTORY: policies, environments and CI, as one commit.",
    ),
    "plan": Lazy(
        "pipeline.cli.cmd_plan:plan",
        "The release plan of RELEASE (plugin@version) as Markdown; --lock tags it.",
    ),
    "plugin": Lazy(
        "pipeline.cli.plugin_group:plugin",
        "A site's and a local host's plugins: install, import, enable, grant, status.",
    ),
    "promote": Lazy(
        "pipeline.cli.cmd_promote:promote",
        "Move PLUGIN[@VERSION] (or every plugin) one environment further along the order.",
    ),
    "publish": Lazy(
        "pipeline.cli.cmd_publish:publish",
        "Release requests: publish a signed package as a release.",
    ),
    "remind": Lazy(
        "pipeline.cli.cmd_remind:remind",
        "List requests waiting for approvals; exit 1 when any is past its SLA.",
    ),
    "rollback": Lazy(
        "pipeline.cli.cmd_rollback:rollback",
        "Restore the previous desired state of PLUGIN in an environment, as a revert commit.",
    ),
    "rollout": Lazy("pipeline.cli.rollout:rollout", "Canary rollouts: start, step, watch, status."),
    "schema": Lazy(
        "pipeline.cli.cmd_init:schema",
        "Write the JSON Schema of every file kind, for editors and other tools.",
    ),
    "serve": Lazy(
        "pipeline.cli.cmd_serve:serve",
        "Serve the web console of a release repo: its views as pages and as JSON, its actions.",
    ),
    "site": Lazy("pipeline.cli.cmd_site:site", "The console's read views as a static site."),
    "store": Lazy(
        "pipeline.cli.store:store",
        "The artifact store's upkeep: gc lists, and deletes, what nothing references.",
    ),
    "team": Lazy(
        "pipeline.cli.trust:team",
        "Teams of approvers in policies/teams.yaml: one commit per change.",
    ),
    "trust": Lazy(
        "pipeline.cli.trust:trust",
        "Trusted release signers in policies/signing.yaml: one commit per change.",
    ),
}
"""Every `powerx` command: where it lives and its short help (tests/test_cli_lazy.py keeps
the short help equal to the command's own)."""


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="powerx")
def cli() -> None:
    """PowerX Release: the release-repo runner.

    Checks every change to a release repo against the gates of its trusted base, with
    git as the single source of truth.
    """


def main() -> None:
    """Entry point of the `powerx` console script."""
    exit_with(cli)
