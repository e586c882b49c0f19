"""Facts about the CI run we are in (GitHub Actions), read from its environment variables."""

from __future__ import annotations

from collections.abc import Mapping


def run_url(environ: Mapping[str, str]) -> str | None:
    """The URL of the current GitHub Actions run, or None outside one."""
    server, repo, run = (
        environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    if server and repo and run:
        return f"{server}/{repo}/actions/runs/{run}"
    return None


def actor(environ: Mapping[str, str]) -> str | None:
    """Who started the current GitHub Actions run, or None outside one."""
    return environ.get("GITHUB_ACTOR") or None


def base_ref(environ: Mapping[str, str]) -> str | None:
    """The branch the pull request under check targets ($GITHUB_BASE_REF), or None."""
    return environ.get("GITHUB_BASE_REF") or None
