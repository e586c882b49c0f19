"""Building catalog pages: one plugin's approved versions, listing and release records.

A page is rebuilt only when its sources changed: the tree ids of the plugin's folders
(releases/<plugin>/ with the listing, release records and bundles; market/reviews/<plugin>/),
the trust policy and the catalog format, hashed together as the page's `sourceDigest`
(kept in the index too, so an unchanged plugin costs two tree lookups and a hash, no parse).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pipeline import layout
from pipeline.errors import GateError, InputError, Location
from pipeline.market import CATALOG_DIR, REVIEWS_DIR, listing_path
from pipeline.market.catalog_hosts import covers
from pipeline.market.catalog_read import read_listing, read_release
from pipeline.market.catalog_signers import SignerMemo, signer_key
from pipeline.market.records import reviews
from pipeline.models.base import API_VERSION
from pipeline.models.catalog import (
    Availability,
    CatalogPage,
    CatalogVersion,
    IndexEntry,
    IndexVersion,
    ReleaseLink,
    Signer,
    UpgradeStep,
)
from pipeline.models.listing import Listing
from pipeline.models.market import Review
from pipeline.models.policy import PolicySet
from pipeline.models.release import Release
from pipeline.models.semver import Version, VersionRange
from pipeline.policy.release_signature import verify_release_bundle
from pipeline.signing.bundle import MAX_BUNDLE_BYTES
from pipeline.signing.statement import check_release_names
from pipeline.snapshot import Snapshot

CATALOG_FORMAT = "1"
"""Bump when a page's content changes for the same sources: every page is rebuilt."""
INDEX_PATH = f"{CATALOG_DIR}/index.json"
PAGES_DIR = f"{CATALOG_DIR}/plugins"
HOST = "powerx"
"""The host whose range the catalog filters and plans upgrades by."""
VERIFIED_TAG = "verified-vendor"


def page_path(plugin: str) -> str:
    """`catalog/plugins/<plugin>.json`."""
    return f"{PAGES_DIR}/{plugin}.json"


@dataclass
class Build:
    """What building the catalog at one revision gave."""

    entries: dict[str, IndexEntry] = field(default_factory=dict)
    """Every listed plugin's index entry (reused ones included)."""
    pages: dict[str, CatalogPage] = field(default_factory=dict)
    """The pages that were rebuilt (the others are as they were)."""
    problems: list[str] = field(default_factory=list)
    """Plugins whose files could not be read: each keeps its previous entry and page."""


def source_digest(snapshot: Snapshot, plugin: str, trust: str) -> str:
    """The hash of everything a plugin's page is built from: its folders' tree ids
    (releases/<plugin>/: listing, release records, bundles; market/reviews/<plugin>/), the
    trust policy and the catalog format. Two tree lookups: no file is read."""
    parts = [
        CATALOG_FORMAT,
        trust,
        snapshot.git.folder_id(snapshot.commit, f"{layout.RELEASES}/{plugin}") or "-",
        snapshot.git.folder_id(snapshot.commit, f"{REVIEWS_DIR}/{plugin}") or "-",
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def trust_digest(policies: PolicySet) -> str:
    """The trust policy, as a page's sources name it (a new trusted key rebuilds pages)."""
    return hashlib.sha256(policies.signing.model_dump_json().encode()).hexdigest()


def build_pages(
    snapshot: Snapshot,
    plugins: list[str],
    previous: Mapping[str, IndexEntry],
    *,
    now: datetime,
    old_page: Callable[[str], CatalogPage | None] = lambda plugin: None,
    memo: SignerMemo | None = None,
) -> Build:
    """Entries (and the rebuilt pages) of `plugins` at `snapshot`; `previous` are the old
    index's entries, reused when their sources are unchanged (and kept when a plugin's files
    cannot be read). `old_page` gives a plugin's previous page (a version whose record is
    the same keeps its release link's commit)."""
    policies = snapshot.policies()
    trust = trust_digest(policies)
    if memo is not None:
        memo.trust = trust
    build = Build()
    for plugin in plugins:
        digest = source_digest(snapshot, plugin, trust)
        before = previous.get(plugin)
        if before is not None and before.source_digest == digest:
            build.entries[plugin] = before
            continue
        try:
            approved = listed_reviews(snapshot, plugin)
            if not approved:
                continue
            earlier = old_page(plugin)
            page = build_page(snapshot, policies, plugin, approved, digest, now, earlier, memo)
        except InputError as error:
            build.problems.append(f"{plugin}: {error.diagnostics()}")
            if plugin in previous:
                build.entries[plugin] = previous[plugin]
            continue
        build.pages[plugin] = page
        build.entries[plugin] = index_entry(page)
    return build


def listed_reviews(snapshot: Snapshot, plugin: str) -> dict[str, Review]:
    """The approved (listed) versions' review records, newest first: the versions
    `records.listed_versions` names, each review read once."""
    return {
        version: review
        for version, review in reviews(snapshot, plugin).items()
        if review.state == "approved"
    }


def build_page(
    snapshot: Snapshot,
    policies: PolicySet,
    plugin: str,
    approved: dict[str, Review],
    digest: str,
    now: datetime,
    earlier: CatalogPage | None,
    memo: SignerMemo | None = None,
) -> CatalogPage:
    """One plugin's page; InputError when a file it needs is missing or invalid."""
    listing = read_listing(snapshot, plugin)
    if listing is None:
        raise InputError(
            f"{plugin} has approved versions but no {listing_path(plugin)}",
            hint="commit the listing (px-market validate checks it) and sync again",
        )
    links = {v.version: v.release for v in earlier.versions} if earlier else {}
    rows = [
        version_entry(snapshot, policies, listing, (version, review), now, links.get(version), memo)
        for version, review in approved.items()
    ]
    rows = with_upgrades(rows)
    pricing = listing.pricing
    return CatalogPage.model_validate(
        {
            "apiVersion": API_VERSION,
            "kind": "CatalogPage",
            "plugin": plugin,
            "title": listing.title,
            "summary": listing.summary,
            "description": listing.description,
            "highlights": listing.highlights,
            "categories": listing.categories,
            "tags": listing.tags,
            "vendor": listing.vendor,
            "support": listing.support,
            "documentation": listing.documentation,
            "screenshots": listing.screenshots,
            "visibility": listing.visibility,
            "promotion": listing.promotion,
            "availability": Availability(
                model=pricing.model,
                trial_days=pricing.trial_days,
                trial=pricing.trial_days > 0,
                purchase=bool(pricing.plans),
                plans=pricing.plans,
            ),
            "deprecation": listing.deprecated,
            "verified": rows[0].signer.verified and VERIFIED_TAG in listing.promotion,
            "versions": rows,
            "sourceDigest": digest,
        }
    )


def version_entry(
    snapshot: Snapshot,
    policies: PolicySet,
    listing: Listing,
    approved: tuple[str, Review],
    now: datetime,
    link: ReleaseLink | None,
    memo: SignerMemo | None = None,
) -> CatalogVersion:
    """One listed version (with its review record): its release record, signer, approval
    and deprecation."""
    plugin = listing.plugin
    version, review = approved
    release = read_release(snapshot, plugin, version)
    if release is None:
        raise InputError(
            f"{plugin}@{version} is approved but {layout.release_path(plugin, version)} is missing",
            hint="publish the release record (powerx publish) before it is listed",
        )
    path = layout.release_path(plugin, version)
    blob = snapshot.git.file_id(snapshot.commit, path) or snapshot.blob_id(path) or ""
    if link is None or link.blob != blob:
        link = ReleaseLink(path=path, commit=snapshot.commit.id, blob=blob)
    approval = review.history[-1]
    return CatalogVersion.model_validate(
        {
            "version": version,
            "compatibility": dict(release.compatibility),
            "release": link,
            "artifactSha256": release.artifact.sha256,
            "size": release.artifact.size,
            "signer": signer(snapshot, policies, release, now, memo),
            "license": release.license,
            "approvedAt": approval.at.isoformat(),
            "approvedBy": approval.by,
            "permissionsWidened": review.permissions_widened,
            "deprecated": is_deprecated(listing, version),
        }
    )


def signer(
    snapshot: Snapshot,
    policies: PolicySet,
    release: Release,
    now: datetime,
    memo: SignerMemo | None = None,
) -> Signer:
    """Who signed the release's artifact, verified by `pipeline.signing` under the trust
    policy (and naming this plugin@version); an unverified one says why. With `memo`, a
    verification remembered from an earlier sync stands (`catalog_signers`)."""
    reference = release.artifact.signature
    if reference is None:
        return Signer(verified=False, refusal=f"{release.ref} names no signature bundle")
    folder = layout.release_dir(release.plugin, release.version)
    try:
        manifest = Location(layout.release_path(release.plugin, release.version))
        path = layout.evidence_path(folder, reference, manifest=manifest)
    except InputError as error:
        return Signer(verified=False, refusal=error.message)
    if memo is not None and memo.known:  # a first sync remembers nothing yet
        bundle_blob = snapshot.git.file_id(snapshot.commit, path)
        row = memo.recall(_memo_key(bundle_blob, release, memo), now)
        if row is not None:
            return Signer(verified=True, mode=row[0], identity=row[1], issuer=row[2], bundle=path)
    found = snapshot.git.read_blob(snapshot.commit, path, max_bytes=MAX_BUNDLE_BYTES)
    if found is None:
        return Signer(verified=False, bundle=path, refusal=f"{path} is not in the repo")
    try:
        verified = verify_release_bundle(
            snapshot.git, release, found, policies.signing, now=now, source=path
        )
        check_release_names(verified.release, release.plugin, release.version)
    except (GateError, InputError) as refusal:
        return Signer(verified=False, bundle=path, refusal=refusal.message)
    if memo is not None:
        memo.remember(_memo_key(found[0], release, memo), verified, policies.signing)
    return Signer(
        verified=True,
        mode=verified.mode,
        identity=verified.signer,
        issuer=verified.issuer,
        bundle=path,
    )


def _memo_key(bundle_blob: str | None, release: Release, memo: SignerMemo) -> str:
    return signer_key(bundle_blob or "-", release.artifact.sha256, release.ref, memo.trust)


def is_deprecated(listing: Listing, version: str) -> bool:
    """Whether the listing's deprecation covers `version`."""
    deprecation = listing.deprecated
    if deprecation is None:
        return False
    if deprecation.versions.strip() == "*":
        return True
    try:
        return VersionRange.parse(deprecation.versions).contains(Version.parse(version))
    except ValueError as error:
        raise InputError(
            f"{listing_path(listing.plugin)}: deprecated.versions: {error}",
            hint="give a version range such as '<2' or '*'",
        ) from None


def with_upgrades(rows: list[CatalogVersion]) -> list[CatalogVersion]:
    """Each version (newest first) with its upgrade path to the newest: the newest of its
    own major, then the newest of each later major; a hop whose host range leaves out some
    hosts of the version before says so (those hosts keep the earlier version)."""
    by_version = {Version.parse(row.version): row for row in rows}
    newest_of_major: dict[int, Version] = {}
    for version in sorted(by_version):
        newest_of_major[version.major] = version
    result = []
    for version, row in sorted(by_version.items(), reverse=True):
        hops = [newest_of_major[version.major]] if newest_of_major[version.major] > version else []
        hops += [newest_of_major[m] for m in sorted(newest_of_major) if m > version.major]
        steps, before = [], row
        for hop in hops:
            target = by_version[hop]
            requires = target.compatibility.get(HOST)
            host_upgrade = not covers(requires, before.compatibility.get(HOST))
            steps.append(
                UpgradeStep(to=target.version, requires=requires, host_upgrade=host_upgrade)
            )
            before = target
        result.append(row.model_copy(update={"upgrade": steps}))
    return result


def index_entry(page: CatalogPage) -> IndexEntry:
    """The index's view of a page."""
    return IndexEntry.model_validate(
        {
            "plugin": page.plugin,
            "title": page.title,
            "summary": page.summary,
            "categories": page.categories,
            "tags": page.tags,
            "vendor": page.vendor.name,
            "pricing": page.availability.model,
            "trial": page.availability.trial,
            "visibility": page.visibility.scope,
            "tenants": page.visibility.tenants,
            "promotion": page.promotion,
            "verified": page.verified,
            "deprecated": all(v.deprecated for v in page.versions),
            "latest": page.versions[0].version,
            "versions": [
                IndexVersion(
                    version=v.version, powerx=v.compatibility.get(HOST), deprecated=v.deprecated
                )
                for v in page.versions
            ],
            "page": page_path(page.plugin),
            "sourceDigest": page.source_digest,
        }
    )
