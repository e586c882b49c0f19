"""`powerx store`: the artifact store's upkeep (`gc`).

Exit codes: 0 listed (dry run) or deleted; 2 bad input (an unknown store, revision or
repo); 3 a bug. A dry run deletes nothing.
"""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.options import format_option, registry_options, repo_option
from pipeline.cli.vocabulary import emit
from pipeline.gitrepo import GitRepo
from pipeline.store.gc import StoredItem, collect, inventory_for, plan_gc, referenced_digests
from pipeline.store.oci.store import RegistryAccess


@click.group("store")
def store() -> None:
    """The artifact store's upkeep: gc lists, and deletes, what nothing references."""


@store.command("gc")
@click.option(
    "--store",
    "location",
    required=True,
    envvar="POWERX_STORE",
    help="The artifact store: a directory or oci://HOST/REPO [$POWERX_STORE].",
)
@repo_option("The release repo whose releases and environments say what is referenced.")
@click.option("--rev", default="HEAD", show_default=True, help="The trusted revision to read.")
@click.option(
    "--keep",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Keep the newest N versions of each plugin even when nothing references them.",
)
@click.option("--apply", is_flag=True, help="Delete the garbage [default: list it only].")
@registry_options()
@format_option()
def gc(
    location: str,
    repo_dir: Path,
    rev: str,
    keep: int,
    apply: bool,
    registry_credentials_env: str | None,
    ca_file: Path | None,
    output_format: str,
) -> int:
    """List (and with --apply delete) artifacts no release or environment references.

    Referenced is what releases/*/*/release.yaml and environments/*/plugins/*.yaml
    (stable and canary versions) name at --rev; --keep N keeps the newest N versions of
    each plugin anyway. Without --apply nothing is deleted. In an oci:// store the
    package manifests are deleted by digest, with their signature referrers; the
    registry's own garbage collection reclaims the blobs' space. Exit 0 listed or
    deleted, 2 bad input.
    """
    git = GitRepo(repo_dir)
    commit = git.resolve(rev)
    referenced = referenced_digests(git, commit)
    inventory = inventory_for(location, RegistryAccess(registry_credentials_env, ca_file))
    plan = plan_gc(inventory.items(), referenced, keep)
    deleted = collect(inventory, plan, referenced) if apply else []
    verb = "deleted" if apply else "would delete"
    lines = [
        f"store {inventory.name} at {commit.short_id}: {len(plan.kept)} kept, "
        f"{len(plan.garbage)} garbage ({plan.garbage_bytes:,} bytes)"
    ]
    lines += [f"  keep    {_label(item)}: {why}" for item, why in plan.kept]
    lines += [f"  {verb:<7} {_label(item)}" for item in (deleted if apply else plan.garbage)]
    if not apply and plan.garbage:
        lines.append("dry run: nothing deleted; run again with --apply to delete")
    if apply and deleted and inventory.note:
        lines.append(inventory.note)
    data = {
        "store": inventory.name,
        "revision": str(commit.id),
        "applied": apply,
        "kept": [{**_json(item), "reason": why} for item, why in plan.kept],
        "garbage": [_json(item) for item in plan.garbage],
        "deleted": [_json(item) for item in deleted],
        "note": inventory.note if apply and deleted else None,
    }
    emit(output_format, data, "".join(f"{line}\n" for line in lines))
    return 0


def _label(item: StoredItem) -> str:
    name = f"{item.plugin}@{item.version}" if item.plugin else "(not a package)"
    return f"{name} sha256:{item.sha256[:12]} {item.where}"


def _json(item: StoredItem) -> dict[str, object]:
    return {
        "sha256": item.sha256,
        "plugin": item.plugin,
        "version": item.version,
        "size": item.size,
        "where": item.where,
    }
