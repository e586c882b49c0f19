"""`px-market catalog sync` and `px-market search`: the Marketplace catalog."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pipeline import ci
from pipeline.cli.options import (
    branch_option,
    format_option,
    operator_option,
    push_option,
    repo_option,
)
from pipeline.cli.vocabulary import emit

if TYPE_CHECKING:
    from pipeline.market.search import SearchResult


@click.group("catalog")
def catalog() -> None:
    """The Marketplace catalog (catalog/), synced from approved reviews."""


@catalog.command("sync")
@repo_option()
@branch_option()
@push_option()
@click.option(
    "--all",
    "rebuild",
    is_flag=True,
    help="Rebuild every page, not only those whose sources changed.",
)
@click.option("--no-notify", is_flag=True, help="Tell no subscriber (no CloudEvents sent).")
@operator_option
@format_option()
def sync(
    repo_dir: Path,
    branch: str,
    remote: str | None,
    rebuild: bool,
    no_notify: bool,
    operator: str | None,
    output_format: str,
) -> int:
    """List every approved version in catalog/ (index plus a page per plugin), as one commit,
    then tell the subscribers (market/subscriptions.yaml) what is new.

    Nothing is committed when the catalog is up to date. Subscribers hear listing.created,
    version.published and permissions.widened as CloudEvents; with --format json, its
    "changes" list is what px-market notify --changes reads. A notification that could not
    be delivered waits in market/outbox.yaml and every later sync sends it again; exit 1
    when one (new or retried) was not delivered (the catalog commit stands).
    """
    from pipeline.gitrepo import GitRepo
    from pipeline.workflows.market_list import ListRequest, list_approved, listed_data, listed_text

    listed = list_approved(
        ListRequest(
            GitRepo(repo_dir),
            branch=branch,
            remote=remote,
            operator=operator,
            ci_run=ci.run_url(os.environ),
            rebuild=rebuild,
            notify=not no_notify,
        )
    )
    emit(output_format, listed_data(listed), listed_text(listed))
    return 0 if listed.delivered else 1


@click.command("search")
@click.argument("query", default="")
@click.option("--category", help="Only this category.")
@click.option("--pricing", type=click.Choice(["free", "freemium", "paid"]), help="Only this model.")
@click.option(
    "--compatible-with",
    "compatible_with",
    metavar="VERSION",
    help="Only plugins with a version that runs on this host version (e.g. 2.5.0).",
)
@click.option(
    "--verified",
    is_flag=True,
    help="Only verified vendors: tag verified-vendor and a signature valid under the trust policy.",
)
@click.option("--tenant", help="Also listings shown only to this tenant.")
@click.option(
    "--limit", type=click.IntRange(1, 1000), default=20, show_default=True, help="Hits to print."
)
@click.option(
    "--offset",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Hits to skip (the next page).",
)
@repo_option()
@format_option()
def search(
    query: str,
    category: str | None,
    pricing: str | None,
    compatible_with: str | None,
    verified: bool,
    tenant: str | None,
    limit: int,
    offset: int,
    repo_dir: Path,
    output_format: str,
) -> int:
    """Search the catalog: relevance-ranked hits, facets with counts, and "did you mean".

    Exit 1 when nothing is found.
    """
    from pipeline.gitrepo import GitRepo
    from pipeline.market.search import SearchQuery, open_index
    from pipeline.snapshot import Snapshot

    git = GitRepo(repo_dir)
    index = open_index(Snapshot(git, git.resolve("HEAD")))
    asked = SearchQuery(query, category, pricing, compatible_with, verified, tenant, limit, offset)
    result = index.search(asked)
    emit(output_format, result.as_data(), render(result))
    return 0 if result.total else 1


def render(result: SearchResult) -> str:
    """The hits as text: one line each, then the facets and any suggestion."""
    lines = []
    for hit in result.hits:
        badges = [b for b, on in (("verified", hit.verified), ("deprecated", hit.deprecated)) if on]
        badge = f" [{', '.join(badges)}]" if badges else ""
        trial = ", trial" if hit.trial else ""
        lines.append(
            f"{hit.plugin} {hit.version}  {hit.title}{badge}\n"
            f"    {hit.summary}\n    {', '.join(hit.categories)} · {hit.pricing}{trial}"
        )
    shown = f"{result.query.offset + 1}-{result.query.offset + len(result.hits)} of "
    lines.append(f"{shown if result.hits else ''}{result.total} hit(s)")
    for facet, counts in result.facets.items():
        if counts:
            lines.append(f"  {facet}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if result.did_you_mean:
        lines.append(f"did you mean: {result.did_you_mean!r} ({result.suggestion_hits} hit(s))")
    return "\n".join(lines) + "\n"


COMMANDS = (catalog, search)
"""What px-market gets from this module (catalog sync, search)."""
