"""The gates of one release: evidence, licence, compatibility, dependencies, lock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar, cast

from pipeline import evidence, layout
from pipeline.errors import GateError, InputError
from pipeline.models.policy import PolicySet
from pipeline.models.release import Release
from pipeline.models.semver import VersionRange
from pipeline.policy.release_signature import verify_release_bundle
from pipeline.policy.results import GateResult, located
from pipeline.signing.bundle import MAX_BUNDLE_BYTES
from pipeline.signing.statement import check_release_names
from pipeline.signing.verify import Verification
from pipeline.snapshot import Loaded, Snapshot, blob_results

R = TypeVar("R")


class ReleaseGates:
    """Evaluates every gate of one release at `head`, against policies from the base."""

    def __init__(
        self,
        policies: PolicySet,
        base: Snapshot,
        head: Snapshot,
        loaded: Loaded[Release],
        *,
        now: datetime,
    ) -> None:
        self.policies = policies
        self.now = now
        self.base = base
        self.head = head
        self.loaded = loaded
        self.release = loaded.model
        self.subject = self.release.ref
        self.folder = layout.release_dir(self.release.plugin, self.release.version)

    def evaluate(self) -> list[GateResult]:
        """All gate results; evidence that cannot be read raises InputError."""
        return [
            *self.lock(),
            self.signature(),
            *self.coverage(),
            *self.tests(),
            *self.findings(),
            self.licence(),
            *self.compatibility(),
            *self.dependencies(),
        ]

    def _result(
        self, gate: str, passed: bool, *key_path: str | int, **fields: object
    ) -> GateResult:
        return GateResult(
            subject=self.subject,
            gate=gate,
            status="pass" if passed else "fail",
            **located(self.loaded.locate(*key_path)),
            **fields,
        )

    # -- the lock on released versions ---------------------------------------------

    def lock(self) -> list[GateResult]:
        """A version that exists on the base keeps its artifact and evidence, byte for byte."""
        before = self.base.release(self.release.plugin, self.release.version)
        if before is None or self.base.commit.id == self.head.commit.id:
            return []
        tag = layout.lock_tag(self.release.plugin, self.release.version)
        if tag in self.head.git.repo.references:
            base_id = self.base.git.folder_id(self.base.commit, self.folder)
            head_id = self.head.git.folder_id(self.head.commit, self.folder)
            unchanged = base_id is not None and base_id == head_id
            return [
                self._result(
                    "locked",
                    unchanged,
                    expected=f"nothing in {self.folder}/ changes (locked by {tag})",
                    found="unchanged" if unchanged else "changed",
                    message="" if unchanged else f"{self.subject} is locked by its approved plan",
                    hint=None if unchanged else "publish a new version",
                )
            ]
        changed: list[str] = []
        if _pinned(before.model) != _pinned(self.release):
            changed.append("artifact")
        if before.model.evidence != self.release.evidence:
            changed.append("evidence list")
        for path in self._evidence_paths(before.model):
            if self.base.blob_id(path) != self.head.blob_id(path):
                changed.append(path)
        return [
            self._result(
                "locked",
                not changed,
                "artifact" if "artifact" in changed else "evidence",
                expected="artifact and evidence unchanged since release",
                found="changed: " + ", ".join(changed) if changed else "unchanged",
                message=(
                    f"{self.subject} is released: its artifact and evidence are immutable"
                    if changed
                    else ""
                ),
                hint="publish a new version instead" if changed else None,
            )
        ]

    def _evidence_paths(self, release: Release) -> list[str]:
        refs = [*release.evidence.coverage, *release.evidence.tests, *release.evidence.scans]
        return [
            layout.evidence_path(self.folder, ref, manifest=self.loaded.locate("evidence"))
            for ref in refs
        ]

    # -- signature -----------------------------------------------------------------

    def signature(self, environment: str | None = None) -> GateResult:
        """The artifact carries a bundle that the signing policy (of `environment`) trusts."""
        gate = "signature" if environment is None else f"signature:{environment}"
        reference = self.release.artifact.signature
        if reference is None:
            return self._result(
                gate,
                False,
                "artifact",
                expected="a Sigstore bundle trusted by policies/signing.yaml",
                found="none",
                message=f"{self.subject} is not signed",
                hint="sign the artifact (px-plugin sign) and set artifact.signature",
            )
        where = self.loaded.locate("artifact", "signature")
        path = layout.evidence_path(self.folder, reference, manifest=where)
        found = self.head.git.read_blob(self.head.commit, path, max_bytes=MAX_BUNDLE_BYTES)
        if found is None:
            raise InputError(
                f"signature bundle {path} does not exist at {self.head.short_id}",
                location=where,
                hint="commit the .sigstore.json next to release.yaml, or fix the path",
            )
        expected = "a trusted signature" + (f" for {environment}" if environment else "")
        try:
            verification = self.verify(found, environment)
            check_release_names(verification.release, self.release.plugin, self.release.version)
        except GateError as refusal:
            return self._result(
                gate,
                False,
                "artifact",
                "signature",
                expected=expected,
                found="refused",
                message=refusal.message,
                evidence=path,
                hint=refusal.hint,
            )
        return self._result(
            gate,
            True,
            "artifact",
            "signature",
            expected=expected,
            found=f"{verification.mode}-signed by {verification.signer}",
            evidence=path,
        )

    def verify(self, found: tuple[str, bytes], environment: str | None) -> Verification:
        """The release's signature bundle `found` (blob id, bytes) verified at the gates'
        clock under the head's trust policy (cached: `verify_release_bundle`)."""
        return verify_release_bundle(
            self.head.git,
            self.release,
            found,
            self.policies.signing,
            now=self.now,
            environment=environment,
        )

    # -- evidence ------------------------------------------------------------------

    def _reports(
        self, field: str, references: list[str], parse: Callable[[bytes, str], R]
    ) -> list[tuple[str, int, R]]:
        reports = []
        for index, reference in enumerate(references):
            manifest = self.loaded.locate("evidence", field, index)
            path = layout.evidence_path(self.folder, reference, manifest=manifest)
            found = self.head.git.read_blob(
                self.head.commit, path, max_bytes=evidence.MAX_REPORT_BYTES
            )
            if found is None:
                raise InputError(
                    f"evidence file {path} does not exist at {self.head.short_id}",
                    location=manifest,
                    hint="commit the report next to release.yaml, or fix the path",
                )
            key = ("evidence", found[0], path, parse)
            cache = blob_results(self.head.git)
            if key not in cache:
                cache[key] = parse(found[1], path)  # a report that cannot be read raises
            reports.append((path, index, cast(R, cache[key])))
        return reports

    def _missing(self, gate: str, field: str, kind: str) -> list[GateResult]:
        required = self.policies.gates.require_evidence
        return [
            GateResult(
                subject=self.subject,
                gate=gate,
                status="fail" if required else "warn",
                expected=f"a {kind} report",
                found="none",
                message=f"no {kind} report listed under evidence.{field}",
                hint=f"add the path of a {kind} report to evidence.{field}",
                **located(self.loaded.locate("evidence")),
            )
        ]

    def coverage(self) -> list[GateResult]:
        """Every coverage report reaches the policy's minimum."""
        minimum = self.policies.gates.coverage.minimum
        reports = self._reports("coverage", self.release.evidence.coverage, evidence.parse_coverage)
        if not reports:
            return self._missing("coverage", "coverage", "coverage")
        return [
            self._result(
                "coverage",
                report.percent >= minimum,
                "evidence",
                "coverage",
                index,
                expected=f">= {minimum:g}%",
                found=f"{report.percent:.2f}% ({report.format})",
                evidence=path,
                message="" if report.percent >= minimum else "coverage below the minimum",
            )
            for path, index, report in reports
        ]

    def tests(self) -> list[GateResult]:
        """Every test report ran enough tests and reaches the minimum pass rate."""
        gate = self.policies.gates.tests
        reports = self._reports("tests", self.release.evidence.tests, evidence.parse_junit)
        if not reports:
            return self._missing("tests", "tests", "JUnit test")
        results = []
        for path, index, report in reports:
            rate = report.pass_rate
            passed = (
                rate is not None
                and rate >= gate.min_pass_rate
                and report.executed >= gate.min_tests
            )
            found = (
                f"{rate:.2f}% ({report.passed}/{report.executed} passed, {report.skipped} skipped)"
                if rate is not None
                else "no tests executed"
            )
            message = ""
            if not passed:
                message = (
                    "failing: " + ", ".join(report.failures) if report.failures else "too few tests"
                )
            results.append(
                self._result(
                    "tests",
                    passed,
                    "evidence",
                    "tests",
                    index,
                    expected=f">= {gate.min_pass_rate:g}% of >= {gate.min_tests} test(s)",
                    found=found,
                    evidence=path,
                    message=message,
                )
            )
        return results

    def findings(self) -> list[GateResult]:
        """No scanner finding at or above the policy's `failOn` severity."""
        fail_on = self.policies.gates.findings.fail_on
        reports = self._reports("scans", self.release.evidence.scans, evidence.parse_sarif)
        if not reports:
            return self._missing("findings", "scans", "SARIF scan")
        results = []
        for path, index, report in reports:
            blocking = report.at_or_above(fail_on)
            counts = _severity_counts(report.findings)
            results.append(
                self._result(
                    "findings",
                    not blocking,
                    "evidence",
                    "scans",
                    index,
                    expected=f"no finding of severity {fail_on} or above",
                    found=counts or "no findings",
                    evidence=path,
                    message="; ".join(
                        f"{f.severity} {f.rule_id} at {f.location or '?'}: {f.message}"
                        for f in blocking[:5]
                    ),
                )
            )
        return results

    # -- compliance ----------------------------------------------------------------

    def licence(self) -> GateResult:
        """Every licence id of the SPDX expression is on the allow-list."""
        allowed = self.policies.licenses.allowed
        ids = _licence_ids(self.release.license)
        refused = [item for item in ids if item not in allowed]
        return self._result(
            "licence",
            not refused,
            "license",
            expected="one of " + ", ".join(allowed),
            found=self.release.license,
            message=f"not on the allow-list: {', '.join(refused)}" if refused else "",
            hint="ask the compliance owners to extend policies/licenses.yaml" if refused else None,
        )

    def compatibility(self) -> list[GateResult]:
        """Every host range can be satisfied by some version."""
        results = []
        for host, text in self.release.compatibility.items():
            satisfiable = VersionRange.parse(text).is_satisfiable()
            results.append(
                self._result(
                    "compatibility",
                    satisfiable,
                    "compatibility",
                    host,
                    expected="a satisfiable range",
                    found=f"{host} {text}",
                    message="" if satisfiable else f"no version of {host} can satisfy {text!r}",
                )
            )
        return results

    def dependencies(self) -> list[GateResult]:
        """Every dependency has a released version in range."""
        results = []
        for plugin, text in self.release.dependencies.items():
            wanted = VersionRange.parse(text)
            available = self.head.versions(plugin)
            match = next((v for v in available if wanted.contains(v)), None)
            results.append(
                self._result(
                    "dependencies",
                    match is not None,
                    "dependencies",
                    plugin,
                    expected=f"{plugin} {text}",
                    found=f"{plugin}@{match}" if match else "no released version in range",
                    message=(
                        ""
                        if match
                        else f"released versions of {plugin}: "
                        + (", ".join(map(str, available[:5])) or "none")
                    ),
                )
            )
        return results


def _severity_counts(findings: tuple[evidence.Finding, ...]) -> str:
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.severity] = counts.get(finding.severity, 0) + 1
    order = ("critical", "high", "medium", "low", "none")
    return ", ".join(f"{counts[s]} {s}" for s in order if s in counts)


def _licence_ids(expression: str) -> list[str]:
    """The licence ids of an SPDX expression (exception ids after WITH are not licences)."""
    words = expression.replace("(", " ").replace(")", " ").split()
    return [
        word
        for index, word in enumerate(words)
        if word not in ("AND", "OR", "WITH") and (index == 0 or words[index - 1] != "WITH")
    ]


def _pinned(release: Release) -> tuple[str, str, int]:
    """What a released version pins for ever: the artifact's uri, digest and size."""
    return (release.artifact.uri, release.artifact.sha256, release.artifact.size)
