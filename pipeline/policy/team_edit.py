"""`powerx team add-member|remove-member|list`: approvers in `policies/teams.yaml`.

Each edit is one commit made through `pipeline.policy.edit` (validated as a policy set
first). A member may carry the public key that signs their approvals (`powerx approve`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarstring import LiteralScalarString

from pipeline.errors import InputError
from pipeline.gitrepo import GitRepo, Trailers, compose_message
from pipeline.models.approvals import LOGIN_PATTERN, Teams
from pipeline.models.base import NAME_PATTERN
from pipeline.models.policy import PolicySet
from pipeline.names import unknown_name
from pipeline.policy.edit import (
    NOBODY,
    Actor,
    Change,
    Committed,
    PolicyView,
    block_map,
    block_seq,
    edit_policy,
)
from pipeline.policy.signer_inputs import PublicKeyFile

KIND = "Teams"


@dataclass(frozen=True)
class MemberChange:
    """What an edit did to a team."""

    action: str
    team: str
    login: str
    key_id: str | None = None
    created_team: bool = False
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class MemberRow:
    """One member of one team, for `powerx team list`."""

    team: str
    login: str
    key_id: str | None
    github: str | None


def add_member(
    git: GitRepo,
    team: str,
    login: str,
    key: PublicKeyFile | None = None,
    *,
    create: bool = False,
    replace: bool = False,
    actor: Actor = NOBODY,
    branch: str = "main",
    remote: str | None = None,
    when: float | None = None,
) -> Committed[MemberChange]:
    """Add `login` to `team` (one commit), with the key that signs their approvals if given.

    An unknown team is refused unless `create`; a member already there unless `replace`
    (which sets their key to `key`).
    """
    if not re.match(NAME_PATTERN, team):
        raise InputError(f"team name {team!r} must be lower-case letters, digits and '-'")
    if not re.match(LOGIN_PATTERN, login):
        raise InputError(f"member {login!r} is not a login (letters, digits and '-', 1-39)")

    def edit(view: PolicyView) -> Change[MemberChange]:
        teams = block_map(view.tree, "teams")
        created = team not in teams
        if created and not create:
            raise unknown_name(
                "team", team, teams, hint="pass --create to start a new team with this member"
            )
        members = block_seq(block_map(teams, team), "members")
        present = next((m for m in members if m.get("login") == login), None)
        if present is not None and not replace:
            raise InputError(
                f"{login} is already a member of {team}",
                hint="pass --replace to set their approval key anew",
            )
        entry = CommentedMap([("login", login)])
        if key is not None:
            entry["keyId"] = key.key_id
            entry["publicKey"] = LiteralScalarString(key.pem)
        if present is None:
            members.append(entry)
        else:
            members[members.index(present)] = entry
        change = MemberChange(
            "team-add-member", team, login, key.key_id if key else None, created_team=created
        )
        verb = "Replace" if present is not None else "Add"
        return Change(change, _message(change, actor, f"{verb} {login} in team {team}"))

    return edit_policy(git, KIND, edit, branch=branch, remote=remote, when=when)


def remove_member(
    git: GitRepo,
    team: str,
    login: str,
    *,
    actor: Actor = NOBODY,
    branch: str = "main",
    remote: str | None = None,
    when: float | None = None,
) -> Committed[MemberChange]:
    """Remove `login` from `team` (one commit); the team stays, even empty."""

    def edit(view: PolicyView) -> Change[MemberChange]:
        teams = view.tree.get("teams") or {}
        if team not in teams:
            raise unknown_name("team", team, teams, hint="powerx team list shows them")
        members = block_seq(teams[team], "members")
        found = next((m for m in members if m.get("login") == login), None)
        if found is None:
            logins = [str(m.get("login")) for m in members]
            raise unknown_name("member", login, logins, where=f"in team {team}")
        members.remove(found)
        notes = _approvals_left_without(view.policies, team) if not members else ()
        change = MemberChange("team-remove-member", team, login, notes=notes)
        return Change(change, _message(change, actor, f"Remove {login} from team {team}"))

    return edit_policy(git, KIND, edit, branch=branch, remote=remote, when=when)


def team_rows(teams: Teams) -> list[MemberRow]:
    """Every member of every team, teams in file order (a team without members: one row)."""
    rows: list[MemberRow] = []
    for name, team in teams.teams.items():
        rows.extend(MemberRow(name, m.login, m.key_id, team.github) for m in team.members)
        if not team.members:
            rows.append(MemberRow(name, "", None, team.github))
    return rows


def _approvals_left_without(policies: PolicySet, team: str) -> tuple[str, ...]:
    needing = sorted(
        env for env, rules in policies.approvals.environments.items() if rules.teams == [team]
    )
    if not needing:
        return ()
    return (f"team {team} has no members left: nobody can approve {', '.join(needing)}",)


def _message(change: MemberChange, actor: Actor, subject: str) -> str:
    extra = {"Team": change.team, "Member": change.login}
    if change.key_id:
        extra["Key-Id"] = change.key_id
    trailers = Trailers(
        action=change.action, operator=actor.operator, ci_run=actor.ci_run, extra=extra
    )
    body = "\n".join((*change.notes, *(["a new team"] if change.created_team else [])))
    return compose_message(subject, body, trailers)
