"""Builders shared by the Marketplace review, submit and publish tests (no tests here).

A release repo made by `powerx init` that trusts the test key, with reviewer teams, a
market policy and a signed release of hello 1.0.0; validator reports built as the
validator builds them (real `ValidationReport`s, not stand-ins for our code).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conftest import Repo, git
from factories import API, bundle, digest_of, release, yaml_text

from pipeline.market.findings import Finding, RuleResult, ValidationReport

NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
"""A Wednesday."""
REVIEWER, OTHER_REVIEWER, VENDOR, STRANGER = "rita", "rory", "vera", "sam"


def teams_yaml(**extra: list[str]) -> str:
    teams: dict[str, Any] = {
        "market-reviewers": {"members": [{"login": REVIEWER}, {"login": OTHER_REVIEWER}]},
        "vendors": {"members": [{"login": VENDOR}]},
    }
    for name, logins in extra.items():
        teams[name] = {"members": [{"login": login} for login in logins]}
    return yaml_text({"apiVersion": API, "kind": "Teams", "teams": teams})


def market_yaml(**overrides: Any) -> str:
    data: dict[str, Any] = {
        "apiVersion": API,
        "kind": "MarketPolicy",
        "reviewers": ["market-reviewers"],
        "sla": {"onlineDays": 2, "offlineDays": 3, "holidays": ["2026-03-06"]},
    }
    data.update(overrides)
    return yaml_text(data)


def released(plugin: str = "hello", version: str = "1.0.0", **window: str) -> dict[str, str]:
    """A release record of plugin@version with its (real) signature bundle."""
    folder = f"releases/{plugin}/{version}"
    return {
        f"{folder}/release.yaml": yaml_text(release(plugin, version)),
        f"{folder}/{plugin}-{version}.pxp.sigstore.json": bundle(
            plugin, version, **window
        ).decode(),
    }


def market_repo(repo: Repo, **window: str) -> Repo:
    """`release_repo` on main with teams, market policy and hello 1.0.0 released."""
    repo.git("checkout", "-q", "main")
    repo.commit(
        {
            "policies/teams.yaml": teams_yaml(),
            "policies/market.yaml": market_yaml(),
            **released(**window),
        },
        "market setup",
    )
    return repo


def with_remote(repo: Repo, tmp_path: Path) -> Path:
    """A bare remote `origin` holding main."""
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    repo.git("remote", "add", "origin", str(bare))
    repo.git("push", "-q", "origin", "main")
    return bare


def result(
    rule: str,
    outcome: str = "passed",
    mode: str = "enforced",
    *findings: Finding,
    error: str | None = None,
) -> RuleResult:
    return RuleResult(
        rule=rule,
        title=rule,
        mode=mode,  # type: ignore[arg-type]
        outcome=outcome,  # type: ignore[arg-type]
        findings=tuple(findings),
        error=error,
    )


SCREENSHOT_FINDING = Finding(
    rule="listing.screenshots",
    severity="high",
    message="listing/main.svg is an SVG image",
    remedy="use a PNG or JPEG screenshot",
    file="releases/hello/listing.yaml",
    line=12,
    path="screenshots[0].file",
)


def report(kind: str = "passed", plugin: str = "hello", version: str = "1.0.0") -> ValidationReport:
    """A validator report whose verdict is `kind` (passed, failed, errored)."""
    results = [result("listing.required"), result("signature.valid")]
    if kind == "failed":
        results.append(result("listing.screenshots", "failed", "enforced", SCREENSHOT_FINDING))
    if kind in ("advisory", "failed"):
        results.append(
            result(
                "listing.links",
                "failed",
                "advisory",
                Finding("listing.links", "low", "http link", "use https", path="documentation"),
            )
        )
    if kind == "errored":
        results.append(result("security.report", "errored", error="scanner timed out after 30 s"))
    return ValidationReport(plugin, version, "market-1:abc123", tuple(results))


__all__ = ["NOW", "digest_of", "report"]
