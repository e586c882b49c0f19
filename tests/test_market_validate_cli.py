"""`px-market validate`: the three output formats, exit codes, and the project's own live repo."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT, Repo, live_copy
from test_market_validate import FAILING_SARIF, Market, market

from pipeline.cli.market import cli
from pipeline.market.rules import RULES

__all__ = ["market"]  # the fixture, used by the tests below

RULES_MD = PROJECT / "docs" / "market-rules.md"


def run(run_cli: Any, market: Market, *args: str) -> Any:
    return run_cli(cli, "validate", *args, "--repo", str(market.repo.path))


def test_text_output_groups_findings_with_their_remedy(run_cli: Any, market: Market) -> None:
    market.release(market.package(), sarif=FAILING_SARIF, signature=None)
    market.listing(documentation="http://vendor.example/docs")
    result = run(run_cli, market, "hello@1.0.0", "--store", str(market.store.root))
    assert result.code == 1, result.err
    out = result.out
    assert out.startswith("hello@1.0.0  ruleset market-rules/1:")
    assert out.index("FAILED (blocks listing)") < out.index("passed: ")
    assert "  signature.valid  Signature trusted and not expired\n" in out
    assert (
        "    critical releases/hello/1.0.0/release.yaml:5: hello@1.0.0 is not signed\n"
    ) in out, out
    assert "             see: docs/market-rules.md#signature-valid\n" in out
    assert "             fix: link to an https:// page" in out
    assert out.endswith("FAILED: an enforced rule failed; fix the findings and submit again\n")


def test_json_output_has_ruleset_verdict_results_and_findings(run_cli: Any, market: Market) -> None:
    market.publish("hello", "1.0.0")
    market.approve("hello", "1.0.0")
    market.publish("hello", "1.1.0", permissions=("tenant-data:read", "network"))
    result = run(run_cli, market, "hello", "--format", "json", "--store", str(market.store.root))
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["version"] == "1.1.0" and data["verdict"] == "passed"
    assert data["ruleset"].startswith("market-rules/1:")
    assert data["rules"] == [f"{rule.id}@{rule.version}" for rule in RULES]
    assert data["advisory"] == ["permissions.widened"] and data["permissionsWidened"] == ["network"]
    assert [r["rule"] for r in data["results"]] == [rule.id for rule in RULES]
    (finding,) = data["findings"]
    assert finding["rule"] == "permissions.widened" and finding["path"] == "network"
    assert finding["docs"] == "docs/market-rules.md#permissions-widened"
    assert set(finding) == {"rule", "severity", "file", "line", "path", "message", "remedy", "docs"}


def test_checklist_output_is_a_markdown_task_list(run_cli: Any, market: Market) -> None:
    market.release(market.package(), sarif=FAILING_SARIF)
    market.listing()
    result = run(run_cli, market, "hello@1.0.0", "--format", "checklist")
    assert result.code == 1  # no store: the package rules errored, and a rule failed
    lines = result.out.splitlines()
    assert lines[0] == "### Marketplace validation of `hello@1.0.0`: failed"
    assert "- [x] `listing.fields` Required fields and lengths" in lines
    assert "- [ ] `security.report` Security report with nothing high or above" in lines
    errored = next(line for line in lines if "`package.secrets`" in line)
    assert errored.startswith("- [ ] `package.secrets`") and "(errored: no package" in errored
    assert any(
        line.startswith("  - **high** `releases/hello/1.0.0/evidence/bandit.sarif (")
        and "([security.report](docs/market-rules.md#security-report))" in line
        for line in lines
    )


def test_an_errored_run_says_it_is_not_a_rejection(run_cli: Any, market: Market) -> None:
    market.publish()
    result = run(run_cli, market, "hello@1.0.0")
    assert result.code == 1
    assert "ERRORED (could not run: not a rejection, run again)" in result.out
    assert result.out.endswith(
        "ERRORED: a rule could not run; this is not a rejection, run the validator again\n"
    )


def test_bad_input_exits_2(run_cli: Any, market: Market) -> None:
    market.publish()
    assert run(run_cli, market, "hello@").code == 2
    unknown = run(run_cli, market, "helo@1.0.0")
    assert unknown.code == 2 and "did you mean 'hello'" in unknown.err
    nothing = run(run_cli, market, "hello@2.0.0")
    assert nothing.code == 2 and "has no release manifest" in nothing.err


def test_every_rule_has_its_section_in_the_rule_reference() -> None:
    text = RULES_MD.read_text(encoding="utf-8")
    headings = re.findall(r"^## (\S+)$", text, re.M)
    assert headings == [rule.id for rule in RULES]
    for rule in RULES:
        section = text.split(f"## {rule.id}\n", 1)[1].split("\n## ", 1)[0]
        assert f"Default mode: {rule.default_mode}" in section, rule.id
        assert f"Version: {rule.version}" in section, rule.id


@pytest.fixture
def live(tmp_path: Path) -> Repo:
    """A scratch copy of the project's live release repo, committed on main."""
    return live_copy(tmp_path)


def test_the_live_repo_lists_hello_world(run_cli: Any, live: Repo, tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    built = subprocess.run(
        ["bash", str(PROJECT / "examples/artifact.sh"), "hello-world", "1.1.0", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
    )
    package = built.stdout.strip()
    args = ["hello-world@1.1.0", "--repo", str(live.path), "--artifact", package]
    result = run_cli(cli, "validate", *args, "--format", "json")
    data = json.loads(result.out)
    assert result.code == 0, result.out
    assert {r["outcome"] for r in data["results"]} == {"passed"}
    # its listing was written for the live repo's policy: every rule is named there
    policy = (live.path / "policies/market.yaml").read_text()
    assert all(f"  {rule.id}: " in policy for rule in RULES)
