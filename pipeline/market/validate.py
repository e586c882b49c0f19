"""The Marketplace validator: every rule on one plugin@version, the same locally and at review.

    report = validate_submission(ValidateRequest(snapshot, "hello-world", "1.1.0", now=now,
                                                 store=store_for("/srv/artifacts")))
    report.verdict            # passed | failed | errored
    report.ruleset            # which rules and which policies/market.yaml judged it

Each rule's mode comes from `policies/market.yaml` (`rules:`; a rule not named keeps its
default). An exception for (plugin, rule) that has not expired turns a failing or errored
rule into *excused*, with its reason shown; an expired one is ignored, and the report says
so. A rule that raises `RuleUnavailableError`, any other error, or runs past its time budget is
*errored*: never passed, never a rejection.

Inputs are bounded: the listing and evidence by the YAML and report limits, screenshots by
the policy's `maxBytes`, the package by `pipeline.packaging`'s safe reading (decompressed
size and entry count), the secret scan by its byte budget.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pipeline.errors import CombinedInputError, GateError, InputError, Location
from pipeline.market import listing_path, records
from pipeline.market.findings import Finding, Outcome, RuleResult, ValidationReport
from pipeline.market.rules import RULES, ListingInput, PackageInput, Rule, RuleUnavailableError
from pipeline.market.rules.base import Submission
from pipeline.market.rules.package import PERMISSIONS
from pipeline.models import validate_document
from pipeline.models.listing import Listing
from pipeline.models.market import MarketPolicy, RuleMode
from pipeline.models.policy import PolicySet
from pipeline.models.release import Release
from pipeline.models.semver import Version
from pipeline.names import did_you_mean, require_plugin, require_release
from pipeline.packaging import inspect_package
from pipeline.packaging.archive import read_package_manifest
from pipeline.snapshot import Loaded, Snapshot
from pipeline.store.base import ArtifactSource, cas_uri
from pipeline.yamlio import MAX_YAML_BYTES, YamlDocument, parse_yaml

RULESET_SCHEME = "market-rules/1"
DEFAULT_TIMEOUT = 30.0
"""Seconds one rule may run before it counts as errored."""
MAX_PACKAGE_BYTES = 512 * 1024 * 1024
"""Decompressed bytes of a package the validator reads (pipeline.packaging enforces it)."""


@dataclass(frozen=True)
class ValidateRequest:
    """What to validate, and where its pieces come from."""

    snapshot: Snapshot
    plugin: str
    version: str | None
    """None: the newest released version."""
    now: datetime
    store: ArtifactSource | None = None
    """Where the release's package is fetched from (verified against its digest)."""
    package: Path | None = None
    """A local .pxp to judge instead of the stored one (an offline or unpublished upload)."""
    listing: Path | None = None
    """A local listing.yaml instead of the repo's (screenshots relative to its folder)."""
    rules: tuple[Rule, ...] = RULES
    timeout: float = DEFAULT_TIMEOUT
    max_package_bytes: int = MAX_PACKAGE_BYTES


def ruleset_version(policy: MarketPolicy, rules: Iterable[Rule] = RULES) -> str:
    """`market-rules/1:<rules digest>:<policy digest>`: which rules judged, under which policy.

    The rules digest covers every rule's id and version; the policy digest covers the
    effective policies/market.yaml (defaults filled in), so a local run and the review run
    print the same id exactly when the same rules and policy judged.
    """
    keys = "\n".join(sorted(rule.key for rule in rules)).encode()
    effective = json.dumps(policy.model_dump(mode="json", by_alias=True), sort_keys=True)
    rules_digest = hashlib.sha256(keys).hexdigest()[:12]
    policy_digest = hashlib.sha256(effective.encode()).hexdigest()[:12]
    return f"{RULESET_SCHEME}:{rules_digest}:{policy_digest}"


def validate_submission(request: ValidateRequest) -> ValidationReport:
    """Run every rule on plugin@version; InputError when there is no such release."""
    snapshot = request.snapshot
    policies = snapshot.policies()
    version = request.version or _newest(snapshot, request.plugin)
    release = require_release(snapshot, request.plugin, version)
    modes = {
        rule.id: policies.market.rules.get(rule.id, rule.default_mode) for rule in request.rules
    }
    wanted = [rule for rule in request.rules if modes[rule.id] != "off"]
    with tempfile.TemporaryDirectory(prefix="px-market-validate-") as scratch:
        submission = _submission(request, policies, release, version, Path(scratch), wanted)
        results = tuple(
            _judge(rule, modes[rule.id], submission, policies.market, request)
            for rule in request.rules
        )
    widened = tuple(
        f.path or "" for result in results if result.rule == PERMISSIONS for f in result.findings
    )
    return ValidationReport(
        plugin=request.plugin,
        version=version,
        ruleset=ruleset_version(policies.market, request.rules),
        results=results,
        permissions_widened=widened,
        notes=_notes(policies.market, request),
    )


def _newest(snapshot: Snapshot, plugin: str) -> str:
    require_plugin(snapshot, plugin)
    versions = snapshot.versions(plugin)
    if not versions:
        raise InputError(
            f"{plugin} has no released version",
            hint=f"publish one first (powerx publish create), then validate {plugin}@VERSION",
        )
    return str(versions[0])


# -- gathering the submission --------------------------------------------------------


def _submission(
    request: ValidateRequest,
    policies: PolicySet,
    release: Loaded[Release],
    version: str,
    scratch: Path,
    wanted: list[Rule],
) -> Submission:
    snapshot, plugin = request.snapshot, request.plugin
    listing = _listing_input(request)
    doc, model, errors = _parse_listing(listing)
    previous = _previous_version(snapshot, plugin, version)
    package = PackageInput(missing="no rule needs the package")
    if any(rule.needs_package for rule in wanted):
        package = _package(request, release.model, scratch / "package.pxp", local=request.package)
    before = PackageInput(missing="no listed version before this one")
    if previous is not None and any(rule.needs_previous for rule in wanted):
        loaded = snapshot.release(plugin, previous)
        if loaded is None:
            before = PackageInput(missing=f"the listed {plugin}@{previous} has no release record")
        else:
            before = _listed_package(request, loaded.model, scratch / "previous.pxp")
    return Submission(
        snapshot=snapshot,
        policies=policies,
        plugin=plugin,
        version=version,
        now=request.now,
        release=release,
        listing=listing,
        listing_doc=doc,
        listing_model=model,
        listing_errors=errors,
        package=package,
        previous_version=previous,
        previous_package=before,
    )


def _previous_version(snapshot: Snapshot, plugin: str, version: str) -> str | None:
    current = Version.parse(version)
    older = [v for v in records.listed_versions(snapshot, plugin) if Version.parse(v) < current]
    return older[0] if older else None


def _listing_input(request: ValidateRequest) -> ListingInput:
    if request.listing is None:
        snapshot, plugin = request.snapshot, request.plugin
        path = listing_path(plugin)
        folder = path.rsplit("/", 1)[0]

        def read_repo(name: str, limit: int) -> bytes | None:
            return snapshot.read(_inside(folder, name, path), max_bytes=limit)

        return ListingInput(path, snapshot.read(path), read_repo)
    local = request.listing
    return ListingInput(str(local), _read_local(local, MAX_YAML_BYTES), _local_reader(local))


def _inside(folder: str, name: str, listing: str) -> str:
    """`folder/name`, refusing absolute paths and any that leave the folder."""
    parts = name.replace("\\", "/").split("/")
    if name.startswith("/") or "\\" in name or ".." in parts or "" in parts:
        raise InputError(
            f"{name!r} is not a plain path inside the listing's folder",
            location=Location(listing),
            hint="give screenshots relative to releases/<plugin>/, e.g. listing/main.png",
        )
    return f"{folder}/{name}"


def _local_reader(listing: Path) -> Callable[[str, int], bytes | None]:
    """Reads screenshots beside a local listing file, never outside its folder."""
    folder = listing.absolute().parent.resolve()

    def read_local(name: str, limit: int) -> bytes | None:
        _inside(".", name, str(listing))
        target = (folder / name).resolve()
        if not target.is_relative_to(folder):
            raise InputError(
                f"{name!r} leads outside the listing's folder (a symbolic link?)",
                location=Location(str(listing)),
                hint="copy the screenshot into the listing's folder",
            )
        return _read_local(target, limit)

    return read_local


def _read_local(path: Path, limit: int) -> bytes | None:
    """A local file's bytes, None if absent; InputError when over `limit` or unreadable."""
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from None
    if len(data) > limit:
        raise InputError(f"file is over the limit of {limit:,} bytes", location=Location(str(path)))
    return data


def _parse_listing(
    listing: ListingInput,
) -> tuple[YamlDocument | None, Listing | None, tuple[InputError, ...]]:
    if listing.raw is None:
        return None, None, ()
    try:
        doc = parse_yaml(listing.raw, listing.file)
    except InputError as error:
        return None, None, (error,)
    try:
        return doc, validate_document(doc, Listing), ()
    except CombinedInputError as errors:
        return doc, None, tuple(errors.errors)
    except InputError as error:
        return doc, None, (error,)


def _package(
    request: ValidateRequest, release: Release, dest: Path, *, local: Path | None
) -> PackageInput:
    """The release's package, verified by pipeline.packaging (or why there is none)."""
    source = local if local is not None else _fetch(request, release, dest)
    if isinstance(source, PackageInput):
        return source
    try:
        info = inspect_package(source, max_bytes=request.max_package_bytes)
    except InputError as refused:
        return PackageInput(error=refused)
    return PackageInput(info=info, manifest=info.manifest)


def _listed_package(request: ValidateRequest, release: Release, dest: Path) -> PackageInput:
    """The plugin.yaml of a listed version's package: verified by digest when fetched, and
    by its own review back then, so only the head of the stream is read."""
    source = _fetch(request, release, dest)
    if isinstance(source, PackageInput):
        return source
    try:
        return PackageInput(manifest=read_package_manifest(source))
    except InputError as refused:
        return PackageInput(missing=f"the package of {release.ref}: {refused.message}")


def _fetch(request: ValidateRequest, release: Release, dest: Path) -> Path | PackageInput:
    """The release's package fetched from the store (digest and size verified) to `dest`."""
    artifact = release.artifact
    if request.store is None:
        return PackageInput(
            missing=f"no package of {release.ref} to look at: pass --store (the artifact "
            "store) or --artifact FILE.pxp"
        )
    try:
        request.store.fetch(cas_uri(artifact.sha256), artifact.sha256, artifact.size, dest)
    except (InputError, GateError) as unavailable:
        return PackageInput(missing=f"the package of {release.ref}: {unavailable.message}")
    return dest


# -- judging ---------------------------------------------------------------------------


def _judge(
    rule: Rule,
    mode: RuleMode,
    submission: Submission,
    policy: MarketPolicy,
    request: ValidateRequest,
) -> RuleResult:
    if mode == "off":
        return RuleResult(rule.id, rule.title, mode, "skipped")
    started = time.perf_counter()
    findings, error = _run(rule, submission, request.timeout)
    seconds = time.perf_counter() - started
    outcome: Outcome = "errored" if error is not None else ("failed" if findings else "passed")
    if outcome != "passed":
        excuse = _exception(policy, submission.plugin, rule.id, request.now)
        if excuse is not None:
            return RuleResult(
                rule.id, rule.title, mode, "excused", findings, error, excuse, seconds
            )
    return RuleResult(rule.id, rule.title, mode, outcome, findings, error, None, seconds)


def _run(
    rule: Rule, submission: Submission, timeout: float
) -> tuple[tuple[Finding, ...], str | None]:
    """The rule's findings, or why it could not run; in a thread, so it can time out."""
    box: dict[str, object] = {}

    def work() -> None:
        try:
            box["findings"] = tuple(rule.check(submission))
        except RuleUnavailableError as unavailable:
            box["error"] = str(unavailable)
        except Exception as bug:  # a rule's own failure must not pass or fail a submission
            box["error"] = (
                f"the rule failed unexpectedly ({type(bug).__name__}: {bug}); "
                "this is a bug in the validator, please report it"
            )

    thread = threading.Thread(target=work, name=f"rule {rule.id}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return (), f"timed out after {timeout:g} s"
    if "error" in box:
        return (), str(box["error"])
    return box["findings"], None  # type: ignore[return-value]


def _exception(policy: MarketPolicy, plugin: str, rule: str, now: datetime) -> str | None:
    """The reason of a current exception for (plugin, rule), None if there is none."""
    for item in policy.exceptions:
        if item.plugin == plugin and item.rule == rule and now.date() < item.expires:
            return f"{item.reason} (approved by {item.approved_by}, until {item.expires})"
    return None


def _notes(policy: MarketPolicy, request: ValidateRequest) -> tuple[str, ...]:
    known = {rule.id for rule in request.rules}
    notes = []
    for item in policy.exceptions:
        if item.plugin == request.plugin and request.now.date() >= item.expires:
            notes.append(
                f"the exception from {item.rule} for {item.plugin} expired on {item.expires} "
                f"and was ignored ({item.reason})"
            )
    for name in [*policy.rules, *(e.rule for e in policy.exceptions)]:
        if name not in known:
            guess = did_you_mean(name, known)
            notes.append(
                f"policies/market.yaml names an unknown rule {name!r}"
                + (f": did you mean {guess!r}?" if guess else "")
            )
    return tuple(dict.fromkeys(notes))
