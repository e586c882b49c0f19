"""The gates `powerx check` runs per subject (`Checker`): policy files, environments,
releases and plugin states, each evaluated once; bad input becomes error results."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from pipeline import layout
from pipeline.errors import InputError
from pipeline.models.policy import PolicySet
from pipeline.policy.admin_rules import entitlement_results, grant_results
from pipeline.policy.declared import DeclaredPermissions
from pipeline.policy.gates import ReleaseGates
from pipeline.policy.move_gates import approvals_gate, order_gate
from pipeline.policy.release_approvals import PullRequestReviews
from pipeline.policy.results import GateResult, located, results_from_error
from pipeline.snapshot import Loaded, Snapshot


@dataclass
class Checker:
    """The gates of one check: notes the subjects the changed paths belong to, evaluates
    each once, and collects the results."""

    policies: PolicySet
    base: Snapshot
    head: Snapshot
    now: datetime
    audit: bool = False
    reviews: PullRequestReviews | None = None
    declared: DeclaredPermissions | None = None
    """Reads what packages declare (an artifact store): grants are compared with it."""
    releases: dict[tuple[str, str], None] = field(default_factory=dict)
    states: dict[tuple[str, str], None] = field(default_factory=dict)
    environments: dict[str, None] = field(default_factory=dict)
    entitlements: dict[str, None] = field(default_factory=dict)
    policy_files: list[str] = field(default_factory=list)
    results: list[GateResult] = field(default_factory=list)
    release_verdicts: dict[tuple[str, str], bool] = field(default_factory=dict)
    running: set[tuple[str, str]] = field(default_factory=set)
    """(plugin, version) pairs some environment runs at head."""

    def visit(self, path: layout.RepoPath) -> None:
        """Note which subject a changed path belongs to."""
        if path.kind in ("release", "release-file"):
            assert path.plugin and path.version
            self.releases[(path.plugin, path.version)] = None
        elif path.kind == "plugin-state":
            assert path.environment and path.plugin
            self.states[(path.environment, path.plugin)] = None
        elif path.kind == "environment":
            assert path.environment
            self.environments[path.environment] = None
        elif path.kind == "policy":
            self.policy_files.append(path.path)
        elif path.kind == "other" and path.path.startswith(f"{layout.ENTITLEMENTS}/"):
            self.entitlements[path.path] = None
        elif path.kind == "unknown":
            self.results.append(
                GateResult(
                    subject=path.path,
                    gate="layout",
                    status="warn",
                    message="file is not part of the release repo layout and is not checked",
                    file=path.path,
                    hint="see docs/formats.md for where each file belongs",
                )
            )

    def evaluate(self) -> None:
        """Run the gates of every subject that changed."""
        for path in self.policy_files:
            self._guarded(path, partial(self._policy, path))
        if self.policy_files and not self.audit:
            self._guarded("policies", self._policy_set)
            if self.states or self.environments:
                self.results.append(self._separate_policy_changes())
        for env in self.environments:
            self._guarded(f"environment {env}", partial(self._environment, env))
        for path in self.entitlements:
            self._guarded(path, partial(entitlement_results, self.head, path))
        for plugin, version in self.releases:
            self._release_verdict(plugin, version)
        for env, plugin in self.states:
            self._guarded(f"{env}/{plugin}", partial(self._plugin_state, env, plugin))

    def hold_back_unpromoted(self) -> None:
        """In an audit, a failing release that no environment runs is held back, not an error."""
        held = {
            f"{plugin}@{version}"
            for (plugin, version), ok in self.release_verdicts.items()
            if not ok and (plugin, version) not in self.running
        }
        results = []
        for result in self.results:
            if result.subject in held and result.status == "fail":
                result = result.model_copy(
                    update={"status": "warn", "message": f"held back: {result.message}".strip()}
                )
            results.append(result)
        for subject in sorted(held):
            results.append(
                GateResult(
                    subject=subject,
                    gate="held",
                    status="warn",
                    message="fails its gates and runs in no environment: it cannot be promoted",
                    hint="release a fixed version",
                )
            )
        self.results = results

    def _guarded(self, subject: str, evaluate: Callable[[], list[GateResult]]) -> bool:
        """Run one subject's gates, turning bad input into error results; False on errors."""
        try:
            self.results.extend(evaluate())
        except InputError as error:
            self.results.extend(results_from_error(subject, error))
            return False
        return True

    # -- subjects ------------------------------------------------------------------

    def _policy(self, path: str) -> list[GateResult]:
        if self.head.read(path) is None:
            return [self._review(path, "policy file removed: the seed defaults apply after merge")]
        loaded = self.head.load_policy(path)
        if self.audit:
            return [
                GateResult(
                    subject=path,
                    gate="schema",
                    status="pass",
                    found=f"a valid {loaded.doc.data['kind']}",
                    file=path,
                )
            ]
        return [
            self._review(
                path,
                f"{loaded.doc.data['kind']} changed: it takes effect only after merge; "
                "this change is still judged by the base revision's policies",
            )
        ]

    def _separate_policy_changes(self) -> GateResult:
        """A change may not move environments and change the rules in one go."""
        return GateResult(
            subject="policies",
            gate="separation",
            status="fail",
            expected="policy changes and environment changes in separate pull requests",
            found=f"{len(self.policy_files)} policy file(s) and "
            f"{len(self.states) + len(self.environments)} environment file(s)",
            message="this change edits policies and environments together: the environment "
            "change would be judged by rules that are themselves under review",
            file=self.policy_files[0],
            line=1,
            hint="land the policy change first, then the environment change",
        )

    def _policy_set(self) -> list[GateResult]:
        """The head's policies must still form a valid set (e.g. one file per kind)."""
        self.head.policies()
        return []

    def _review(self, path: str, message: str) -> GateResult:
        return GateResult(
            subject=path,
            gate="policy-change",
            status="warn",
            message=message,
            file=path,
            line=1,
            hint="policy owners must review this change",
        )

    def _environment(self, env: str) -> list[GateResult]:
        loaded = self.head.environment(env)
        if loaded is None:
            in_order = env in self.policies.promotion.order
            return [
                GateResult(
                    subject=f"environment {env}",
                    gate="order",
                    status="fail" if in_order else "warn",
                    message=f"{layout.environment_path(env)} removed"
                    + (" while the environment is in the promotion order" if in_order else ""),
                    file=layout.environment_path(env),
                    hint="remove the environment from policies/promotion.yaml first"
                    if in_order
                    else None,
                )
            ]
        model, subject = loaded.model, f"environment {env}"
        _require_path_match(loaded, "name", env, f"its folder environments/{env}/")
        order = self.policies.promotion.order
        expected = order.index(env) if env in order else None
        return [
            *grant_results(self.head, env, loaded, self.declared),
            GateResult(
                subject=subject,
                gate="order",
                status="pass" if expected == model.position else "fail",
                expected=(
                    f"position {expected}"
                    if expected is not None
                    else f"{env} in the promotion order ({' -> '.join(order)})"
                ),
                found=f"position {model.position}",
                message=(
                    ""
                    if expected == model.position
                    else "environment.yaml disagrees with the promotion order in policies/"
                ),
                **located(loaded.locate("position")),
            ),
        ]

    def _release_verdict(self, plugin: str, version: str) -> bool:
        """Evaluate a release once; True when every gate passed."""
        key = (plugin, version)
        if key not in self.release_verdicts:
            before = len(self.results)
            ok = self._guarded(f"{plugin}@{version}", partial(self._release, plugin, version))
            new = self.results[before:]
            self.release_verdicts[key] = ok and all(r.status in ("pass", "warn") for r in new)
        return self.release_verdicts[key]

    def _release(self, plugin: str, version: str) -> list[GateResult]:
        subject = f"{plugin}@{version}"
        path = layout.release_path(plugin, version)
        loaded = self.head.release(plugin, version)
        if loaded is None:
            existed = self.base.release(plugin, version) is not None
            return [
                GateResult(
                    subject=subject,
                    gate="locked" if existed else "layout",
                    status="fail",
                    message=(
                        "a released version cannot be deleted"
                        if existed
                        else f"files under {layout.release_dir(plugin, version)}/ but no {path}"
                    ),
                    file=path,
                )
            ]
        folder = f"its folder {layout.release_dir(plugin, version)}/"
        _require_path_match(loaded, "plugin", plugin, folder)
        _require_path_match(loaded, "version", version, folder)
        return ReleaseGates(self.policies, self.base, self.head, loaded, now=self.now).evaluate()

    def _plugin_state(self, env: str, plugin: str) -> list[GateResult]:
        subject = f"{env}/{plugin}"
        loaded = self.head.plugin_state(env, plugin)
        if loaded is None:
            return [
                GateResult(
                    subject=subject,
                    gate="removal",
                    status="warn",
                    message=f"{plugin} is removed from {env}",
                    file=layout.plugin_state_path(env, plugin),
                )
            ]
        state = loaded.model
        self.running.add((plugin, state.version))
        _require_path_match(loaded, "plugin", plugin, f"the file name {plugin}.yaml")
        order = self.policies.promotion.order
        if env not in order:
            return [
                GateResult(
                    subject=subject,
                    gate="order",
                    status="fail",
                    expected=" -> ".join(order),
                    found=env,
                    message=f"environment {env!r} is not in the promotion order",
                    **located(loaded.locate()),
                )
            ]
        release = self.head.release(plugin, state.version)
        ref = f"{plugin}@{state.version}"
        results = [
            GateResult(
                subject=subject,
                gate="registered",
                status="pass" if release else "fail",
                expected=f"a manifest at {layout.release_path(plugin, state.version)}",
                found="present" if release else "missing",
                message="" if release else f"{ref} has no release manifest",
                **located(loaded.locate("version")),
            )
        ]
        if release is None:
            return results
        digest_ok = release.model.artifact.sha256 == state.digest
        results.append(
            GateResult(
                subject=subject,
                gate="digest",
                status="pass" if digest_ok else "fail",
                expected=release.model.artifact.sha256,
                found=state.digest,
                message="" if digest_ok else f"digest differs from {ref}'s artifact",
                **located(loaded.locate("digest")),
            )
        )
        if not self.audit:  # order and approvals judge a move into `env`, not a standing state
            at_version = loaded.locate("version")
            results.append(
                order_gate(self.policies, self.base, env, plugin, state.version, at_version)
            )
            results.extend(
                approvals_gate(
                    self.policies,
                    self.base,
                    self.head,
                    env,
                    plugin,
                    state.version,
                    loaded,
                    now=self.now,
                    reviews=self.reviews,
                )
            )
        if env in self.policies.signing.environments:
            gates = ReleaseGates(self.policies, self.base, self.head, release, now=self.now)
            where = located(loaded.locate("version"))
            results.append(gates.signature(env).model_copy(update={"subject": subject, **where}))
        gates_ok = self._release_verdict(plugin, state.version)
        results.append(
            GateResult(
                subject=subject,
                gate="release-gates",
                status="pass" if gates_ok else "fail",
                expected=f"{ref} passes every gate",
                found="passes" if gates_ok else "fails (see its results)",
                **located(loaded.locate("version")),
            )
        )
        return results


def _require_path_match(loaded: Loaded[Any], field_name: str, expected: str, place: str) -> None:
    """A name inside a file must agree with the path the file lives at."""
    found = getattr(loaded.model, field_name)
    if found != expected:
        raise InputError(
            f"{field_name} {found!r} does not match {place}",
            location=loaded.locate(field_name),
            hint=f"set '{field_name}: {expected}', or move the file to where it belongs",
        )
