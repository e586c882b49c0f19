"""`powerx check`'s rules on administration: grants in environment.yaml and entitlements.

- a grant names a plugin the repo releases or deploys (else "did you mean");
- a grant gives only permissions the plugin's plugin.yaml declares, at the version(s) the
  environment runs (read from the package when an artifact store is given);
- an entitlement names a known plugin, lives at the path its plugin (and tenant and type)
  says, and a tenant's one names a tenant of some environment.

(A group naming an unknown tenant is a rule of the Environment model itself.) The admin
commands run the same rules on their candidate commit before they commit anything.
"""

from __future__ import annotations

from pipeline import layout
from pipeline.errors import InputError
from pipeline.models.entitlement import Entitlement
from pipeline.models.environment import Environment
from pipeline.names import did_you_mean, environment_names, plugin_names, require_plugin
from pipeline.policy.declared import DeclaredPermissions, declared_in
from pipeline.policy.results import GateResult, located
from pipeline.snapshot import Loaded, Snapshot

GRANTS = "grants"
ENTITLEMENT = "entitlement"


def grant_results(
    snapshot: Snapshot,
    env: str,
    loaded: Loaded[Environment],
    declared: DeclaredPermissions | None,
) -> list[GateResult]:
    """Every grant of the environment's tenants, judged; one result per tenant and plugin."""
    results: list[GateResult] = []
    for index, tenant in enumerate(loaded.model.tenants):
        for plugin, permissions in tenant.grants.items():
            subject = f"{env}/{tenant.id}/{plugin}"
            where = located(loaded.locate("tenants", index, "grants", plugin))
            problem = _unknown_plugin(snapshot, plugin)
            if problem is not None:
                results.append(_fail(subject, GRANTS, problem, where))
                continue
            if declared is None:
                continue
            versions, allowed = declared_in(snapshot, env, plugin, declared)
            undeclared = sorted(set(permissions) - allowed)
            expected = f"permissions {plugin}@{'/'.join(versions) or '?'} declares"
            if undeclared:
                message = (
                    f"{plugin}'s plugin.yaml ({', '.join(versions) or 'no release'}) does not "
                    f"declare {', '.join(undeclared)}: a grant cannot give it"
                )
                results.append(_fail(subject, GRANTS, message, where, expected=expected))
            else:
                results.append(
                    GateResult(
                        subject=subject,
                        gate=GRANTS,
                        status="pass",
                        expected=expected,
                        found=", ".join(permissions) or "none",
                        **where,
                    )
                )
    if declared is None and any(t.grants for t in loaded.model.tenants):
        results.append(
            GateResult(
                subject=f"environment {env}",
                gate=GRANTS,
                status="warn",
                message="grants not compared with what the plugins declare (no artifact store)",
                hint="pass --store (the artifact store) to check them",
                **located(loaded.locate("tenants")),
            )
        )
    return results


def entitlement_results(snapshot: Snapshot, path: str) -> list[GateResult]:
    """The rules of one entitlement file (a removed one is a warning)."""
    root = layout.ENTITLEMENTS
    parts = path.removeprefix(f"{root}/").removesuffix(".yaml").split("/")
    if not path.endswith(".yaml") or len(parts) not in (1, 3):
        return [
            GateResult(
                subject=path,
                gate=ENTITLEMENT,
                status="warn",
                message="not an entitlement path: it is not checked",
                file=path,
                hint=f"{root}/<plugin>.yaml or {root}/<plugin>/<tenant>/{{trial,purchase}}.yaml",
            )
        ]
    loaded = snapshot.load(path, Entitlement)
    if loaded is None:
        removed = GateResult(
            subject=path, gate=ENTITLEMENT, status="warn", message="entitlement removed", file=path
        )
        return [removed]
    model, results = loaded.model, []
    plugin_problem = _unknown_plugin(snapshot, model.plugin)
    if plugin_problem is not None:
        results.append(
            _fail(
                path,
                ENTITLEMENT,
                f"entitlement for {plugin_problem}",
                located(loaded.locate("plugin")),
            )
        )
    expected = (parts[0], None, "contract") if len(parts) == 1 else (parts[0], parts[1], parts[2])
    found = (model.plugin, model.tenant, model.type)
    if found != expected:
        results.append(
            _fail(
                path,
                ENTITLEMENT,
                f"plugin {model.plugin}, tenant {model.tenant or '(site)'} and type {model.type} "
                "do not match the file's path",
                located(loaded.locate()),
                expected=f"plugin {expected[0]}, tenant {expected[1] or '(site)'}, {expected[2]}",
            )
        )
    if model.tenant is not None:
        tenants = known_tenants(snapshot)
        if model.tenant not in tenants:
            guess = did_you_mean(model.tenant, tenants)
            results.append(
                _fail(
                    path,
                    ENTITLEMENT,
                    f"entitlement for unknown tenant {model.tenant!r}"
                    + (f": did you mean {guess!r}?" if guess else ""),
                    located(loaded.locate("tenant")),
                )
            )
    if not results:
        results.append(
            GateResult(subject=path, gate=ENTITLEMENT, status="pass", found="valid", file=path)
        )
    return results


def known_tenants(snapshot: Snapshot) -> set[str]:
    """Every tenant of every environment of the repo."""
    found: set[str] = set()
    for env in environment_names(snapshot):
        loaded = snapshot.environment(env)
        if loaded is not None:
            found.update(tenant.id for tenant in loaded.model.tenants)
    return found


def _unknown_plugin(snapshot: Snapshot, plugin: str) -> str | None:
    """None for a plugin the repo knows; else "unknown plugin 'x': did you mean 'y'?"."""
    try:
        require_plugin(snapshot, plugin)
    except InputError:
        guess = did_you_mean(plugin, plugin_names(snapshot))
        return f"unknown plugin {plugin!r}" + (f": did you mean {guess!r}?" if guess else "")
    return None


def _fail(
    subject: str, gate: str, message: str, where: dict[str, object], *, expected: str = ""
) -> GateResult:
    return GateResult(
        subject=subject, gate=gate, status="fail", message=message, expected=expected, **where
    )
