"""`powerx trust` and `powerx team`: trusted signers and approvers, edited as one commit each."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import click

from pipeline import ci
from pipeline.cli.options import (
    branch_option,
    combine,
    format_option,
    operator_option,
    push_option,
    repo_option,
)
from pipeline.gitrepo import GitRepo
from pipeline.policy.edit import Actor, Committed, known_environments, read_policies
from pipeline.policy.signer_inputs import check_identity, read_public_key
from pipeline.policy.team_edit import MemberChange, add_member, remove_member, team_rows
from pipeline.policy.trust_edit import Scope, TrustChange, add_identity, add_key, remove_signer
from pipeline.policy.trust_list import signer_rows

F = TypeVar("F", bound=Callable[..., Any])

_writing = combine(
    repo_option(),
    branch_option("The branch to commit on (its tip is edited)."),
    push_option(),
    operator_option,
    format_option(),
)
_reading = combine(
    repo_option(),
    branch_option("The branch whose tip is read."),
    format_option(),
)


def _scope_options(command: F) -> F:
    return combine(
        click.option(
            "--env",
            "environments",
            metavar="ENV",
            multiple=True,
            help="Also list the signer in this environment's allow-list (repeatable); an "
            "environment without one then accepts only the signers listed there.",
        ),
        click.option("--bundles", is_flag=True, help="Also allow it to sign offline bundles."),
    )(command)


def _actor(operator: str | None) -> Actor:
    return Actor(operator=operator, ci_run=ci.run_url(os.environ))


@click.group()
def trust() -> None:
    """Trusted release signers in policies/signing.yaml: one commit per change."""


@trust.command("add-key")
@click.argument("name")
@click.option(
    "--public-key",
    "public_key",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The signer's PEM public key (ECDSA P-256, the .pub file px-plugin keygen writes).",
)
@_scope_options
@click.option("--replace", is_flag=True, help="Trust this key under NAME instead of NAME's key.")
@_writing
def add_key_command(
    name: str,
    public_key: Path,
    environments: tuple[str, ...],
    bundles: bool,
    replace: bool,
    repo_dir: Path,
    branch: str,
    remote: str | None,
    operator: str | None,
    output_format: str,
) -> int:
    """Trust the public key in --public-key FILE under NAME (a private key is refused)."""
    key = read_public_key(public_key)
    done = add_key(
        GitRepo(repo_dir),
        name,
        key,
        Scope(environments, bundles),
        replace=replace,
        actor=_actor(operator),
        branch=branch,
        remote=remote,
    )
    _render_trust(done, f"trusted key {name} (id {key.key_id})", output_format)
    return 0


@trust.command("add-identity")
@click.option("--identity", help="The signer's exact identity: an e-mail address or a URI.")
@click.option("--identity-regexp", help="Or: a regular expression the whole identity matches.")
@click.option("--issuer", required=True, help="The OIDC issuer, an https URL.")
@_scope_options
@_writing
def add_identity_command(
    identity: str | None,
    identity_regexp: str | None,
    issuer: str,
    environments: tuple[str, ...],
    bundles: bool,
    repo_dir: Path,
    branch: str,
    remote: str | None,
    operator: str | None,
    output_format: str,
) -> int:
    """Trust a keyless (Sigstore) signer: an identity from an OIDC issuer."""
    rule = check_identity(identity, identity_regexp, issuer)
    done = add_identity(
        GitRepo(repo_dir),
        rule,
        Scope(environments, bundles),
        actor=_actor(operator),
        branch=branch,
        remote=remote,
    )
    _render_trust(done, f"trusted keyless signer {done.outcome.signer}", output_format)
    return 0


@trust.command("remove")
@click.argument("name", required=False)
@click.option("--identity", help="Remove this keyless identity (or identity pattern) instead.")
@click.option("--issuer", help="The identity's issuer, when it is trusted from several.")
@_writing
def remove_command(
    name: str | None,
    identity: str | None,
    issuer: str | None,
    repo_dir: Path,
    branch: str,
    remote: str | None,
    operator: str | None,
    output_format: str,
) -> int:
    """Stop trusting key NAME (or key id), or a keyless --identity, everywhere it is listed."""
    done = remove_signer(
        GitRepo(repo_dir),
        name=name,
        identity=identity,
        issuer=issuer,
        actor=_actor(operator),
        branch=branch,
        remote=remote,
    )
    _render_trust(done, f"no longer trusted: {done.outcome.signer}", output_format)
    return 0


@trust.command("list")
@_reading
def list_command(repo_dir: Path, branch: str, output_format: str) -> int:
    """Every trusted signer, and the environments (and bundles) that accept it."""
    snapshot = read_policies(GitRepo(repo_dir), branch)
    policies = snapshot.policies()
    rows = signer_rows(policies.signing, known_environments(snapshot, policies))
    if output_format == "json":
        data = [_camel_keys(asdict(row)) for row in rows]
        click.echo(json.dumps({"signers": data}, indent=2, default=str))
        return 0
    if not rows:
        click.echo("no trusted signer: every signature is refused (powerx trust add-key ...)")
        return 0
    table = [("KIND", "SIGNER", "ENVIRONMENTS", "BUNDLES", "STATE")]
    for row in rows:
        if row.kind == "key":
            signer = f"{row.name or '(no name)'} {str(row.key_id)[:16]}"
        else:
            signer = f"{row.subject or '/' + str(row.subject_pattern) + '/'} ({row.issuer})"
        state = "revoked" if row.revoked else _window(row.not_before, row.not_after)
        envs = ", ".join(row.environments) or "-"
        table.append((row.kind, signer, envs, "yes" if row.bundles else "no", state))
    _echo_table(table)
    return 0


@click.group()
def team() -> None:
    """Teams of approvers in policies/teams.yaml: one commit per change."""


@team.command("add-member")
@click.argument("team_name", metavar="TEAM")
@click.argument("member")
@click.option(
    "--public-key",
    "public_key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The PEM public key that signs MEMBER's approvals (powerx approve --key).",
)
@click.option("--create", is_flag=True, help="Start TEAM if the repo has no such team.")
@click.option("--replace", is_flag=True, help="MEMBER is there already: set their key anew.")
@_writing
def add_member_command(
    team_name: str,
    member: str,
    public_key: Path | None,
    create: bool,
    replace: bool,
    repo_dir: Path,
    branch: str,
    remote: str | None,
    operator: str | None,
    output_format: str,
) -> int:
    """Add login MEMBER to TEAM (an unknown TEAM is refused unless --create)."""
    key = read_public_key(public_key) if public_key is not None else None
    done = add_member(
        GitRepo(repo_dir),
        team_name,
        member,
        key,
        create=create,
        replace=replace,
        actor=_actor(operator),
        branch=branch,
        remote=remote,
    )
    with_key = f" (approval key {key.key_id})" if key else ""
    _render_team(done, f"{member} is a member of {team_name}{with_key}", output_format)
    return 0


@team.command("remove-member")
@click.argument("team_name", metavar="TEAM")
@click.argument("member")
@_writing
def remove_member_command(
    team_name: str,
    member: str,
    repo_dir: Path,
    branch: str,
    remote: str | None,
    operator: str | None,
    output_format: str,
) -> int:
    """Remove login MEMBER from TEAM (the team stays, even empty)."""
    done = remove_member(
        GitRepo(repo_dir), team_name, member, actor=_actor(operator), branch=branch, remote=remote
    )
    _render_team(done, f"{member} is no longer a member of {team_name}", output_format)
    return 0


@team.command("list")
@_reading
def team_list_command(repo_dir: Path, branch: str, output_format: str) -> int:
    """Every team and its members, with the key id that signs each one's approvals."""
    rows = team_rows(read_policies(GitRepo(repo_dir), branch).policies().teams)
    if output_format == "json":
        members = [_camel_keys(asdict(row)) for row in rows]
        click.echo(json.dumps({"members": members}, indent=2))
        return 0
    if not rows:
        click.echo("no teams: nobody can approve (powerx team add-member TEAM LOGIN --create)")
        return 0
    table = [("TEAM", "MEMBER", "APPROVAL KEY")]
    table += [(r.team, r.login or "(no members)", (r.key_id or "-")[:16]) for r in rows]
    _echo_table(table)
    return 0


# -- rendering -------------------------------------------------------------------------


_SNAKE = re.compile(r"_([a-z])")


def _camel_keys(row: dict[str, object]) -> dict[str, object]:
    """JSON keys as every other output spells them (keyId, notBefore)."""
    return {
        re.sub(r"_([a-z])", lambda m: m.group(1).upper(), key): value for key, value in row.items()
    }


def _render_trust(done: Committed[TrustChange], summary: str, output_format: str) -> None:
    change = done.outcome
    if output_format == "json":
        data = {
            "commit": done.commit,
            "file": done.path,
            "created": done.created,
            "action": change.action,
            "signer": change.signer,
            "keyId": change.key_id,
            "environments": list(change.scope.environments),
            "bundles": change.scope.bundles,
            "notes": list(change.notes),
        }
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"{summary}: {done.path} (commit {done.commit[:12]})")
    for note in change.notes:
        click.echo(f"  {note}")


def _render_team(done: Committed[MemberChange], summary: str, output_format: str) -> None:
    change = done.outcome
    if output_format == "json":
        data = {
            "commit": done.commit,
            "file": done.path,
            "created": done.created,
            "action": change.action,
            "team": change.team,
            "member": change.login,
            "keyId": change.key_id,
            "createdTeam": change.created_team,
            "notes": list(change.notes),
        }
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"{summary}: {done.path} (commit {done.commit[:12]})")
    for note in change.notes:
        click.echo(f"  {note}")


def _window(not_before: object, not_after: object) -> str:
    parts = [f"from {not_before:%Y-%m-%d}" if not_before else "", ""]
    parts[1] = f"until {not_after:%Y-%m-%d}" if not_after else ""
    return " ".join(part for part in parts if part) or "valid"


def _echo_table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
