"""`powerx export` and `powerx plugin import --offline`: bundles for isolated networks."""

from __future__ import annotations

import getpass
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pipeline.bundle.export import ExportRequest, export_bundle
from pipeline.bundle.importer import ImportRequest, ImportResult
from pipeline.cli.oci_offline import (
    export_to_registry,
    pull_summary,
    registry_scanner,
    release_lines,
)
from pipeline.cli.options import (
    format_option,
    health_timeout_option,
    plugin_store_option,
    registry_options,
    repo_option,
    store_options,
)
from pipeline.cli.vocabulary import WEBHOOKS_ENV, Command, Duration, emit, webhooks_from_env
from pipeline.errors import InputError
from pipeline.store import store_for
from pipeline.store.oci.reference import SCHEME as OCI_SCHEME
from pipeline.store.oci.store import RegistryAccess
from pipeline.workflows.offline_import import Alert
from pipeline.workflows.offline_import import import_offline as import_with_alerts

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

__all__ = ["export", "import_offline"]

PAUSE_ENV = "POWERX_TEST_PAUSE_AT"
"""Test seam: the import stage ("verified", "storing", "stored", "committed") at which the
process prints `paused <stage>` on stdout and sleeps, so a test can kill -9 it there."""


class _Bar:
    """A byte counter on stderr when it is a terminal (drawn once the total is known)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: ProgressBar[int] | None = None

    def start(self, total: int) -> None:
        if sys.stderr.isatty() and self.bar is None:
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr)
            self.bar.__enter__()

    def __call__(self, count: int) -> None:
        if self.bar is not None:
            self.bar.update(count)


@contextmanager
def _progress_bar(label: str) -> Iterator[_Bar]:
    bar = _Bar(label)
    try:
        yield bar
    finally:
        if bar.bar is not None:
            bar.bar.__exit__(None, None, None)


@click.command("export")
@click.option("--env", "environment", required=True, help="The environment to export.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The bundle file to write (or --to).",
)
@click.option(
    "--to",
    "to_registry",
    metavar="oci://HOST/REPO[:TAG]",
    help="Push the bundle to a registry instead, as one OCI artifact [default tag: ENV].",
)
@repo_option("The release repo to export from.")
@click.option("--rev", default="HEAD", show_default=True, help="The revision to export.")
@click.option(
    "--store",
    "stores",
    multiple=True,
    help="An artifact store holding the .pxp files: a directory (content-addressed) or "
    "oci://HOST/REPO; repeatable.",
)
@click.option(
    "--artifact",
    "artifacts",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A loose .pxp file to take artifacts from (matched by sha256); repeatable.",
)
@click.option(
    "--since", help="An earlier bundle file or revision: carry only what the target lacks."
)
@click.option(
    "--key",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The private key that signs the bundle (passphrase from $PX_PASSPHRASE).",
)
@click.option(
    "--valid-for",
    type=Duration(),
    default="30d",
    show_default=True,
    help="Expiry: a duration, e.g. 30d, 12h.",
)
@click.option("--source-name", help="How the bundle names the source repo [default: its folder].")
@registry_options()
@format_option()
def export(
    environment: str,
    output: Path | None,
    to_registry: str | None,
    repo_dir: Path,
    rev: str,
    stores: tuple[str, ...],
    artifacts: tuple[Path, ...],
    since: str | None,
    key: Path,
    valid_for: float,
    source_name: str | None,
    registry_credentials_env: str | None,
    ca_file: Path | None,
    output_format: str,
) -> int:
    """Export ENV as one signed offline bundle: desired state, releases, artifacts, licences."""
    from pipeline.signing.keys import passphrase_for

    if (output is None) == (to_registry is None):
        raise InputError(
            "give exactly one of -o FILE and --to oci://HOST/REPO[:TAG]",
            hint="-o writes a bundle file; --to pushes it to a registry",
        )
    passphrase = passphrase_for(os.environ)
    request = ExportRequest(
        repo=repo_dir,
        environment=environment,
        output=output or Path(str(to_registry)),
        key=key,
        passphrase=passphrase,
        now=datetime.now(UTC),
        rev=rev,
        stores=tuple(Path(store) for store in stores if not store.startswith(OCI_SCHEME)),
        sources=tuple(
            store_for(store, store_options(registry_credentials_env, ca_file))
            for store in stores
            if store.startswith(OCI_SCHEME)
        ),
        artifacts=artifacts,
        since=since,
        valid_for=timedelta(seconds=valid_for),
        source_name=source_name,
    )
    if to_registry is not None:
        access = RegistryAccess(registry_credentials_env, ca_file)
        return export_to_registry(request, to_registry, access, output_format)
    with _progress_bar(f"export {environment}") as progress:
        result = export_bundle(request, progress=progress)
    manifest = result.manifest
    kind = "incremental" if manifest.since is not None else "full"
    lines = [
        f"exported {environment} ({kind}) to {output}: {result.size:,} bytes, "
        f"{len(result.included)} of {len(manifest.releases)} release(s) included",
        f"  sequence {manifest.sequence}, expires {manifest.expires.isoformat()}",
        f"  bundle digest sha256:{result.digest}",
    ]
    lines += release_lines(manifest)
    data = {
        "environment": environment,
        "kind": kind,
        "output": str(output),
        "size": result.size,
        "sequence": manifest.sequence,
        "expires": manifest.expires.isoformat(),
        "digest": f"sha256:{result.digest}",
        "releases": [
            {
                "plugin": release.plugin,
                "version": release.version,
                "role": release.role,
                "included": release.included,
            }
            for release in manifest.releases
        ],
        "warnings": list(result.warnings),
    }
    emit(output_format, data, "".join(f"{line}\n" for line in lines))
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    return 0


def _pause_from_env() -> Callable[[str], None]:
    wanted = os.environ.get(PAUSE_ENV)

    def pause(stage: str) -> None:
        if stage == wanted:
            click.echo(f"paused {stage}")
            sys.stdout.flush()
            time.sleep(3600)

    return pause


@click.command(
    "import",
    cls=Command,
    renamed={"--store": "--plugin-store", "--alert-webhook": "--webhook"},
)
@click.argument("bundle", required=False)
@click.option("--offline", is_flag=True, required=True, help="Import an offline bundle.")
# `--from oci://...` (the registry issue's spelling) names BUNDLE too; --from is a plugin
# folder in the vocabulary, so it stays out of the help.
@click.option("--from", "bundle_from", hidden=True)
@repo_option("The site's own release repo.")
@plugin_store_option()
@click.option("--branch", help="The site repo's branch [default: the checked-out one].")
@click.option("--host-version", help="The PowerX version of this host, checked against releases.")
@click.option("--operator", help="Who imports [default: the login name].")
@click.option("--allow-rollback", is_flag=True, help="Accept an older bundle (recorded).")
@click.option("--allow-expired", is_flag=True, help="Accept an expired bundle (recorded).")
@click.option("--no-deploy", is_flag=True, help="Commit and store only; deploy later.")
@click.option("--tenant", help="Deploy as this tenant (canary resolution).")
@health_timeout_option()
@click.option(
    "--webhook",
    "webhooks",
    multiple=True,
    metavar="URL",
    help="POST an alert here when the import is refused or rolled back "
    f"(repeatable; also ${WEBHOOKS_ENV}).",
)
@registry_options()
@format_option()
def import_offline(
    bundle: str | None,
    offline: bool,
    bundle_from: str | None,
    repo_dir: Path,
    store_dir: Path,
    branch: str | None,
    host_version: str | None,
    operator: str | None,
    allow_rollback: bool,
    allow_expired: bool,
    no_deploy: bool,
    tenant: str | None,
    health_timeout: float,
    webhooks: tuple[str, ...],
    registry_credentials_env: str | None,
    ca_file: Path | None,
    output_format: str,
) -> int:
    """Verify an offline BUNDLE against this site's trust, then commit, store and deploy it.

    BUNDLE is a bundle file, or oci://HOST/REPOSITORY:TAG (or @sha256:DIGEST) in the site's
    registry: pulled into the plugin store's incoming/ folder, where an interrupted pull
    resumes, and held to the same checks as a file before anything is written.
    """
    if (bundle is None) == (bundle_from is None):
        raise click.UsageError("give the BUNDLE to import (a file or oci://HOST/REPOSITORY:TAG)")
    bundle = bundle or bundle_from
    assert bundle is not None
    now = datetime.now(UTC)
    pause = _pause_from_env()
    scanner = None
    if bundle.startswith(OCI_SCHEME):
        access = RegistryAccess(registry_credentials_env, ca_file)
        scanner = registry_scanner(bundle, access, store_dir, pause)
    elif not Path(bundle).is_file():
        raise InputError(
            f"no bundle file {bundle}",
            hint="give a bundle file, or oci://HOST/REPOSITORY:TAG in the site's registry",
        )
    request = ImportRequest(
        bundle=Path(bundle),
        repo=repo_dir,
        store=store_dir,
        now=now,
        branch=branch,
        host_version=host_version,
        operator=operator or _login(),
        allow_rollback=allow_rollback,
        allow_expired=allow_expired,
        deploy=not no_deploy,
        tenant=tenant,
        health_timeout=health_timeout,
    )
    with _progress_bar("verify") as progress:
        outcome = import_with_alerts(
            request,
            webhooks=[*webhooks, *webhooks_from_env(os.environ, shared=False)],
            environ=os.environ,
            progress=progress,
            pause=pause,
            scanner=scanner,
            source=scanner.where if scanner is not None else None,
        )
    if scanner is not None:
        scanner.finish()  # imported or refused: a next run starts afresh
        click.echo(pull_summary(scanner), err=True)
    if outcome.refused is not None:
        _show_alert(outcome.alert)
        raise outcome.refused
    assert outcome.result is not None
    emit(output_format, import_json(outcome.result), import_text(outcome.result))
    _show_alert(outcome.alert)
    return outcome.exit_code


def _login() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def _show_alert(alert: Alert | None) -> None:
    if alert is None:
        return
    for problem in alert.problems:
        click.echo(f"alert not delivered: {problem}", err=True)
    if not alert.problems:
        click.echo(f"alert sent ({alert.event})", err=True)


def import_text(result: ImportResult) -> str:
    """The import for people: what was committed, stored and deployed."""
    manifest = result.manifest
    lines = []
    if result.resumed:
        lines.append(f"bundle {result.digest[:12]} was already committed; resuming")
    lines.append(
        f"imported {manifest.environment} sequence {manifest.sequence} from "
        f"{manifest.source.repo}@{manifest.source.commit[:12]}: commit {(result.commit or '')[:12]}"
    )
    lines += [f"  override: {override}" for override in result.overrides]
    lines.append(f"  {len(result.stored)} artifact(s) in the store")
    for deployed in result.deployed:
        health = {True: "healthy", False: "UNHEALTHY", None: "no check"}[deployed.healthy]
        lines.append(
            f"  {deployed.plugin}: {deployed.action} {deployed.version or '-'} ({health})"
            + (f": {deployed.message}" if deployed.message and not deployed.healthy else "")
        )
    if result.deploy_note:
        lines.append(f"  {result.deploy_note}")
    lines += [f"  ROLLED BACK {rollback}" for rollback in result.rollbacks]
    return "".join(f"{line}\n" for line in lines)


def import_json(result: ImportResult) -> dict[str, object]:
    """The import as JSON data."""
    manifest = result.manifest
    return {
        "ok": result.ok,
        "environment": manifest.environment,
        "sequence": manifest.sequence,
        "source": {"repo": manifest.source.repo, "commit": manifest.source.commit},
        "digest": f"sha256:{result.digest}",
        "commit": result.commit,
        "resumed": result.resumed,
        "overrides": list(result.overrides),
        "stored": list(result.stored),
        "deployed": [
            {
                "plugin": d.plugin,
                "action": d.action,
                "version": d.version,
                "healthy": d.healthy,
                "message": d.message,
            }
            for d in result.deployed
        ],
        "deployNote": result.deploy_note,
        "rollbacks": list(result.rollbacks),
    }
