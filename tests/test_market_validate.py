"""The Marketplace validator on real repos, real packages (px-plugin's packer) and real signatures.

Every bad input of issue 14 that is a validator concern is a test here: an unsigned, a
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


# -- a good submission -----------------------------------------------------------------


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


# -- signatures ------------------------------------------------------------------------


def test_an_unsigned_package_is_refused(market: Market) -> None:
    market.release(market.package(), signature=None)
    market.listing()
    report = market.validate()
    failed_only(report, "signature.valid")
    (finding,) = findings(report, "signature.valid")
    assert finding.message == "hello@1.0.0 is not signed"
    assert finding.file == "releases/hello/1.0.0/release.yaml" and finding.line is not None
    assert finding.severity == "critical" and "px-plugin sign" in finding.remedy
    assert finding.anchor == "docs/market-rules.md#signature-valid"


def test_a_package_signed_by_an_untrusted_key_is_refused(market: Market) -> None:
    packed = market.package()
    digest = market.store.put(packed).sha256
    market.release(packed, signature=sign_with_other_key(digest, "hello", "1.0.0"))
    market.listing()
    report = market.validate()
    failed_only(report, "signature.valid")
    (finding,) = findings(report, "signature.valid")
    assert "is not trusted" in finding.message
    assert finding.path == "releases/hello/1.0.0/hello-1.0.0.pxp.sigstore.json"


def test_a_signature_for_another_release_is_refused(market: Market) -> None:
    packed = market.package()
    digest = market.store.put(packed).sha256
    market.release(packed, signature=bundle("hello", "0.9.0", digest))
    market.listing()
    (finding,) = findings(market.validate(), "signature.valid")
    assert "the signature is for hello@0.9.0, not hello@1.0.0" in finding.message


def test_an_expired_signature_is_refused_and_asks_for_a_new_one(market: Market) -> None:
    packed = market.package()
    digest = market.store.put(packed).sha256
    expired = bundle(
        "hello", "1.0.0", digest, notBefore="2026-01-01T00:00:00Z", notAfter="2026-06-01T00:00:00Z"
    )
    market.release(packed, signature=expired)
    market.listing()
    report = market.validate()
    failed_only(report, "signature.valid")
    (finding,) = findings(report, "signature.valid")
    assert finding.message.startswith("the signature has expired: its notAfter is 2026-06-01")
    assert "sign the artifact again" in finding.remedy


# -- the release record and the package ----------------------------------------------


def test_metadata_that_disagrees_with_the_release_record_is_refused(market: Market) -> None:
    packed = market.package(license="MIT", powerx=">=3,<4")
    market.release(packed, license="Apache-2.0")
    market.listing()
    report = market.validate()
    failed_only(report, "release.consistency")
    by_path = {f.path: f for f in findings(report, "release.consistency")}
    assert set(by_path) == {"license", "compatibility"}
    assert by_path["license"].message == (
        "release.yaml's license is 'Apache-2.0', the package's plugin.yaml says license: 'MIT'"
    )
    assert by_path["license"].file == "releases/hello/1.0.0/release.yaml"
    assert by_path["license"].line is not None
    assert "powerx >=3,<4" in by_path["compatibility"].message


def test_a_package_other_than_the_released_one_is_refused(market: Market, tmp_path: Path) -> None:
    market.publish()
    other = market.package("hello", "1.0.0", files={"dist/extra.py": "x = 1\n"})
    report = market.validate(package=other)
    failed_only(report, "release.consistency")
    (finding,) = findings(report, "release.consistency")
    assert finding.path == "artifact.sha256" and finding.severity == "critical"
    assert "the release record says" in finding.message


def test_a_corrupt_package_is_refused_and_not_scanned(market: Market, tmp_path: Path) -> None:
    packed = market.publish()
    broken = tmp_path / "broken.pxp"
    data = bytearray(packed.read_bytes())
    data[len(data) // 2] ^= 0x01
    broken.write_bytes(bytes(data))
    report = market.validate(package=broken)
    assert report.verdict == "failed" and report.failed == ["release.consistency"]
    (finding,) = findings(report, "release.consistency")
    assert finding.message.startswith("the package was refused:")
    assert result(report, "package.secrets").outcome == "errored"
    assert "could not be read" in (result(report, "package.secrets").error or "")


# -- the listing -----------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["support", "pricing"])
def test_a_listing_without_support_or_pricing_is_refused(market: Market, missing: str) -> None:
    market.release(market.package())
    data = listing_data("hello")
    del data[missing]
    market.repo.commit(
        {"releases/hello/listing.yaml": yaml_text(data), "releases/hello/listing/main.png": png()}
    )
    report = market.validate()
    failed_only(report, "listing.fields")
    (finding,) = findings(report, "listing.fields")
    assert finding.message == f"missing required field {missing!r}"
    assert finding.file == "releases/hello/listing.yaml" and finding.line == 1


def test_field_errors_name_their_line(market: Market) -> None:
    market.release(market.package())
    market.listing(summary="short", categories=["games"])
    report = market.validate()
    failed_only(report, "listing.fields")
    messages = {f.message.split(":")[0]: f for f in findings(report, "listing.fields")}
    assert "summary" in messages and messages["summary"].line is not None
    assert messages["summary"].line > 1


def test_no_listing_at_all(market: Market) -> None:
    market.release(market.package())
    report = market.validate()
    failed_only(report, "listing.fields")
    (finding,) = findings(report, "listing.fields")
    assert finding.message == "hello has no listing"
    assert "releases/hello/listing.yaml" in finding.remedy


def test_a_listing_for_another_plugin(market: Market) -> None:
    market.release(market.package())
    market.repo.commit(
        {
            "releases/hello/listing.yaml": yaml_text(listing_data("other")),
            "releases/hello/listing/main.png": png(),
        }
    )
    (finding,) = findings(market.validate(), "listing.fields")
    assert finding.message == "the listing is for 'other', not 'hello'"


SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="1280" height="720"/>'


@pytest.mark.parametrize(
    "data, message",
    [
        (b"this is not an image at all, whatever its name says", "is not a PNG or JPEG image"),
        (SVG, "is an SVG drawing"),
        (png(4000, 2200), "is 4000x2200 pixels, over the maximum of 3840x2160"),
        (png(320, 200), "is 320x200 pixels, under the minimum of 640x360"),
        (png()[:200], "is a damaged PNG file"),
    ],
)
def test_screenshots_are_decoded_not_judged_by_name(
    market: Market, data: bytes, message: str
) -> None:
    market.release(market.package())
    market.listing(shots={"listing/main.png": data})
    report = market.validate()
    failed_only(report, "listing.screenshots")
    (finding,) = findings(report, "listing.screenshots")
    assert finding.message.startswith("screenshot listing/main.png ")
    assert message in finding.message
    assert finding.file == "releases/hello/listing.yaml" and finding.line is not None
    assert finding.path == "screenshots[0].file"


def test_a_screenshot_over_the_byte_limit(market: Market) -> None:
    market.policy(screenshots={"maxBytes": 100_000})
    market.release(market.package())
    market.listing(shots={"listing/main.png": png(800, 450, noisy=True)})
    (finding,) = findings(market.validate(), "listing.screenshots")
    assert "over the limit of 100,000" in finding.message


def test_jpeg_and_missing_screenshots(market: Market) -> None:
    market.release(market.package())
    shots = [
        {"file": "listing/a.jpg", "caption": "A JPEG"},
        {"file": "listing/gone.png", "caption": "Not there"},
        {"file": "../1.0.0/release.yaml", "caption": "Outside"},
    ]
    market.listing(screenshots=shots, shots={"listing/a.jpg": jpeg()})
    report = market.validate()
    messages = [f.message for f in findings(report, "listing.screenshots")]
    assert messages[0] == "screenshot listing/gone.png does not exist"
    assert "is not a plain path inside the listing's folder" in messages[1]
    assert len(messages) == 2


def test_links_must_be_https(market: Market) -> None:
    market.release(market.package())
    market.listing(
        documentation="http://vendor.example/docs",
        vendor={"name": "Vendor", "url": "https://user:secret@vendor.example/"},
    )
    report = market.validate()
    failed_only(report, "listing.links")
    found = {f.path: f.message for f in findings(report, "listing.links")}
    assert found["documentation"] == "'http://vendor.example/docs' is not an https link"
    assert "user info" in found["vendor.url"] and "secret" not in found["vendor.url"]


def test_notes_and_changelog_must_be_there_and_not_stub_text(market: Market) -> None:
    market.release(market.package(), notes="", changes=[])
    market.listing(description="TODO: describe the plugin here. " * 4)
    report = market.validate()
    failed_only(report, "listing.text")
    messages = [f.message for f in findings(report, "listing.text")]
    assert messages == [
        "the release has no release notes",
        "the release has no changelog",
        "description is stub text ('TODO')",
    ]


def test_stub_release_notes(market: Market) -> None:
    market.release(market.package(), notes="_No release notes._ Lorem ipsum dolor sit amet.")
    market.listing()
    (finding,) = findings(market.validate(), "listing.text")
    assert finding.message == "the release notes are stub text ('_No release notes._')"


def test_notes_and_changelog_files_in_the_package_count(market: Market) -> None:
    packed = market.package(
        files={
            "NOTES.md": "Greetings in Welsh, and a faster start.\n",
            "CHANGELOG.md": "## 1.0.0\n- Welsh greetings\n",
        },
        manifest_extra={"notes": "NOTES.md", "changelog": "CHANGELOG.md"},
    )
    market.release(packed, notes="", changes=[])
    market.listing()
    assert result(market.validate(), "listing.text").outcome == "passed"


# -- security, licence, secrets ----------------------------------------------------------


def test_a_security_report_with_a_high_finding_is_refused(market: Market) -> None:
    market.release(market.package(), sarif=FAILING_SARIF)
    market.listing()
    report = market.validate()
    failed_only(report, "security.report")
    messages = [f.message for f in findings(report, "security.report")]
    assert len(messages) == 2  # the LOW finding does not count
    assert messages[0].startswith("high B324 at ")
    assert (
        findings(report, "security.report")[0].file == "releases/hello/1.0.0/evidence/bandit.sarif"
    )


def test_a_release_without_a_security_report_is_refused(market: Market) -> None:
    market.release(market.package(), sarif=None)
    market.listing()
    (finding,) = findings(market.validate(), "security.report")
    assert finding.message == "the release has no security report"


def test_a_licence_off_the_allow_list_is_refused(market: Market) -> None:
    market.release(market.package(license="GPL-3.0-only"), license="GPL-3.0-only")
    market.listing()
    report = market.validate()
    failed_only(report, "licence.allowed")
    (finding,) = findings(report, "licence.allowed")
    assert finding.message == "not on the allow-list: GPL-3.0-only"


AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"
PRIVATE_KEY = (
    "-----BEGIN "
    + "PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
)


def test_secrets_in_the_package_are_refused_without_echoing_them(market: Market) -> None:
    packed = market.package(
        files={
            "dist/config.py": f"REGION = 'eu'\n\nAWS_KEY = '{AWS_KEY}'\n",
            "dist/.env": "DATABASE_URL=postgres://app@db/app\n",
            "dist/.env.example": "DATABASE_URL=\n",
            "dist/certs/server.pem": PRIVATE_KEY,
        }
    )
    market.release(packed)
    market.listing()
    report = market.validate()
    failed_only(report, "package.secrets")
    found = {(f.file, f.line): f.message for f in findings(report, "package.secrets")}
    assert found == {
        ("dist/.env", None): "dist/.env holds a '.env' file, which holds secrets by design",
        ("dist/certs/server.pem", 1): "dist/certs/server.pem holds a private key (-----B…)",
        ("dist/config.py", 3): "dist/config.py holds an AWS access key id (AKIAIO…)",
    }
    assert all(AWS_KEY not in f.message for f in findings(report, "package.secrets"))


# -- versions, names, permissions -----------------------------------------------------------


def test_a_duplicate_or_older_version_is_refused(market: Market) -> None:
    market.publish("hello", "1.0.0")
    market.publish("hello", "1.2.0")
    market.approve("hello", "1.2.0")
    duplicate = market.validate(version="1.2.0")
    failed_only(duplicate, "version.newer")
    assert findings(duplicate, "version.newer")[0].message == "hello@1.2.0 is already listed"
    older = market.validate(version="1.0.0")
    failed_only(older, "version.newer")
    assert findings(older, "version.newer")[0].message == "1.0.0 is not newer than the listed 1.2.0"


def test_a_squatting_name_is_refused(market: Market) -> None:
    market.publish("hello-world", "1.0.0")
    market.approve("hello-world", "1.0.0")
    market.publish("helo-wrold", "1.0.0")
    report = market.validate("helo-wrold")
    failed_only(report, "naming.squatting")
    (finding,) = findings(report, "naming.squatting")
    assert finding.message.startswith(
        "the name 'helo-wrold' is 2 edits away from the listed plugin 'hello-world'"
    )
    assert result(market.validate("hello-world", "1.0.0"), "naming.squatting").outcome == "passed"
    market.publish("greetr", "1.0.0")  # a listing, not listed (never approved): no conflict
    market.publish("greeter", "1.0.0")
    assert result(market.validate("greeter"), "naming.squatting").outcome == "passed"


def test_widened_permissions_are_shown_and_never_block(market: Market) -> None:
    market.publish("hello", "1.0.0", permissions=("tenant-data:read",))
    market.approve("hello", "1.0.0")
    market.publish("hello", "1.1.0", permissions=("tenant-data:read", "network"))
    report = market.validate(version="1.1.0")
    assert report.verdict == "passed" and report.advisory == ["permissions.widened"]
    assert report.permissions_widened == ("network",)
    (finding,) = findings(report, "permissions.widened")
    assert "asks for 'network', which the listed 1.0.0 did not" in finding.message


def test_widened_permissions_need_the_listed_package(market: Market, tmp_path: Path) -> None:
    market.publish("hello", "1.0.0")
    market.approve("hello", "1.0.0")
    packed = market.publish("hello", "1.1.0")
    report = market.validate(version="1.1.0", store=None, package=packed)
    assert result(report, "permissions.widened").outcome == "errored"
    assert "pass --store" in (result(report, "permissions.widened").error or "")
    assert result(report, "package.secrets").outcome == "passed"


# -- modes, exceptions, errored rules -------------------------------------------------------


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


# -- a listing given as a local file ------------------------------------------------------------


def test_a_local_listing_with_its_screenshots(market: Market, tmp_path: Path) -> None:
    market.release(market.package())
    folder = tmp_path / "upload"
    (folder / "listing").mkdir(parents=True)
    (folder / "listing" / "main.png").write_bytes(png())
    (folder / "listing.yaml").write_text(yaml_text(listing_data("hello")))
    assert market.validate(listing=folder / "listing.yaml").verdict == "passed"
    (folder / "listing" / "main.png").unlink()
    (folder / "listing" / "main.png").symlink_to(tmp_path / "repo" / "README.md")
    report = market.validate(listing=folder / "listing.yaml")
    (finding,) = findings(report, "listing.screenshots")
    assert "leads outside the listing's folder" in finding.message
    assert finding.file == str(folder / "listing.yaml")
    (folder / "listing.yaml").write_text("plugin: [unclosed\n")
    (finding,) = findings(market.validate(listing=folder / "listing.yaml"), "listing.fields")
    assert finding.line is not None
