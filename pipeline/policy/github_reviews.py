"""GitHub as an approval source: pull-request reviews, and team membership mirrored from GitHub."""

from __future__ import annotations

from pipeline.forge import GitHubClient
from pipeline.forge.models import Review
from pipeline.models.approvals import Team, TeamMember, Teams
from pipeline.policy.approvals import Approval
from pipeline.policy.release_approvals import PullRequestReviews


def pull_request_reviews(client: GitHubClient, number: int) -> PullRequestReviews:
    """Each reviewer's latest decision on pull request `number`; approvals only count.

    A later "changes requested" or a dismissal withdraws an earlier approval, as on
    GitHub; comments leave it standing. An approval keeps the commit it was given on,
    so the rule engine can tell a stale one.
    """
    pull = client.get_pull_request(number)
    return PullRequestReviews(
        number=number,
        head_sha=pull.head_sha,
        approvals=tuple(_approval(r) for r in _latest_decisions(client.list_reviews(number))),
    )


def _latest_decisions(reviews: list[Review]) -> list[Review]:
    latest: dict[str, Review] = {}
    for review in reviews:  # GitHub lists reviews oldest first
        if review.state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            latest[review.user_login] = review
    return [r for r in latest.values() if r.state == "APPROVED" and r.submitted_at is not None]


def _approval(review: Review) -> Approval:
    assert review.submitted_at is not None
    return Approval(review.user_login, review.submitted_at, "github", review.commit_id or "")


def with_github_members(teams: Teams, client: GitHubClient) -> Teams:
    """`teams` with the members of every team that mirrors a GitHub team (`github: org/slug`).

    Members listed in `teams.yaml` stay (with their keys); GitHub's list adds the rest.
    """
    resolved: dict[str, Team] = {}
    for name, team in teams.teams.items():
        if team.github is None:
            resolved[name] = team
            continue
        org, slug = team.github.split("/", 1)
        known = {member.login for member in team.members}
        extra = [
            TeamMember(login=login) for login in sorted(client.team_members(org, slug) - known)
        ]
        resolved[name] = team.model_copy(update={"members": [*team.members, *extra]})
    return teams.model_copy(update={"teams": resolved})
