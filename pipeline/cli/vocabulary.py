"""One CLI vocabulary: what each option means, the same in every command of every CLI.

`VOCABULARY` is the table docs/cli.md ("Vocabulary") shows and tests/test_cli_vocabulary.py
holds every command to. Old spellings keep working for a while: a command made with
`cls=Command, renamed={...}` rewrites them to the new ones and says so on stderr.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from pipeline import duration

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Term:
    """An option's one meaning, and the kind of value it takes."""

    meaning: str
    kind: str
    """flag, text, path, number, duration, choice, date or point (a date or a text)."""


VOCABULARY: dict[str, Term] = {
    "--after": Term("the environment another one comes after in the promotion order", "text"),
    "--all": Term("every file, not only what changed", "flag"),
    "--allow-install-from": Term("a folder plugins may be installed from", "path"),
    "--allowed-host": Term("a host name a server answers to", "text"),
    "--allow-expired": Term("accept an expired bundle (recorded)", "flag"),
    "--allow-rollback": Term("accept an older bundle (recorded)", "flag"),
    "--artifact": Term("a plugin package (.pxp) file", "path"),
    "--apply": Term("do what a dry run lists (without it, nothing changes)", "flag"),
    "--as": Term("your login, as in policies/teams.yaml", "text"),
    "--base": Term("the branch or revision a change or request is compared with", "text"),
    "--branch": Term("the branch of the release repo to read from and commit on", "text"),
    "--builder": Term("who built an artifact", "text"),
    "--bundle": Term("a signature bundle (.sigstore.json)", "path"),
    "--bundles": Term("a signer trusted for offline bundles too", "flag"),
    "--ca-file": Term("a private CA bundle (PEM) for a store's TLS certificate", "path"),
    "--category": Term("a category: of Marketplace listings, or of a review's reason", "text"),
    "--change": Term("a registered change, ID=TITLE[=LINK]", "text"),
    "--changes": Term("a catalog changes file (JSON list of CatalogChange)", "path"),
    "--comment": Term("also comment on pull requests", "flag"),
    "--compatible-with": Term("a host version the plugin must run on (e.g. 2.5.0)", "text"),
    "--contact": Term("who to call, NAME=EMAIL", "text"),
    "--create": Term("create what is named when it does not exist yet", "flag"),
    "--days": Term("a number of days", "number"),
    "--dry-run": Term("print the plan (a diff) and change nothing", "flag"),
    "--emergency": Term("go live despite a freeze or window, with the reason", "text"),
    "--env": Term("an environment's name (e.g. prod)", "text"),
    "--env-dir": Term("an environment's folder (environment.yaml + plugins/*.yaml)", "path"),
    "--events": Term("a usage events file (JSON lines)", "path"),
    "--evidence": Term("a gate report, KIND=REPORT", "text"),
    "--force": Term("replace what exists", "flag"),
    "--from": Term("a plugin folder (with plugin.yaml) or its built dist/", "path"),
    "--format": Term("how the result is printed: text (people) or json (tools)", "choice"),
    "--from-template": Term(
        "a template: a permissions template file, or an environment to copy", "text"
    ),
    "--grant-declared": Term("grant the tenant what plugin.yaml declares (local hosts)", "flag"),
    "--github-repo": Term("the GitHub repository, owner/name", "text"),
    "--group": Term("a tenant group of environment.yaml", "text"),
    "--head": Term("the revision to check", "text"),
    "--health-timeout": Term("the longest a health check may take (a duration)", "duration"),
    "--host-version": Term("the PowerX version of this host", "text"),
    "--identity": Term("a keyless signer's identity", "text"),
    "--identity-regexp": Term("a regular expression over keyless signers' identities", "text"),
    "--identity-token": Term("an OIDC token for keyless signing", "text"),
    "--interval": Term("the time between two rounds (a duration)", "duration"),
    "--issuer": Term("the OIDC issuer of --identity", "text"),
    "--keep": Term("how many other versions to keep", "number"),
    "--key": Term("a key file: private to sign or approve, public to verify", "path"),
    "--limit": Term("the most results to print", "number"),
    "--listing": Term("a Marketplace listing file (listing.yaml)", "path"),
    "--listen": Term("the address to listen on (default loopback only)", "text"),
    "--lock": Term("lock the version with its tag", "flag"),
    "--max-restarts": Term("restarts of a crashing plugin before it is marked failed", "number"),
    "--metrics-file": Term("a JSON or CSV file of metric samples", "path"),
    "--name": Term("a display name", "text"),
    "--no-catalog": Term("record the approval only: the catalog sync lists it later", "flag"),
    "--no-deploy": Term("commit and store only", "flag"),
    "--no-pr": Term("push the branch but open no pull request", "flag"),
    "--no-notify": Term("tell no subscriber", "flag"),
    "--no-push": Term("commit locally only", "flag"),
    "--not-after": Term("the end of a signature's validity", "date"),
    "--not-before": Term("the start of a signature's validity", "date"),
    "--notes": Term("release notes (Markdown file)", "path"),
    "--offboard": Term("revoke what still depends on it, in the same commit", "flag"),
    "--offline": Term("the input is an offline bundle", "flag"),
    "--offset": Term("how many results to skip (paging)", "number"),
    "--operator": Term("who asks, recorded in the commit", "text"),
    "--output": Term("the file or folder written (-o)", "path"),
    "--plan": Term("a plan of a listing's pricing", "text"),
    "--plugin": Term("a plugin's name", "text"),
    "--plugin-store": Term("the host's plugin store folder ($POWERX_PLUGIN_STORE)", "path"),
    "--port": Term("the TCP port to listen on (0: any free port)", "number"),
    "--policy": Term("a signing policy file", "path"),
    "--pricing": Term("a pricing model: free, freemium or paid", "choice"),
    "--prometheus": Term("a Prometheus base URL", "text"),
    "--propose": Term("propose the change as a pull request instead of committing it", "flag"),
    "--public-key": Term("a public key file (PEM), never a private one", "path"),
    "--pull-request": Term("a pull request's number", "number"),
    "--push": Term("push to this remote (a bare --push means origin)", "text"),
    "--reason": Term("why, recorded in the commit", "text"),
    "--registry-credentials-env": Term(
        "the environment variable holding a registry's user:password", "text"
    ),
    "--remote": Term("a git remote", "text"),
    "--remove": Term("take out instead of putting in", "flag"),
    "--replace": Term("replace an entry of the same name", "flag"),
    "--repo": Term("the release repo's folder", "path"),
    "--retry-failed": Term("try again what failed its health check", "flag"),
    "--rev": Term("the revision to read", "text"),
    "--runner-ref": Term("the 40-hex commit of the runner CI installs (a pin)", "text"),
    "--runner-source": Term("the git URL CI installs the runner from", "text"),
    "--sign": Term("sign the package first", "flag"),
    "--since": Term("only what came after this point: a date, revision or earlier bundle", "point"),
    "--slack-webhook": Term("a Slack-compatible webhook URL ($POWERX_SLACK_WEBHOOKS)", "text"),
    "--source-commit": Term("the git commit an artifact was built from", "text"),
    "--source-name": Term("how a bundle names its source repo", "text"),
    "--status": Term("an agent's status file (status.json) a site reports", "path"),
    "--staging": Term("use Sigstore's staging instance", "flag"),
    "--store": Term("an artifact store: a folder or URL ($POWERX_STORE)", "text"),
    "--tenant": Term("a tenant's name", "text"),
    "--timeout": Term("the longest a step may take (a duration)", "duration"),
    "--to": Term("a registry to push to, oci://HOST/REPOSITORY[:TAG]", "text"),
    "--tokens": Term("the web console's token file", "path"),
    "--trial": Term("a trial, not a purchase", "flag"),
    "--trust-proxy-header": Term("the header a trusted reverse proxy names the user in", "text"),
    "--trusted-root": Term("a private Sigstore instance's trusted_root.json", "path"),
    "--until": Term("the day something ends (YYYY-MM-DD, UTC)", "date"),
    "--valid-for": Term("how long something stays valid (a duration)", "duration"),
    "--verbose": Term("say more", "flag"),
    "--verified": Term("only verified vendors (tag verified-vendor, signature valid)", "flag"),
    "--version": Term("a plugin's version", "text"),
    "--webhook": Term("a webhook URL that gets CloudEvents events ($POWERX_WEBHOOKS)", "text"),
}
"""Long option name -> its one meaning. A new CLI reuses these names or adds to them."""

WEBHOOKS_ENV = "POWERX_WEBHOOKS"
"""The one webhook variable family: $POWERX_WEBHOOKS (CloudEvents) and
$POWERX_SLACK_WEBHOOKS (Slack-compatible text)."""

OLD_WEBHOOK_ENVS = ("POWERX_WEBHOOK", "POWERX_ALERT_WEBHOOK")
"""Single-URL variables of earlier versions: still read, with a deprecation warning."""


def webhooks_from_env(environ: Mapping[str, str], *, shared: bool = True) -> list[str]:
    """$POWERX_WEBHOOKS (unless `shared` is False: the caller reads it) and the old variables."""
    from pipeline.notify import urls_from_env

    urls = urls_from_env(environ, WEBHOOKS_ENV) if shared else []
    for old in OLD_WEBHOOK_ENVS:
        if environ.get(old):
            deprecation(f"${old}", f"${WEBHOOKS_ENV}")
            urls += urls_from_env(environ, old)
    return urls


def deprecation(old: str, new: str) -> None:
    """The one-line warning an old spelling gets, on stderr."""
    click.echo(f"warning: {old} is deprecated: use {new}", err=True)


def rename_args(args: list[str], renamed: Mapping[str, str]) -> list[str]:
    """`args` with each old option spelling (`--old`, `--old=value`) replaced by its new one.

    A value maps too: a key "--format=table" renames that option's value.
    """
    out: list[str] = []
    rest = iter(args)
    for arg in rest:
        if arg == "--":
            out += [arg, *rest]
            break
        name, eq, value = arg.partition("=")
        if name in renamed:
            deprecation(name, renamed[name])
            out.append(renamed[name] + eq + value)
        else:
            out.append(arg)
    for key, new in renamed.items():  # renamed values: "--format=table" -> "--format=text"
        option, eq, old_value = key.partition("=")
        if not eq:
            continue
        for i, arg in enumerate(out):
            if arg == f"{option}={old_value}" or (
                arg == option and i + 1 < len(out) and out[i + 1] == old_value
            ):
                deprecation(f"{option} {old_value}", new.replace("=", " "))
                if arg == option:
                    out[i + 1] = new.partition("=")[2]
                else:
                    out[i] = new
    return out


class Command(click.Command):
    """A command that still understands the old spellings of its options (`renamed`)."""

    def __init__(self, *args: Any, renamed: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.renamed = dict(renamed or {})

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, rename_args(args, self.renamed))


class Duration(click.ParamType[float, Any]):
    """A duration (`pipeline.duration`): seconds, or e.g. 90s, 5m, 1h30m, 30d."""

    name = "duration"

    def __init__(self, minimum: float = 0.0) -> None:
        self.minimum = minimum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int | float):
            seconds = float(value)
        else:
            try:
                seconds = duration.parse_duration(str(value))
            except ValueError as error:
                self.fail(f"{value!r}: {error}", param, ctx)
        if seconds < self.minimum or seconds <= 0:
            self.fail(f"{value!r}: must be longer than {self.minimum:g} s", param, ctx)
        return seconds


def emit(output_format: str, data: Mapping[str, Any], text: str) -> None:
    """Print the result: `text` as is, or `data` as indented JSON."""
    if output_format == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(text, nl=False)
