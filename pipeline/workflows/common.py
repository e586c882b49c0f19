"""What several workflows share: the usage error and the forge a command may talk to."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from pipeline.errors import InputError

if TYPE_CHECKING:
    from pipeline.forge import GitHubClient
    from pipeline.policy.release_approvals import PullRequestReviews


class FlagError(InputError):
    """Flags that cannot work together, or a flag that needs another (exit 2).

    The CLI shows it as a usage error of the command that was run.
    """


def forge_factory(
    github_repo: str | None, why: str, environ: Mapping[str, str]
) -> Callable[[], GitHubClient]:
    """A GitHub client factory; $GITHUB_TOKEN and $GITHUB_API_URL are read when it is called."""
    if not github_repo:
        raise FlagError(f"--github-repo (or $GITHUB_REPOSITORY) is needed {why}")

    def make() -> GitHubClient:
        from pipeline.forge import GitHubClient, api_url_from_env, token_from_env

        return GitHubClient(github_repo, token_from_env(environ), api_url=api_url_from_env(environ))

    return make


def branch_reviews(client: GitHubClient, base: str, branch: str) -> PullRequestReviews | None:
    """The reviews of the open pull request from `branch` into `base`, if there is one."""
    from pipeline.policy.github_reviews import pull_request_reviews

    pull = client.find_pull_request(branch, base)
    return pull_request_reviews(client, pull.number) if pull is not None else None
