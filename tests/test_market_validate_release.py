"""The Marketplace validator's release and package rules: signature, consistency, scans,
licence, secrets, versions, names and widened permissions, on real packages and bundles."""

from __future__ import annotations

from pathlib import Path

from factories import bundle
from test_market_validate import (
    FAILING_SARIF,
    Market,
    failed_only,
    findings,
    market,
    result,
    sign_with_other_key,
)

__all__ = ["market"]  # the fixture, shared with test_market_validate.py


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


def test_a_missing_or_unreadable_signature_bundle(market: Market) -> None:
    packed = market.package()
    market.release(packed, signature=b"{not a bundle")
    market.listing()
    (finding,) = findings(market.validate(), "signature.valid")
    assert finding.severity == "critical" and finding.file is not None
    market.repo.commit({"releases/hello/1.0.0/hello-1.0.0.pxp.sigstore.json": None})
    (finding,) = findings(market.validate(), "signature.valid")
    assert "does not exist" in finding.message
    assert finding.file == "releases/hello/1.0.0/release.yaml" and finding.line is not None


def test_an_unreadable_security_report(market: Market) -> None:
    market.release(market.package(), sarif=b'{"version": "2.0", "runs": []}')
    market.listing()
    (finding,) = findings(market.validate(), "security.report")
    assert "unsupported SARIF version" in finding.message
    assert finding.path == "evidence.scans[0]"


def test_at_most_three_secrets_are_listed_per_file(market: Market) -> None:
    keys = "".join(f"KEY_{i} = 'AKIA{i:016d}'\n".replace("0", "Q") for i in range(6))
    market.release(market.package(files={"dist/keys.py": keys}))
    market.listing()
    assert len(findings(market.validate(), "package.secrets")) == 3
