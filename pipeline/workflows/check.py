"""`powerx check`: the gates, with a pull request's reviews and GitHub teams when asked."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from pipeline import ci
from pipeline.gitrepo import GitRepo
from pipeline.policy import CheckReport, CheckRequest, run_check
from pipeline.policy.check import uncommitted_warning
from pipeline.workflows.common import FlagError, forge_factory


@dataclass(frozen=True)
class CheckCommand:
    """What to check, and the pull request whose reviews count as approvals."""

    repo: Path
    request: CheckRequest
    pull_request: int | None
    github_repo: str | None
    environ: Mapping[str, str]


def _ignore(_warning: str) -> None:
    return None


def check(command: CheckCommand, warn: Callable[[str], None] = _ignore) -> CheckReport:
    """Run every gate; the default base is the CI's target branch when CI names one.

    `warn` hears of uncommitted release files, which a check of HEAD does not see.
    """
    request = command.request
    if request.audit and request.base is not None:
        raise FlagError("--all checks HEAD on its own: it takes no --base")
    if command.pull_request is not None:
        from pipeline.policy.github_reviews import pull_request_reviews, with_github_members

        make = forge_factory(command.github_repo, "to read pull request reviews", command.environ)
        client = make()
        request = replace(
            request,
            reviews=pull_request_reviews(client, command.pull_request),
            resolve_teams=partial(with_github_members, client=client),
        )
    request = replace(request, base_ref=ci.base_ref(command.environ))
    git = GitRepo(command.repo)
    if warning := uncommitted_warning(git, request):
        warn(warning)
    return run_check(git, request)
