"""Rules on the release behind the listing: its package, version, signature, scans, licence.

Signature and licence are the release gates' own checks (`pipeline.policy.gates`), called
here, so the Marketplace and `powerx check` can never disagree about them.
"""

from __future__ import annotations

from collections.abc import Iterator

from pipeline import evidence, layout
from pipeline.errors import InputError
from pipeline.market import records
from pipeline.market.findings import Finding, Severity
from pipeline.market.rules.base import Submission
from pipeline.models.semver import Version
from pipeline.policy.gates import ReleaseGates
from pipeline.policy.results import GateResult

CONSISTENCY = "release.consistency"
NEWER = "version.newer"
SIGNATURE = "signature.valid"
SECURITY = "security.report"
LICENCE = "licence.allowed"

BLOCKING_SEVERITY = "high"
"""A scan finding this severe or worse keeps a plugin out of the Marketplace."""
MAX_SCAN_FINDINGS = 10
"""Scan findings listed one by one (the rest are counted)."""


def check_consistency(submission: Submission) -> Iterator[Finding]:
    """The package is the release's artifact, and its plugin.yaml agrees with release.yaml."""
    if submission.package.error is not None:
        error = submission.package.error
        yield Finding(
            CONSISTENCY,
            "critical",
            f"the package was refused: {error.message}",
            error.hint or "pack it again with px-plugin pack and resubmit",
            file=str(error.location) if error.location else None,
        )
        return
    package = submission.package.require()
    release = submission.release.model
    artifact = release.artifact
    if (package.sha256, package.size) != (artifact.sha256, artifact.size):
        yield submission.release_finding(
            CONSISTENCY,
            "critical",
            f"the package is sha256 {package.sha256} ({package.size:,} bytes), the release "
            f"record says {artifact.sha256} ({artifact.size:,} bytes)",
            "submit the package the release record names, or publish a new release for it",
            "artifact",
            "sha256",
        )
    manifest = package.manifest
    pairs: list[tuple[str, str, object, object]] = [
        ("plugin", "name", release.plugin, manifest.name),
        ("version", "version", release.version, manifest.version),
        ("license", "license", release.license, manifest.license),
        ("compatibility", "compatibility", release.compatibility, manifest.compatibility),
    ]
    for field, manifest_field, recorded, packaged in pairs:
        if recorded != packaged:
            yield submission.release_finding(
                CONSISTENCY,
                "high",
                f"release.yaml's {field} is {_show(recorded)}, the package's plugin.yaml "
                f"says {manifest_field}: {_show(packaged)}",
                f"make them agree: fix plugin.yaml and pack again, or fix release.yaml's {field}",
                field,
            )


def _show(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in sorted(value.items())) or "(none)"
    return repr(value)


def check_newer(submission: Submission) -> Iterator[Finding]:
    """The version is newer than every listed version of the plugin (no duplicates)."""
    listed = records.listed_versions(submission.snapshot, submission.plugin)
    if not listed:
        return
    version = submission.version
    if version in listed:
        yield submission.release_finding(
            NEWER,
            "high",
            f"{submission.plugin}@{version} is already listed",
            "a listed version never changes: release a new version and submit that",
            "version",
        )
        return
    newest = listed[0]
    if Version.parse(version) <= Version.parse(newest):
        yield submission.release_finding(
            NEWER,
            "high",
            f"{version} is not newer than the listed {newest}",
            f"submit a version above {newest} (customers upgrade; they never go back)",
            "version",
        )


def _gates(submission: Submission) -> ReleaseGates:
    return ReleaseGates(
        submission.policies,
        submission.snapshot,
        submission.snapshot,
        submission.release,
        now=submission.now,
    )


def _from_gate(rule: str, severity: Severity, result: GateResult, remedy: str) -> Finding:
    return Finding(
        rule,
        severity,
        result.message or f"expected {result.expected}, found {result.found}",
        result.hint or remedy,
        file=result.file,
        line=result.line,
        path=result.evidence,
    )


def check_signature(submission: Submission) -> Iterator[Finding]:
    """The artifact's signature verifies under policies/signing.yaml and has not expired."""
    try:
        result = _gates(submission).signature()
    except InputError as missing:
        where = missing.location
        yield Finding(
            SIGNATURE,
            "critical",
            missing.message,
            missing.hint or "commit the signature bundle next to release.yaml",
            file=where.path if where else None,
            line=where.line if where else None,
        )
        return
    if result.status != "pass":
        expired = "expired" in result.message
        yield _from_gate(
            SIGNATURE,
            "critical",
            result,
            "sign the package again and resubmit"
            if expired
            else "sign the package with a key or identity policies/signing.yaml trusts",
        )


def check_licence(submission: Submission) -> Iterator[Finding]:
    """The release's licence is on policies/licenses.yaml's allow-list."""
    result = _gates(submission).licence()
    if result.status != "pass":
        yield _from_gate(
            LICENCE, "high", result, "release under an allowed licence (policies/licenses.yaml)"
        )


def check_security(submission: Submission) -> Iterator[Finding]:
    """A security scan (SARIF) is in the release's evidence, with nothing high or above."""
    release = submission.release
    scans = release.model.evidence.scans
    if not scans:
        yield submission.release_finding(
            SECURITY,
            "high",
            "the release has no security report",
            "run a scanner that writes SARIF (e.g. bandit -f sarif) and list the report under "
            "release.yaml's evidence.scans",
            "evidence",
        )
        return
    folder = layout.release_dir(submission.plugin, submission.version)
    for index, reference in enumerate(scans):
        manifest = release.locate("evidence", "scans", index)
        try:
            path = layout.evidence_path(folder, reference, manifest=manifest)
            raw = submission.snapshot.read(path, max_bytes=evidence.MAX_REPORT_BYTES)
            if raw is None:
                raise InputError(
                    f"the security report {path} does not exist",
                    hint="commit the report next to release.yaml, or fix the path",
                )
            report = evidence.parse_sarif(raw, path)
        except InputError as unreadable:
            yield Finding(
                SECURITY,
                "high",
                unreadable.message,
                unreadable.hint or "commit the scanner's SARIF output as it wrote it",
                file=manifest.path,
                line=manifest.line,
                path=f"evidence.scans[{index}]",
            )
            continue
        blocking = report.at_or_above(BLOCKING_SEVERITY)
        for found in blocking[:MAX_SCAN_FINDINGS]:
            yield Finding(
                SECURITY,
                "critical" if found.severity == "critical" else "high",
                f"{found.severity} {found.rule_id} at {found.location or '?'}: {found.message}",
                "fix the code and scan again; a false positive is suppressed in the scanner "
                "with a justification, never by editing the report",
                file=path,
                path=found.location or None,
            )
        if len(blocking) > MAX_SCAN_FINDINGS:
            yield Finding(
                SECURITY,
                "high",
                f"and {len(blocking) - MAX_SCAN_FINDINGS} more findings of severity high or above",
                "fix them all and scan again",
                file=path,
            )
