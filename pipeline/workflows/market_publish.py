"""`px-plugin publish [DIR]`: from a plugin folder to a release request and a listing request.

In order, each step only when the ones before it passed:

1. build and pack DIR (`px-plugin build` and `pack`'s own functions);
2. sign the package when asked (`px-plugin sign`'s function), else use the bundle beside it;
3. check the package as an upload is checked (signature, licence, compatibility) and run
   the Marketplace validator on it, DIR/listing.yaml and its release record as it will be
   committed, against the base branch (the rules the review will run): an enforced rule
   that fails stops here (exit 1) with each finding, its place and remedy; a rule that
   could not run does not;
4. open the release request (`powerx publish create`'s workflow: verify, store, commit
   release/<plugin>-<version>, push, pull request);
5. open the listing request: DIR/listing.yaml and DIR/listing/ (screenshots) onto
   releases/<plugin>/ on branch listing/<plugin>-<version>, pushed, with its pull request.

The vendor also sees where an earlier review of this version stands (its reasons).
After both requests are merged, `px-market submit PLUGIN@VERSION` starts the review.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import InputError
from pipeline.gitrepo import GitRepo, Trailers, compose_message
from pipeline.market import LISTING_FILE
from pipeline.market.findings import ValidationReport
from pipeline.market.records import load_review
from pipeline.market.status import SubmissionStatus, status_of
from pipeline.market.submit import Target, ValidateInput, Validator, validate_candidate
from pipeline.market.upload import (
    MAX_LISTING_FILE,
    OfflineUpload,
    candidate_files,
    check_upload,
    listing_files,
)
from pipeline.models.listing import Listing
from pipeline.models.load import parse_document
from pipeline.models.signing import GIT_COMMIT_PATTERN, ReleasePredicate
from pipeline.packaging import build_plugin, pack_plugin
from pipeline.promotion.branches import push_request_branch
from pipeline.promotion.publish import PublishRequest, PublishResult
from pipeline.signing.artifact import SignRequest, default_builder, sign_artifact
from pipeline.snapshot import Snapshot
from pipeline.store import cas_uri, writable_store_for
from pipeline.workflows.common import forge_factory
from pipeline.workflows.publish import PublishCommand
from pipeline.workflows.publish import publish as publish_release

if TYPE_CHECKING:  # the forge (and httpx) load only when a pull request is opened
    from pipeline.forge import GitHubClient


@dataclass(frozen=True)
class Signing:
    """`--sign`: with a key (and its passphrase) or keyless (an identity token)."""

    source_commit: str
    key: Path | None = None
    passphrase: bytes | None = None
    identity_token: str | None = None

    def __post_init__(self) -> None:
        """Refuse a source commit the signed predicate would refuse, before anything is built."""
        if re.fullmatch(GIT_COMMIT_PATTERN, self.source_commit) is None:
            raise InputError(
                f"--source-commit {self.source_commit!r} is not a full git commit id",
                hint="pass the 40-hex id of the commit the package was built from "
                "(git rev-parse HEAD)",
            )


@dataclass(frozen=True)
class MarketPublishCommand:
    """A plugin folder and where its requests go."""

    plugin_dir: Path
    repo: Path
    store: str
    now: datetime
    environ: Mapping[str, str]
    base: str = "main"
    remote: str | None = "origin"
    open_pull_request: bool = True
    github_repo: str | None = None
    operator: str | None = None
    contacts: tuple[tuple[str, str], ...] = ()
    evidence: tuple[tuple[str, Path], ...] = ()
    signing: Signing | None = None


@dataclass
class MarketPublishOutcome:
    """The package, the validator's report, both requests, and an earlier review if any."""

    package: Path
    report: ValidationReport
    release: PublishResult | None = None
    listing_branch: str | None = None
    listing_pull_request: str | None = None
    notes: list[str] = field(default_factory=list)
    earlier: SubmissionStatus | None = None

    @property
    def exit_code(self) -> int:
        """1 when an enforced rule fails (nothing was opened), else 0."""
        return 1 if self.report.verdict == "failed" else 0


def publish(command: MarketPublishCommand, validate: Validator) -> MarketPublishOutcome:
    """Build, pack, sign, validate, then open the release and listing requests."""
    forge = None
    if command.remote is not None and command.open_pull_request:
        forge = forge_factory(
            command.github_repo, "to open pull requests (or pass --no-pr)", command.environ
        )
    listing_file = command.plugin_dir / LISTING_FILE
    if not listing_file.is_file():
        raise InputError(
            f"{listing_file} is missing: the Marketplace listing of the plugin",
            hint="write it (docs/formats.md, Listing), with its screenshots in listing/",
        )
    listing = parse_document(listing_file.read_bytes(), str(listing_file), Listing)
    build_plugin(command.plugin_dir)
    packed = pack_plugin(command.plugin_dir, command.plugin_dir / "out")
    if command.signing is not None:
        _sign(packed.path, listing.plugin, command.signing)
    target = Target(GitRepo(command.repo), command.base, command.remote)
    snapshot = target.snapshot()
    store = writable_store_for(command.store)
    upload = OfflineUpload(
        packed.path,
        command.operator or "",
        command.now,
        listing=listing_file,
        evidence=command.evidence,
    )
    checked = check_upload(snapshot, upload)  # signature, licence, compatibility
    version = checked.version
    files = candidate_files(checked, cas_uri(checked.sha256), channel="online")
    given = ValidateInput(
        snapshot, listing.plugin, version, store, command.now, packed.path, listing_file
    )
    report = validate_candidate(target, snapshot, files, validate, given)
    outcome = MarketPublishOutcome(packed.path, report)
    earlier = load_review(snapshot, listing.plugin, version)
    if earlier is not None:
        sla = snapshot.policies().market.sla
        outcome.earlier = status_of(earlier.model, sla, command.now, report)
    if report.verdict == "failed":
        outcome.notes.append("nothing was opened: fix the findings above and publish again")
        return outcome
    contacts = command.contacts or (
        (listing.vendor.name, listing.vendor.email or listing.support.contact),
    )
    outcome.release = publish_release(
        PublishCommand(
            repo=command.repo,
            request=PublishRequest(
                artifact=packed.path,
                contacts=contacts,
                now=command.now,
                evidence=command.evidence,
                operator=command.operator,
            ),
            notes_file=None,
            store=command.store,
            base=command.base,
            remote=command.remote,
            open_pull_request=command.open_pull_request,
            github_repo=command.github_repo,
            environ=command.environ,
        )
    )
    _open_listing_request(command, target.git, snapshot, listing.plugin, version, outcome, forge)
    return outcome


def _sign(package: Path, plugin: str, signing: Signing) -> None:
    from pipeline.packaging.archive import read_package_manifest

    manifest = read_package_manifest(package)
    if manifest.name != plugin:
        raise InputError(f"plugin.yaml names {manifest.name}, listing.yaml names {plugin}")
    predicate = ReleasePredicate.model_validate(
        {
            "plugin": manifest.name,
            "version": manifest.version,
            "sourceCommit": signing.source_commit,
            "builder": default_builder(),
        }
    )
    sign_artifact(
        SignRequest(
            artifact=package,
            predicate=predicate,
            key=signing.key,
            passphrase=signing.passphrase,
            identity_token=signing.identity_token,
        )
    )


def _open_listing_request(
    command: MarketPublishCommand,
    git: GitRepo,
    validated: Snapshot,
    plugin: str,
    version: str,
    outcome: MarketPublishOutcome,
    forge: Callable[[], GitHubClient] | None,
) -> None:
    """The listing's request branch, on the base commit the listing was validated at."""
    base = validated.commit
    branch = f"listing/{plugin}-{version}"
    files = listing_files(command.plugin_dir / LISTING_FILE, plugin)
    if all(
        git.read(base, path, max_bytes=MAX_LISTING_FILE + 1) == raw for path, raw in files.items()
    ):
        outcome.notes.append(f"the listing of {plugin} is unchanged on {command.base}")
        return
    message = compose_message(
        f"Listing of {plugin} for {version}",
        "\n".join(f"file: {path}" for path in sorted(files)),
        Trailers(
            action="market-listing", plugin=plugin, version=version, operator=command.operator
        ),
    )
    commit = git.commit(f"refs/heads/{branch}", dict(files), message, parent=base)
    outcome.listing_branch = branch
    if command.remote is None:
        outcome.notes.append(f"listing committed locally on {branch}")
        return
    _, note = push_request_branch(git, command.remote, commit, branch)
    if note:
        outcome.notes.append(f"{branch}: {note}")
    if forge is not None:
        client = forge()
        pull, created = client.ensure_pull_request(
            branch,
            command.base,
            f"Listing of {plugin} {version}",
            f"The Marketplace listing of **{plugin}** for {version}.\n\n"
            f"Validated with ruleset `{outcome.report.ruleset}`: {outcome.report.verdict}.",
        )
        outcome.listing_pull_request = pull.html_url
        outcome.notes.append(f"listing pull request {'opened' if created else 'already open'}")
