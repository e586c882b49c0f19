"""`judged_next_promotion`: a plugin's next move and the planner's reason, in one pass.

On the matrix view's release repo (a plugin waiting for an approval, a canary holding,
plugins with no release), the answer must be what `next_promotion` and `plan_promotions`
say together, for every plugin, at two times.
"""

from __future__ import annotations

from datetime import UTC, datetime

from conftest import Repo
from test_web_matrix import estate  # noqa: F401 - the fixture

from pipeline.gitrepo import GitRepo
from pipeline.names import plugin_names
from pipeline.promotion.promote import (
    PromoteRequest,
    judged_next_promotion,
    next_promotion,
    plan_promotions,
)
from pipeline.snapshot import Snapshot


def test_the_judged_move_is_the_planners(estate: Repo) -> None:  # noqa: F811
    git = GitRepo(estate.path)
    tip = git.resolve("main")
    snapshot = Snapshot(git, tip)
    plugins = sorted(plugin_names(snapshot))
    assert {"hello", "other", "extra-1"} <= set(plugins)
    reasons = set()
    for now in (datetime.now(UTC), datetime(2030, 1, 1, tzinfo=UTC)):
        for plugin in plugins:
            judged = judged_next_promotion(snapshot, plugin, now, policies=snapshot.policies())
            assert judged == judged_next_promotion(snapshot, plugin, now)
            expected = next_promotion(git, tip, plugin)
            if expected is None:
                assert judged is None, plugin
                continue
            plan = plan_promotions(git, tip, PromoteRequest(now=now, plugin=plugin))
            assert judged is not None and judged.promotion == expected, plugin
            assert judged.held == (plan.held[0][1] if plan.held else None), plugin
            reasons.add(judged.held)
    assert any(reason and "approval" in reason for reason in reasons)  # the cases differ
