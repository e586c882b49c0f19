"""`powerx check` end to end: real repos, real reports, the real CLI and its exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import REPORTS, Repo
from factories import bundle, load_yaml, plugin_state, release, yaml_text

from pipeline.cli.powerx import cli

FAILING, PASSING = REPORTS / "failing", REPORTS / "passing"
RELEASE = "releases/hello/1.0.0"


def evidence(
    folder: Path, prefix: str = RELEASE, coverage: str = "coverage.json"
) -> dict[str, bytes]:
    """The reports of a release from `folder`, and its signature bundle."""
    plugin, version = prefix.split("/")[1:3]
    return {
        f"{prefix}/{plugin}-{version}.pxp.sigstore.json": bundle(plugin, version),
        f"{prefix}/evidence/{coverage}": (folder / coverage).read_bytes(),
        f"{prefix}/evidence/junit.xml": (folder / "junit.xml").read_bytes(),
        f"{prefix}/evidence/bandit.sarif": (folder / "bandit.sarif").read_bytes(),
    }


def add_release(
    repo: Repo, folder: Path = PASSING, plugin: str = "hello", version: str = "1.0.0", **fields: Any
) -> str:
    prefix = f"releases/{plugin}/{version}"
    files: dict[str, str | bytes | None] = {
        f"{prefix}/release.yaml": yaml_text(release(plugin, version, **fields))
    }
    files.update(evidence(folder, prefix))
    return repo.commit(files, f"release {plugin} {version}")


def check(run_cli: Any, repo: Repo, *args: str, base: str = "main") -> Any:
    return run_cli(cli, "check", "--repo", str(repo.path), "--base", base, *args)


def json_check(run_cli: Any, repo: Repo, base: str = "main") -> dict[str, Any]:
    result = check(run_cli, repo, "--format", "json", base=base)
    data: dict[str, Any] = json.loads(result.out)
    assert data["exit_code"] == result.code
    return data


def gates(data: dict[str, Any], status: str) -> set[tuple[str, str]]:
    return {(r["subject"], r["gate"]) for r in data["results"] if r["status"] == status}


# -- the release gates -------------------------------------------------------------------


def test_failing_reports_fail_coverage_and_findings(run_cli: Any, release_repo: Repo) -> None:
    add_release(release_repo, FAILING)
    result = check(run_cli, release_repo)
    assert result.code == 1
    assert "FAIL  hello@1.0.0" in result.out
    assert "FAIL  coverage       expected >= 90%, found 71.43% (coverage.py-json)" in result.out
    assert (
        "FAIL  findings       expected no finding of severity high or above, found 2 high, 1 low"
        in result.out
    )
    assert "B602" in result.out and "B324" in result.out
    assert f"evidence: {RELEASE}/evidence/coverage.json" in result.out
    assert "PASS  tests" in result.out
    assert "result: FAIL" in result.out
    data = json_check(run_cli, release_repo)
    assert gates(data, "fail") == {("hello@1.0.0", "coverage"), ("hello@1.0.0", "findings")}


def test_passing_reports_pass(run_cli: Any, release_repo: Repo) -> None:
    add_release(release_repo, PASSING)
    result = check(run_cli, release_repo)
    assert result.code == 0, result.out
    assert "result: PASS" in result.out
    data = json_check(run_cli, release_repo)
    assert {gate for _, gate in gates(data, "pass")} == {
        "signature",
        "coverage",
        "tests",
        "findings",
        "licence",
        "compatibility",
    }


@pytest.mark.parametrize("report", ["coverage.xml", "coverage.lcov"])
def test_every_coverage_format_is_read(run_cli: Any, release_repo: Repo, report: str) -> None:
    files: dict[str, str | bytes | None] = dict(evidence(FAILING, coverage=report))
    files[f"{RELEASE}/release.yaml"] = yaml_text(
        release(
            evidence={
                "coverage": [f"evidence/{report}"],
                "tests": ["evidence/junit.xml"],
                "scans": ["evidence/bandit.sarif"],
            }
        )
    )
    release_repo.commit(files)
    data = json_check(run_cli, release_repo)
    coverage = next(r for r in data["results"] if r["gate"] == "coverage")
    assert coverage["status"] == "fail"
    assert coverage["found"].startswith("71.43%")
    assert (coverage["file"], coverage["line"]) == (f"{RELEASE}/release.yaml", 17)


def test_policies_come_from_the_base_not_the_change(run_cli: Any, release_repo: Repo) -> None:
    gates_yaml = (release_repo.path / "policies/gates.yaml").read_text()
    release_repo.commit(
        {
            "policies/gates.yaml": gates_yaml.replace("minimum: 90", "minimum: 50").replace(
                "failOn: high", "failOn: critical"
            )
        }
    )
    add_release(release_repo, FAILING)
    data = json_check(run_cli, release_repo)
    assert data["exit_code"] == 1
    assert ("hello@1.0.0", "coverage") in gates(data, "fail")
    assert ("policies/gates.yaml", "policy-change") in gates(data, "warn")
    # Once merged, the weaker policy is the base: the same release then passes its coverage gate.
    release_repo.git("checkout", "-q", "main")
    release_repo.git("merge", "-q", "--ff-only", "feature")
    merged = json_check(run_cli, release_repo, base="HEAD~1")
    assert ("hello@1.0.0", "coverage") in gates(merged, "pass")


def test_a_policy_change_alone_is_flagged_for_review(run_cli: Any, release_repo: Repo) -> None:
    release_repo.commit(
        {
            "policies/licenses.yaml": (release_repo.path / "policies/licenses.yaml").read_text()
            + "  - GPL-3.0-only\n"
        }
    )
    result = check(run_cli, release_repo, "--format", "github")
    assert result.code == 0
    assert (
        "::warning file=policies/licenses.yaml,line=1,title=policies/licenses.yaml%3A policy-change::"
        in result.out
    )
    release_repo.commit({"policies/licenses.yaml": None})
    assert "seed defaults apply" in check(run_cli, release_repo).out


def test_released_versions_are_locked(run_cli: Any, release_repo: Repo) -> None:
    add_release(release_repo, PASSING)
    release_repo.git("checkout", "-q", "main")
    release_repo.git("merge", "-q", "--ff-only", "feature")
    release_repo.git("checkout", "-q", "feature")
    data = release(notes="Better notes are fine.")
    release_repo.commit({f"{RELEASE}/release.yaml": yaml_text(data)})
    assert json_check(run_cli, release_repo)["exit_code"] == 0
    data["artifact"]["sha256"] = "0" * 64
    release_repo.commit({f"{RELEASE}/release.yaml": yaml_text(data)})
    result = json_check(run_cli, release_repo)
    locked = next(r for r in result["results"] if r["gate"] == "locked")
    assert locked["status"] == "fail" and locked["found"] == "changed: artifact"
    assert locked["line"] == 5
    release_repo.commit(
        {
            f"{RELEASE}/release.yaml": yaml_text(release()),
            f"{RELEASE}/evidence/junit.xml": (FAILING / "junit.xml").read_bytes(),
        }
    )
    locked = next(r for r in json_check(run_cli, release_repo)["results"] if r["gate"] == "locked")
    assert locked["found"] == f"changed: {RELEASE}/evidence/junit.xml"
    release_repo.git("rm", "-rq", RELEASE)
    release_repo.commit({})
    result = json_check(run_cli, release_repo)
    assert ("hello@1.0.0", "locked") in gates(result, "fail")
    assert "cannot be deleted" in json.dumps(result)


def test_licence_compatibility_and_dependencies(run_cli: Any, release_repo: Repo) -> None:
    add_release(
        release_repo,
        PASSING,
        license="GPL-3.0-only OR MIT",
        compatibility={"powerx": ">=3,<2"},
        dependencies={"base-lib": "^1.2"},
    )
    data = json_check(run_cli, release_repo)
    failed = {r["gate"]: r for r in data["results"] if r["status"] == "fail"}
    assert set(failed) == {"licence", "compatibility", "dependencies"}
    assert failed["licence"]["message"] == "not on the allow-list: GPL-3.0-only"
    assert failed["compatibility"]["message"] == "no version of powerx can satisfy '>=3,<2'"
    assert failed["dependencies"]["found"] == "no released version in range"
    add_release(release_repo, PASSING, plugin="base-lib", version="1.4.0")
    release_repo.commit(
        {f"{RELEASE}/release.yaml": yaml_text(release(dependencies={"base-lib": "^1.2"}))}
    )
    data = json_check(run_cli, release_repo)
    deps = next(r for r in data["results"] if r["gate"] == "dependencies")
    assert deps["status"] == "pass" and deps["found"] == "base-lib@1.4.0"
    assert data["exit_code"] == 0


def test_missing_evidence_fails_when_required(run_cli: Any, release_repo: Repo) -> None:
    release_repo.commit(
        {
            f"{RELEASE}/release.yaml": yaml_text(release(evidence={})),
            f"{RELEASE}/hello-1.0.0.pxp.sigstore.json": bundle(),
        }
    )
    data = json_check(run_cli, release_repo)
    assert {gate for _, gate in gates(data, "fail")} == {"coverage", "tests", "findings"}
    gates_yaml = (release_repo.path / "policies/gates.yaml").read_text()
    release_repo.git("checkout", "-q", "main")
    release_repo.commit(
        {
            "policies/gates.yaml": gates_yaml.replace(
                "requireEvidence: true", "requireEvidence: false"
            )
        }
    )
    release_repo.git("checkout", "-q", "feature")
    release_repo.git("rebase", "-q", "main")
    data = json_check(run_cli, release_repo)
    assert data["exit_code"] == 0
    assert {gate for _, gate in gates(data, "warn")} == {"coverage", "tests", "findings"}


def test_failing_test_report_names_the_failures(run_cli: Any, release_repo: Repo) -> None:
    add_release(release_repo, PASSING)
    junit = (Path(__file__).parent / "data" / "reports" / "junit-mixed.xml").read_bytes()
    release_repo.commit({f"{RELEASE}/evidence/junit.xml": junit})
    data = json_check(run_cli, release_repo)
    tests = next(r for r in data["results"] if r["gate"] == "tests")
    assert tests["status"] == "fail"
    assert tests["message"].startswith("failing: ")


# -- environments ------------------------------------------------------------------------


def promote(repo: Repo, env: str, version: str = "1.0.0", **fields: Any) -> str:
    return repo.commit(
        {
            f"environments/{env}/plugins/hello.yaml": yaml_text(
                plugin_state("hello", version, **fields)
            )
        },
        f"{env}: hello {version}",
    )


def merge_feature(repo: Repo) -> None:
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--ff-only", "feature")
    repo.git("checkout", "-q", "feature")


def test_promotion_follows_the_order(run_cli: Any, release_repo: Repo) -> None:
    add_release(release_repo, PASSING)
    merge_feature(release_repo)
    promote(release_repo, "staging")
    data = json_check(run_cli, release_repo)
    order = next(r for r in data["results"] if r["gate"] == "order")
    assert order["status"] == "fail"
    assert order["message"] == "promote hello@1.0.0 to test first: environments cannot be skipped"
    assert order["found"] == "test has absent"
    # test first (in the same change is not enough: the base must already have it)
    promote(release_repo, "test")
    assert ("staging/hello", "order") in gates(json_check(run_cli, release_repo), "fail")
    release_repo.git("reset", "-q", "--hard", "main")
    promote(release_repo, "test")
    assert json_check(run_cli, release_repo)["exit_code"] == 0
    merge_feature(release_repo)
    promote(release_repo, "staging")
    data = json_check(run_cli, release_repo)
    assert gates(data, "fail") == {("staging/hello", "approvals")}  # the seed asks 1 for staging
    assert {gate for _, gate in gates(data, "pass")} >= {
        "registered",
        "digest",
        "order",
        "release-gates",
    }


def test_environment_points_only_at_registered_passing_releases(
    run_cli: Any, release_repo: Repo
) -> None:
    promote(release_repo, "test", "2.0.0")
    data = json_check(run_cli, release_repo)
    assert gates(data, "fail") == {("test/hello", "registered")}
    release_repo.git("reset", "-q", "--hard", "main")
    add_release(release_repo, FAILING)
    merge_feature(release_repo)
    promote(release_repo, "test", digest="f" * 64)
    data = json_check(run_cli, release_repo)
    assert gates(data, "fail") == {
        ("test/hello", "digest"),
        ("test/hello", "release-gates"),
        ("hello@1.0.0", "coverage"),
        ("hello@1.0.0", "findings"),
    }


def test_environment_files_are_checked(run_cli: Any, release_repo: Repo) -> None:
    env = load_yaml((release_repo.path / "environments/prod/environment.yaml").read_text())
    env["position"] = 0
    release_repo.commit({"environments/prod/environment.yaml": yaml_text(env)})
    data = json_check(run_cli, release_repo)
    assert gates(data, "fail") == {("environment prod", "order")}
    env["position"] = 2
    env["name"] = "production"
    release_repo.commit({"environments/prod/environment.yaml": yaml_text(env)})
    data = json_check(run_cli, release_repo)
    assert data["exit_code"] == 2
    assert "name 'production' does not match its folder environments/prod/" in json.dumps(data)
    release_repo.git("reset", "-q", "--hard", "main")
    promote(release_repo, "qa")
    assert gates(json_check(run_cli, release_repo), "fail") == {("qa/hello", "order")}


def test_removal_and_unknown_files_are_warnings(run_cli: Any, release_repo: Repo) -> None:
    add_release(release_repo, PASSING)
    promote(release_repo, "test")
    merge_feature(release_repo)
    release_repo.commit({"environments/test/plugins/hello.yaml": None, "releases/notes.txt": "x"})
    data = json_check(run_cli, release_repo)
    assert data["exit_code"] == 0
    assert gates(data, "warn") == {("test/hello", "removal"), ("releases/notes.txt", "layout")}


# -- output formats ------------------------------------------------------------------------


def test_github_format_writes_annotations_and_a_summary(
    run_cli: Any, release_repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_release(release_repo, FAILING)
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    result = check(run_cli, release_repo)
    assert result.code == 1
    annotations = [line for line in result.out.splitlines() if line.startswith("::")]
    assert (
        f"::error file={RELEASE}/release.yaml,line=17,col=7,title=hello@1.0.0%3A coverage::coverage below the minimum"
        in annotations
    )
    assert any(
        line.startswith(
            f"::error file={RELEASE}/release.yaml,line=21,col=7,title=hello@1.0.0%3A findings::high B"
        )
        for line in annotations
    )
    text = summary.read_text()
    assert text.startswith("## ❌ PowerX check: a gate failed")
    assert (
        "| ❌ | coverage | &gt;= 90% | 71.43% (coverage.py-json)<br>coverage below the minimum |"
        in text
    )


def test_empty_change_passes(run_cli: Any, release_repo: Repo) -> None:
    release_repo.commit({"docs.md": "hello"})
    result = check(run_cli, release_repo)
    assert result.code == 0
    assert "nothing in this change touches releases" in result.out


def test_default_base_is_the_merge_base_with_main(run_cli: Any, release_repo: Repo) -> None:
    add_release(release_repo, FAILING)
    release_repo.git("checkout", "-q", "main")
    release_repo.commit({"unrelated.md": "x"})
    release_repo.git("checkout", "-q", "feature")
    result = run_cli(cli, "check", "--repo", str(release_repo.path), "--format", "json")
    data = json.loads(result.out)
    assert data["base"] == release_repo.git("merge-base", "main", "feature")
    assert data["changed_files"] == 5
    assert result.code == 1


def test_a_branch_behind_its_base_is_judged_from_the_merge_base(
    run_cli: Any, release_repo: Repo
) -> None:
    release_repo.git("checkout", "-q", "main")
    add_release(release_repo, PASSING, plugin="other")
    release_repo.git("checkout", "-q", "feature")
    promote(release_repo, "test", "9.9.9")
    data = json_check(run_cli, release_repo)
    # main gained a release since the branch forked: the branch is not charged with deleting it
    assert {r["subject"] for r in data["results"]} == {"test/hello"}
    assert data["base"] == release_repo.git("merge-base", "main", "feature")


def test_policy_changes_must_leave_a_valid_set(run_cli: Any, release_repo: Repo) -> None:
    gates_yaml = (release_repo.path / "policies/gates.yaml").read_text()
    release_repo.commit({"policies/more-gates.yaml": gates_yaml})
    data = json_check(run_cli, release_repo)
    assert data["exit_code"] == 2
    error = next(r for r in data["results"] if r["subject"] == "policies")
    assert error["message"] == "a second GatePolicy (the first is policies/gates.yaml)"


def test_removing_an_environment_in_the_order_fails(run_cli: Any, release_repo: Repo) -> None:
    release_repo.commit({"environments/prod/environment.yaml": None})
    data = json_check(run_cli, release_repo)
    assert gates(data, "fail") == {("environment prod", "order")}
    assert "remove the environment from policies/promotion.yaml first" in json.dumps(data)
    release_repo.git("reset", "-q", "--hard", "main")
    release_repo.commit(
        {
            "environments/qa/environment.yaml": "apiVersion: powerx.io/v1alpha1\nkind: Environment\nname: qa\nposition: 3\n"
        }
    )
    data = json_check(run_cli, release_repo)
    order = next(r for r in data["results"] if r["gate"] == "order")
    assert order["expected"] == "qa in the promotion order (test -> staging -> prod)"
    release_repo.commit({"environments/qa/environment.yaml": None})
    assert gates(json_check(run_cli, release_repo), "warn") == set()


def test_licence_exceptions_are_not_licences(run_cli: Any, release_repo: Repo) -> None:
    add_release(release_repo, PASSING, license="(Apache-2.0 WITH LLVM-exception) OR MIT")
    data = json_check(run_cli, release_repo)
    assert ("hello@1.0.0", "licence") in gates(data, "pass")


# -- signatures ----------------------------------------------------------------------------


def signature_result(data: dict[str, Any], gate: str = "signature") -> dict[str, Any]:
    return next(r for r in data["results"] if r["gate"] == gate)


def test_signed_releases_pass_and_unsigned_ones_fail(run_cli: Any, release_repo: Repo) -> None:
    add_release(release_repo, PASSING)
    result = signature_result(json_check(run_cli, release_repo))
    assert result["status"] == "pass"
    assert result["found"].startswith("key-signed by ")
    data = release()
    data["artifact"].pop("signature")
    release_repo.commit({f"{RELEASE}/release.yaml": yaml_text(data)})
    result = signature_result(json_check(run_cli, release_repo))
    assert result["status"] == "fail" and result["message"] == "hello@1.0.0 is not signed"


def test_signatures_must_match_the_release(run_cli: Any, release_repo: Repo) -> None:
    add_release(release_repo, PASSING)
    signature = f"{RELEASE}/hello-1.0.0.pxp.sigstore.json"
    release_repo.commit({signature: bundle(digest="ab" * 32)})
    result = signature_result(json_check(run_cli, release_repo))
    assert result["status"] == "fail"
    assert "digest mismatch" in result["message"]
    release_repo.commit(
        {signature: bundle("other", "1.0.0", digest=release()["artifact"]["sha256"])}
    )
    result = signature_result(json_check(run_cli, release_repo))
    assert result["message"] == "the signature is for other@1.0.0, not hello@1.0.0"
    release_repo.commit({signature: b"{not json"})
    data = json_check(run_cli, release_repo)
    assert data["exit_code"] == 2


def test_a_change_cannot_trust_its_own_signer(run_cli: Any, release_repo: Repo) -> None:
    from pipeline.models.signing import ReleasePredicate
    from pipeline.signing.keys import generate_keypair, load_private_key, public_key_id
    from pipeline.signing.sign import sign_with_key

    private_pem, public_pem = generate_keypair(b"intruder")
    intruder = load_private_key(private_pem, b"intruder")
    predicate = ReleasePredicate.model_validate(
        {"plugin": "hello", "version": "1.0.0", "sourceCommit": "1" * 40, "builder": "intruder"}
    )
    add_release(release_repo, PASSING)
    policy = load_yaml((release_repo.path / "policies/signing.yaml").read_text())
    policy["keys"].append({"id": public_key_id(public_pem), "publicKey": public_pem.decode()})
    release_repo.commit(
        {
            "policies/signing.yaml": yaml_text(policy),
            f"{RELEASE}/hello-1.0.0.pxp.sigstore.json": sign_with_key(
                release()["artifact"]["sha256"], "hello-1.0.0.pxp", predicate, intruder
            ),
        }
    )
    data = json_check(run_cli, release_repo)
    result = signature_result(data)
    assert result["status"] == "fail" and "not trusted" in result["message"]
    assert ("policies/signing.yaml", "policy-change") in gates(data, "warn")


def test_environments_can_require_stricter_signatures(run_cli: Any, release_repo: Repo) -> None:
    from factories import signing_policy

    release_repo.git("checkout", "-q", "main")
    release_repo.commit(
        {
            "policies/signing.yaml": yaml_text(
                signing_policy(environments={"prod": {"require": "keyless"}})
            )
        }
    )
    release_repo.git("checkout", "-q", "feature")
    release_repo.git("rebase", "-q", "main")
    add_release(release_repo, PASSING)
    promote(release_repo, "test")
    assert json_check(run_cli, release_repo)["exit_code"] == 0
    merge_feature(release_repo)
    for env in ("staging", "prod"):
        promote(release_repo, env)
        merge_feature(release_repo)
    data = json_check(run_cli, release_repo, base="HEAD~1")
    result = signature_result(data, "signature:prod")
    assert result["subject"] == "prod/hello"
    assert result["file"] == "environments/prod/plugins/hello.yaml"
    assert result["status"] == "fail"
    assert (
        result["message"]
        == "environment 'prod' requires a keyless signature, but the bundle is key-signed"
    )


def test_validity_windows_use_the_check_clock(release_repo: Repo) -> None:
    from datetime import UTC, datetime

    from pipeline.gitrepo import GitRepo
    from pipeline.policy import CheckRequest, run_check

    add_release(release_repo, PASSING)
    window = {"notBefore": "2026-01-01T00:00:00Z", "notAfter": "2026-06-30T00:00:00Z"}
    release_repo.commit({f"{RELEASE}/hello-1.0.0.pxp.sigstore.json": bundle(**window)})
    git = GitRepo(release_repo.path)

    def signature_at(when: datetime) -> str:
        report = run_check(git, CheckRequest(base="main", now=when))
        return next(r for r in report.results if r.gate == "signature").status

    assert signature_at(datetime(2026, 3, 1, tzinfo=UTC)) == "pass"
    assert signature_at(datetime(2026, 7, 1, tzinfo=UTC)) == "fail"
    assert signature_at(datetime(2025, 12, 31, tzinfo=UTC)) == "fail"


def test_policy_and_environment_changes_must_land_separately(
    run_cli: Any, release_repo: Repo
) -> None:
    add_release(release_repo, PASSING)
    merge_feature(release_repo)
    gates_yaml = (release_repo.path / "policies/gates.yaml").read_text()
    release_repo.commit(
        {
            "policies/gates.yaml": gates_yaml.replace("minimum: 90", "minimum: 10"),
            "environments/test/plugins/hello.yaml": yaml_text(plugin_state("hello", "1.0.0")),
        }
    )
    data = json_check(run_cli, release_repo)
    assert data["exit_code"] == 1
    separation = next(r for r in data["results"] if r["gate"] == "separation")
    assert separation["status"] == "fail"
    assert separation["hint"] == "land the policy change first, then the environment change"
