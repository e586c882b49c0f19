"""The Marketplace validator on real repos, real packages (px-plugin's packer) and real signatures.

This file holds the harness (`Market`) and the run itself: modes, exceptions, errored rules,
the ruleset id. Every bad input of issue 14 that is a validator concern is a test in it or
in test_market_validate_listing.py and test_market_validate_release.py: an unsigned, a
wrongly signed or an expired package, metadata disagreeing with the release record,
screenshots that are no image, an SVG or too large, a listing without support or pricing, a
high security finding, a duplicate version, a squatting name, a secret in the package; plus
exceptions, errored rules and rule modes.
"""

from __future__ import annotations

import io
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from conftest import REPORTS, Repo
from factories import API, bundle, release, signing_policy, yaml_text
from PIL import Image

from pipeline.errors import InputError
from pipeline.gitrepo import GitRepo
from pipeline.market.findings import Finding, RuleResult, ValidationReport
from pipeline.market.rules import RULES, Rule, RuleUnavailableError, Submission
from pipeline.market.validate import ValidateRequest, ruleset_version, validate_submission
from pipeline.models.market import MarketPolicy
from pipeline.models.signing import ReleasePredicate
from pipeline.packaging import pack_plugin
from pipeline.scaffold import init_repo
from pipeline.signing.keys import generate_keypair, load_private_key
from pipeline.signing.sign import sign_with_key
from pipeline.snapshot import Snapshot
from pipeline.store import ContentAddressedDirectory, cas_uri

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
PASSING_SARIF = (REPORTS / "passing" / "bandit.sarif").read_bytes()
FAILING_SARIF = (REPORTS / "failing" / "bandit.sarif").read_bytes()


@cache
def png(width: int = 1280, height: int = 720, *, noisy: bool = False) -> bytes:
    """A real PNG screenshot (noisy: random pixels, so it does not compress)."""
    image = Image.new("RGB", (width, height), (240, 242, 245))
    if noisy:
        noise = random.Random(7).randbytes(width * height * 3)
        image = Image.frombytes("RGB", (width, height), noise)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (800, 450), (10, 90, 200)).save(out, "JPEG", quality=85)
    return out.getvalue()


def listing_data(plugin: str, **overrides: Any) -> dict[str, Any]:
    """A complete, valid listing."""
    data: dict[str, Any] = {
        "apiVersion": API,
        "kind": "Listing",
        "plugin": plugin,
        "title": f"{plugin} for PowerX",
        "summary": "Greets every tenant by name on its own page.",
        "description": "A plugin that greets each tenant by the name the host knows it by. "
        "It reads only the tenant's name and stores nothing at all.",
        "highlights": ["Greets each tenant by name"],
        "categories": ["productivity"],
        "pricing": {"model": "free"},
        "screenshots": [{"file": "listing/main.png", "caption": "The greeting page"}],
        "support": {
            "contact": "help@vendor.example",
            "responseTime": "2 business days",
            "url": "https://vendor.example/support",
        },
        "documentation": "https://vendor.example/docs",
        "vendor": {"name": "Vendor Ltd", "url": "https://vendor.example"},
    }
    data.update(overrides)
    return data


def market_policy(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"apiVersion": API, "kind": "MarketPolicy", "reviewers": ["market"]}
    data.update(overrides)
    return data


def sign_with_other_key(digest: str, plugin: str, version: str) -> bytes:
    """A real bundle, signed by a key no policy trusts."""
    private_pem, _ = generate_keypair(b"not trusted")
    predicate = ReleasePredicate.model_validate(
        {"plugin": plugin, "version": version, "sourceCommit": "0" * 40, "builder": "tests"}
    )
    key = load_private_key(private_pem, b"not trusted")
    return sign_with_key(digest, f"{plugin}-{version}.pxp", predicate, key)


@dataclass
class Market:
    """A release repo with the Marketplace policy, an artifact store, and real packages."""

    repo: Repo
    work: Path
    store: ContentAddressedDirectory
    packages: dict[str, Path] = field(default_factory=dict)

    def package(
        self,
        plugin: str = "hello",
        version: str = "1.0.0",
        *,
        permissions: tuple[str, ...] = ("tenant-data:read",),
        license: str = "Apache-2.0",
        powerx: str = ">=2.4,<3",
        files: dict[str, str] | None = None,
        manifest_extra: dict[str, Any] | None = None,
    ) -> Path:
        """A package made by the project's packer from a small plugin folder."""
        folder = self.work / "src" / f"{plugin}-{version}"
        manifest = {
            "apiVersion": API,
            "kind": "Plugin",
            "name": plugin,
            "version": version,
            "description": "Greets tenants.",
            "license": license,
            "compatibility": {"powerx": powerx},
            "permissions": list(permissions),
            "entrypoint": "app.py",
            "healthCheck": {"command": ["python3", "app.py", "--health"]},
            "build": {"command": ["python3", "build.py"]},
            **(manifest_extra or {}),
        }
        contents = {"plugin.yaml": yaml_text(manifest), "dist/app.py": "print('hello')\n"}
        contents.update(files or {})
        for name, text in contents.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text, encoding="utf-8")
        packed = pack_plugin(folder, self.work / "packages").path
        self.packages[f"{plugin}@{version}"] = packed
        return packed

    def release(
        self,
        package: Path,
        plugin: str = "hello",
        version: str = "1.0.0",
        *,
        signature: bytes | None = b"",
        sarif: bytes | None = PASSING_SARIF,
        store: bool = True,
        **overrides: Any,
    ) -> None:
        """Commit the release record of `package` (signed by the test key unless told)."""
        stored = self.store.put(package) if store else None
        sha256 = stored.sha256 if stored else "0" * 64
        size = package.stat().st_size
        folder = f"releases/{plugin}/{version}"
        files: dict[str, str | bytes | None] = {}
        artifact: dict[str, Any] = {"uri": cas_uri(sha256), "sha256": sha256, "size": size}
        if signature is not None:
            artifact["signature"] = f"{plugin}-{version}.pxp.sigstore.json"
            files[f"{folder}/{artifact['signature']}"] = signature or bundle(
                plugin, version, sha256
            )
        evidence: dict[str, list[str]] = {}
        if sarif is not None:
            evidence["scans"] = ["evidence/bandit.sarif"]
            files[f"{folder}/evidence/bandit.sarif"] = sarif
        overrides.setdefault("notes", "Greets every tenant by name, in four languages.")
        record = release(plugin, version, artifact=artifact, evidence=evidence, **overrides)
        files[f"{folder}/release.yaml"] = yaml_text(record)
        self.repo.commit(files, f"release {plugin}@{version}")

    def listing(
        self, plugin: str = "hello", *, shots: dict[str, bytes] | None = None, **kw: Any
    ) -> None:
        """Commit the plugin's listing and its screenshots."""
        files: dict[str, str | bytes | None] = {
            f"releases/{plugin}/listing.yaml": yaml_text(listing_data(plugin, **kw))
        }
        for name, data in (shots if shots is not None else {"listing/main.png": png()}).items():
            files[f"releases/{plugin}/{name}"] = data
        self.repo.commit(files, f"listing of {plugin}")

    def publish(self, plugin: str = "hello", version: str = "1.0.0", **package: Any) -> Path:
        """A signed release with its package in the store, and a valid listing."""
        packed = self.package(plugin, version, **package)
        self.release(packed, plugin, version)
        self.listing(plugin)
        return packed

    def approve(self, plugin: str, version: str) -> None:
        """Commit an approved review record: plugin@version is listed."""
        review = {
            "apiVersion": API,
            "kind": "Review",
            "plugin": plugin,
            "version": version,
            "artifactSha256": "a" * 64,
            "history": [
                {"state": "submitted", "at": "2026-11-20T10:00:00Z", "by": "vendor"},
                {"state": "approved", "at": "2026-11-21T10:00:00Z", "by": "rita"},
            ],
        }
        self.repo.commit(
            {f"market/reviews/{plugin}/{version}.yaml": yaml_text(review)}, f"approve {plugin}"
        )

    def policy(self, **overrides: Any) -> None:
        self.repo.commit({"policies/market.yaml": yaml_text(market_policy(**overrides))}, "policy")

    def validate(
        self, plugin: str = "hello", version: str | None = "1.0.0", **kw: Any
    ) -> ValidationReport:
        git = GitRepo(self.repo.path)
        kw.setdefault("store", self.store)
        request = ValidateRequest(
            Snapshot(git, git.resolve("HEAD")), plugin, version, now=kw.pop("now", NOW), **kw
        )
        return validate_submission(request)


@pytest.fixture
def market(tmp_path: Path) -> Market:
    path = tmp_path / "repo"
    init_repo(path)
    repo = Repo(path)
    repo.commit(
        {
            "policies/signing.yaml": yaml_text(signing_policy()),
            "policies/market.yaml": yaml_text(market_policy()),
        },
        "trust the test key; the Marketplace policy",
    )
    return Market(repo, tmp_path, ContentAddressedDirectory(tmp_path / "store"))


def result(report: ValidationReport, rule: str) -> RuleResult:
    return next(r for r in report.results if r.rule == rule)


def findings(report: ValidationReport, rule: str) -> tuple[Finding, ...]:
    return result(report, rule).findings


def failed_only(report: ValidationReport, *rules: str) -> None:
    """The verdict is failed, by exactly these rules; every other rule passed."""
    assert report.verdict == "failed"
    assert sorted(report.failed) == sorted(rules), report
    others = [r for r in report.results if r.rule not in rules]
    assert all(r.outcome == "passed" for r in others), [r for r in others if r.outcome != "passed"]


# -- a good submission, modes, exceptions, errored rules ----------------------------------


def test_a_complete_submission_passes_every_rule(market: Market) -> None:
    market.publish()
    report = market.validate()
    assert [r.outcome for r in report.results] == ["passed"] * len(RULES)
    assert report.verdict == "passed" and report.failed == report.errored == []
    assert report.ruleset == ruleset_version(MarketPolicy.model_validate(market_policy()))
    assert report.permissions_widened == () and report.notes == ()
    assert [r.rule for r in report.results] == [rule.id for rule in RULES]


def test_the_version_defaults_to_the_newest_release(market: Market) -> None:
    market.publish()
    market.publish("hello", "1.1.0")
    assert market.validate(version=None).version == "1.1.0"
    with pytest.raises(InputError, match=r"did you mean '1\.0\.0'"):
        market.validate(version="1.0.1")


def test_rule_modes_come_from_the_policy(market: Market) -> None:
    market.release(market.package(), signature=None, sarif=None)
    market.listing()
    market.policy(rules={"signature.valid": "off", "security.report": "advisory"})
    report = market.validate()
    assert report.verdict == "passed"
    assert result(report, "signature.valid").outcome == "skipped"
    assert report.advisory == ["security.report"]


def test_an_exception_excuses_a_rule_until_it_expires(market: Market) -> None:
    market.release(market.package(), sarif=FAILING_SARIF)
    market.listing()
    exception = {
        "plugin": "hello",
        "rule": "security.report",
        "reason": "B324 is a checksum, not a password hash (SEC-42)",
        "expires": "2027-01-01",
        "approvedBy": "rita",
    }
    market.policy(exceptions=[exception])
    report = market.validate()
    assert report.verdict == "passed"
    excused = result(report, "security.report")
    assert excused.outcome == "excused" and len(excused.findings) == 2
    assert excused.excuse == (
        "B324 is a checksum, not a password hash (SEC-42) (approved by rita, until 2027-01-01)"
    )
    late = market.validate(now=datetime(2027, 1, 1, tzinfo=UTC))
    assert late.verdict == "failed" and late.failed == ["security.report"]
    assert late.notes == (
        "the exception from security.report for hello expired on 2027-01-01 and was ignored "
        "(B324 is a checksum, not a password hash (SEC-42))",
    )


def test_a_policy_naming_an_unknown_rule_is_said(market: Market) -> None:
    market.publish()
    market.policy(rules={"signature.vaild": "advisory"})
    report = market.validate()
    assert report.notes == (
        "policies/market.yaml names an unknown rule 'signature.vaild': did you mean "
        "'signature.valid'?",
    )


def test_a_rule_without_its_package_is_errored_never_passed(market: Market) -> None:
    market.publish()
    report = market.validate(store=None)
    assert report.verdict == "errored" and report.failed == []
    assert report.errored == ["release.consistency", "package.secrets"]
    assert "pass --store (the artifact store) or --artifact FILE.pxp" in (
        result(report, "package.secrets").error or ""
    )
    empty = ContentAddressedDirectory(market.work / "empty-store")
    report = market.validate(store=empty)
    assert report.verdict == "errored"
    assert "is not in the artifact store" in (result(report, "package.secrets").error or "")


def test_a_failed_rule_outweighs_an_errored_one(market: Market) -> None:
    market.release(market.package(), signature=None)
    market.listing()
    report = market.validate(store=None)
    assert report.verdict == "failed" and report.errored == [
        "release.consistency",
        "package.secrets",
    ]


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    release_rule = threading.Event()
    yield release_rule
    release_rule.set()  # let a timed-out rule's thread finish


def test_a_rule_that_hangs_or_breaks_is_errored(market: Market, gate: threading.Event) -> None:
    market.publish()

    def hangs(submission: Submission) -> Iterator[Finding]:
        gate.wait()
        return iter(())

    def breaks(submission: Submission) -> Iterator[Finding]:
        raise KeyError("surprise")

    def tool_missing(submission: Submission) -> Iterator[Finding]:
        raise RuleUnavailableError("the scanner 'trivy' is not installed")

    rules = (
        *RULES,
        Rule("test.hangs", 1, "Hangs", hangs),
        Rule("test.breaks", 1, "Breaks", breaks),
        Rule("test.tool", 1, "Needs a tool", tool_missing),
    )
    report = market.validate(rules=rules, timeout=0.2)
    assert report.verdict == "errored" and report.failed == []
    assert report.errored == ["test.hangs", "test.breaks", "test.tool"]
    assert result(report, "test.hangs").error == "timed out after 0.2 s"
    assert "KeyError" in (result(report, "test.breaks").error or "")
    assert "bug in the validator" in (result(report, "test.breaks").error or "")
    assert result(report, "test.tool").error == "the scanner 'trivy' is not installed"
    assert report.ruleset != ruleset_version(MarketPolicy.model_validate(market_policy()))


def test_an_exception_also_excuses_an_errored_rule(market: Market) -> None:
    market.publish()
    exception = {
        "plugin": "hello",
        "rule": "package.secrets",
        "reason": "the package is scanned by the vendor's own pipeline",
        "expires": "2027-01-01",
        "approvedBy": "rita",
    }
    market.policy(exceptions=[exception])
    report = market.validate(store=None)
    assert result(report, "package.secrets").outcome == "excused"
    assert report.errored == ["release.consistency"]


def test_the_ruleset_id_names_rules_and_policy() -> None:
    policy = MarketPolicy.model_validate(market_policy())
    same = MarketPolicy.model_validate({**market_policy(), "squattingDistance": 2})
    stricter = MarketPolicy.model_validate(market_policy(squattingDistance=3))
    assert ruleset_version(policy) == ruleset_version(same)
    assert ruleset_version(policy) != ruleset_version(stricter)
    bumped = tuple(
        Rule(r.id, r.version + (r.id == "listing.links"), r.title, r.check) for r in RULES
    )
    assert ruleset_version(policy, bumped).split(":")[2] == ruleset_version(policy).split(":")[2]
    assert ruleset_version(policy, bumped) != ruleset_version(policy)
    assert ruleset_version(policy).startswith("market-rules/1:")
