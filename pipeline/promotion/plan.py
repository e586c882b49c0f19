"""`powerx plan`: the production release plan, and the tag that locks an approved version."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files

from pipeline import layout
from pipeline.errors import InputError
from pipeline.gitrepo import Commit, GitRepo, Person
from pipeline.models.release import Release
from pipeline.names import require_environment, require_release
from pipeline.policy.gates import ReleaseGates
from pipeline.policy.release_approvals import (
    PullRequestReviews,
    TeamResolver,
    release_approvals,
    resolve_teams,
)
from pipeline.snapshot import Snapshot


@dataclass(frozen=True)
class ReleasePlan:
    """A rendered plan, and the commit that added the release (what a lock tags)."""

    markdown: str
    release_commit: str
    approved: bool


def release_plan(
    git: GitRepo,
    tip: Commit,
    plugin: str,
    version: str,
    *,
    environment: str,
    now: datetime,
    reviews: PullRequestReviews | None = None,
    teams: TeamResolver | None = None,
) -> ReleasePlan:
    """The plan for taking plugin@version into `environment` (prod by default in the CLI)."""
    snapshot = Snapshot(git, tip)
    require_environment(snapshot, environment)
    loaded = require_release(snapshot, plugin, version)
    policies = resolve_teams(snapshot.policies(), teams)
    gates = ReleaseGates(policies, snapshot, snapshot, loaded, now=now).evaluate()
    judged = release_approvals(
        snapshot, policies, plugin, version, environment, now=now, reviews=reviews
    )
    verdict, origin = judged.verdict, judged.origin
    approval_text = verdict.describe() + "".join(f"\n- refused: {p}" for p in judged.problems)
    deployed = [(env, _deployed(snapshot, env, plugin)) for env in policies.promotion.order]
    window = policies.windows.closed_because(environment, now) or f"{environment} is open now"
    markdown = _render(loaded.model, gates, approval_text, deployed, window, environment)
    return ReleasePlan(
        markdown, str(origin.id), verdict.satisfied and all(g.status != "fail" for g in gates)
    )


def _deployed(snapshot: Snapshot, env: str, plugin: str) -> str | None:
    loaded = snapshot.plugin_state(env, plugin)
    return loaded.model.version if loaded is not None else None


def _render(
    release: Release,
    gates: Sequence[object],
    approvals: str,
    deployed: list[tuple[str, str | None]],
    window: str,
    environment: str,
) -> str:
    import jinja2  # keep start-up short for commands that render nothing

    env = jinja2.Environment(autoescape=False, keep_trailing_newline=True)  # noqa: S701 - Markdown
    env.filters["cell"] = lambda value: html.escape(str(value or ""), quote=False).replace(
        "|", "\\|"
    )
    source = files("pipeline").joinpath("templates/release-plan.md.j2").read_text("utf-8")
    return env.from_string(source).render(
        release=release,
        gates=gates,
        approvals=approvals,
        deployed=deployed,
        window=window,
        environment=environment,
    )


def lock_version(git: GitRepo, plan: ReleasePlan, plugin: str, version: str, tagger: Person) -> str:
    """Create the annotated lock tag on the release commit, with the plan as its message."""
    if not plan.approved:
        raise InputError(
            f"{plugin}@{version} cannot be locked: its gates or approvals are not all there",
            hint="see the plan above",
        )
    name = layout.lock_tag(plugin, version)
    if name in git.repo.references:
        raise InputError(f"{plugin}@{version} is already locked ({name})")
    return git.create_tag(
        name.removeprefix("refs/tags/"), plan.release_commit, tagger, plan.markdown
    )
