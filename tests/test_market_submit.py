"""Submissions: online (a released version) and offline (an uploaded, verified .pxp).

Real packages built and packed from examples/hello-world, real signatures, a real
content-addressed store, real git; the validator's report is a real `ValidationReport`.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import PROJECT, REPORTS, Repo
from factories import API, PASSPHRASE, load_yaml, session_key, yaml_text
from test_market_review_support import REVIEWER, VENDOR, market_repo
from test_market_validate import png

from pipeline.errors import GateError, InputError
from pipeline.gitrepo import GitRepo, read_trailers
from pipeline.market.findings import ValidationReport
from pipeline.market.review import Transitioned, TransitionRequest, transition
from pipeline.market.submit import (
    Target,
    run_validator,
    submit_offline,
    submit_online,
)
from pipeline.market.upload import OfflineUpload
from pipeline.market.upload_log import UploadAttempt, read_uploads, record_upload, upload_line
from pipeline.models.signing import ReleasePredicate
from pipeline.packaging import build_plugin, pack_plugin
from pipeline.signing.keys import generate_keypair, load_private_key
from pipeline.signing.sign import sign_with_key
from pipeline.store import ContentAddressedDirectory

NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
PASSING = REPORTS / "passing"
PLUGIN = "hello-world"


def listing_data(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "apiVersion": API,
        "kind": "Listing",
        "plugin": PLUGIN,
        "title": "Hello World",
        "summary": "Greets every tenant by its name, politely and at once.",
        "description": "A friendly plugin. " * 6,
        "highlights": ["Greets tenants"],
        "categories": ["productivity"],
        "pricing": {"model": "free"},
        "screenshots": [{"file": "listing/main.png", "caption": "The greeting"}],
        "support": {
            "contact": "help@vendor.example",
            "responseTime": "2 business days",
            "url": "https://vendor.example/help",
        },
        "documentation": "https://vendor.example/docs",
        "vendor": {"name": "Vendor Ltd", "email": "sales@vendor.example"},
    }
    data.update(overrides)
    return data


def write_release_notes(folder: Path, version: str) -> None:
    """Real release notes and changelog in a plugin folder, named by its plugin.yaml."""
    (folder / "NOTES.md").write_text(f"# {version}\n\nGreetings for every tenant, by name.\n")
    (folder / "CHANGELOG.md").write_text(f"## {version}\n\n- PX-123: localised greetings\n")
    manifest = folder / "plugin.yaml"
    text = manifest.read_text().rstrip("\n")
    manifest.write_text(text + "\nnotes: NOTES.md\nchangelog: CHANGELOG.md\n")


def make_package(
    tmp_path: Path,
    version: str = "1.1.0",
    *,
    sign: str | None = "test",
    not_after: str | None = None,
    **manifest: str,
) -> Path:
    """hello-world packed at `version` (plugin.yaml edited), signed by the test key."""
    folder = tmp_path / f"src-{version}-{len(manifest)}-{sign}"
    shutil.copytree(
        PROJECT / "examples" / PLUGIN,
        folder,
        ignore=shutil.ignore_patterns("build", "dist", "*.pxp"),
    )
    text = (folder / "plugin.yaml").read_text().replace("version: 1.1.0", f"version: {version}")
    for key, value in manifest.items():
        kept, skipping = [], False
        for line in text.splitlines():
            if line.startswith(f"{key}:"):
                kept.append(f"{key}: {value}")
                skipping = True
            elif not (skipping and line.startswith("  ")):
                kept.append(line)
                skipping = False
        text = "\n".join(kept)
    (folder / "plugin.yaml").write_text(text)
    write_release_notes(folder, version)
    build_plugin(folder)
    packed = pack_plugin(folder, folder / "out")
    if sign is not None:
        window: dict[str, str] = {"notAfter": not_after} if not_after else {}
        predicate = ReleasePredicate.model_validate(
            {
                "plugin": PLUGIN,
                "version": version,
                "sourceCommit": "a" * 40,
                "builder": "tests",
                **window,
            }
        )
        signer = (
            session_key()[0]
            if sign == "test"
            else load_private_key(generate_keypair(PASSPHRASE)[0], PASSPHRASE)
        )
        bundle = sign_with_key(packed.sha256, packed.path.name, predicate, signer)
        packed.path.with_name(packed.path.name + ".sigstore.json").write_bytes(bundle)
    return packed.path


@pytest.fixture
def repo(release_repo: Repo) -> Repo:
    return market_repo(release_repo)


@pytest.fixture
def listing_file(tmp_path: Path) -> Path:
    path = tmp_path / "upload" / "listing.yaml"
    (path.parent / "listing").mkdir(parents=True)
    path.write_text(yaml_text(listing_data()))
    (path.parent / "listing" / "main.png").write_bytes(png())
    return path


def offline(
    repo: Repo,
    tmp_path: Path,
    package: Path,
    listing: Path | None,
    evidence: tuple[tuple[str, Path], ...] = (),
) -> tuple[Transitioned, ValidationReport, list[str]]:
    return submit_offline(
        Target(GitRepo(repo.path)),
        OfflineUpload(package, VENDOR, NOW, listing=listing, evidence=evidence),
        store=ContentAddressedDirectory(tmp_path / "store"),
        validate=run_validator,
        log=tmp_path / "uploads.jsonl",
    )


def test_an_offline_upload_is_verified_stored_and_recorded_in_one_commit(
    repo: Repo, tmp_path: Path, listing_file: Path
) -> None:
    package = make_package(tmp_path)
    before = repo.head()
    scans = ("scans", PASSING / "bandit.sarif")
    done, _, warnings = offline(repo, tmp_path, package, listing_file, (scans,))
    assert warnings == []
    assert done.state == "submitted"
    assert repo.git("rev-parse", "main~1") == before
    files = sorted(repo.git("show", "--name-only", "--format=", "main").split())
    assert files == [
        f"market/reviews/{PLUGIN}/1.1.0.yaml",
        f"releases/{PLUGIN}/1.1.0/evidence/bandit.sarif",
        f"releases/{PLUGIN}/1.1.0/{PLUGIN}-1.1.0.pxp.sigstore.json",
        f"releases/{PLUGIN}/1.1.0/release.yaml",
        f"releases/{PLUGIN}/listing.yaml",
        f"releases/{PLUGIN}/listing/main.png",
    ]
    release = load_yaml(repo.git("show", f"main:releases/{PLUGIN}/1.1.0/release.yaml"))
    assert release["artifact"]["uri"].startswith("cas:sha256:")
    assert release["channels"] == ["offline"] and release["license"] == "Apache-2.0"
    assert release["evidence"] == {"scans": ["evidence/bandit.sarif"]}
    assert repo.git("for-each-ref", "refs/powerx") == ""  # the candidate commit is gone
    assert release["contacts"] == [{"name": "Vendor Ltd", "email": "sales@vendor.example"}]
    review = load_yaml(repo.git("show", f"main:market/reviews/{PLUGIN}/1.1.0.yaml"))
    assert review["channel"] == "offline" and review["listingSha256"]
    trailers = read_trailers(repo.git("log", "-1", "--format=%B", "main"))
    assert trailers["Action"] == "market-submit" and trailers["Operator"] == VENDOR
    assert "signed by" in trailers["Review-Source"]
    assert any(p.is_file() for p in (tmp_path / "store").rglob("*"))
    [line] = read_uploads(tmp_path / "uploads.jsonl")
    assert (line.outcome, line.plugin, line.version, line.by) == (
        "accepted",
        PLUGIN,
        "1.1.0",
        VENDOR,
    )
    assert line.commit == repo.head()


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unsigned", "is unsigned: no signature bundle"),
        ("wrong-signer", "not trusted"),
        ("expired", "signature has expired"),
        ("incompatible", "compatibility"),
        ("licence", "licence: GPL-3.0-only: not on the allow-list"),
    ],
)
def test_a_refused_upload_writes_nothing_but_its_audit_line(
    repo: Repo, tmp_path: Path, listing_file: Path, case: str, message: str
) -> None:
    package = {
        "unsigned": lambda: make_package(tmp_path, sign=None),
        "wrong-signer": lambda: make_package(tmp_path, sign="stranger"),
        "expired": lambda: make_package(tmp_path, not_after="2026-01-01T00:00:00Z"),
        "incompatible": lambda: make_package(tmp_path, compatibility="{powerx: '>=3,<2'}"),
        "licence": lambda: make_package(tmp_path, license="GPL-3.0-only"),
    }[case]()
    before = repo.head()
    with pytest.raises(GateError) as refused:
        offline(repo, tmp_path, package, listing_file)
    assert message in refused.value.message
    assert refused.value.exit_code == 1
    assert repo.head() == before
    assert not (tmp_path / "store").exists() or not any(
        p.is_file() for p in (tmp_path / "store").rglob("*")
    )
    [line] = read_uploads(tmp_path / "uploads.jsonl")
    assert line.outcome == "refused" and message in line.reason
    assert line.file == str(package)


def test_an_offline_upload_needs_a_listing_somewhere_and_known_evidence(
    repo: Repo, tmp_path: Path, listing_file: Path
) -> None:
    package = make_package(tmp_path)
    with pytest.raises(InputError, match="has no listing in the repo"):
        offline(repo, tmp_path, package, None)
    assert read_uploads(tmp_path / "uploads.jsonl")[0].outcome == "refused"
    with pytest.raises(InputError, match="unknown evidence kind 'sbom'"):
        offline(repo, tmp_path, package, listing_file, (("sbom", listing_file),))
    with pytest.raises(InputError, match="cannot read evidence"):
        offline(repo, tmp_path, package, listing_file, (("scans", tmp_path / "none"),))


def test_an_offline_upload_may_not_replace_another_released_artifact(
    repo: Repo, tmp_path: Path, listing_file: Path
) -> None:
    first = make_package(tmp_path)
    offline(repo, tmp_path, first, listing_file)
    git = GitRepo(repo.path)
    transition(git, TransitionRequest("start", PLUGIN, "1.1.0", REVIEWER, NOW))
    transition(
        git,
        TransitionRequest(
            "reject", PLUGIN, "1.1.0", REVIEWER, NOW, reason="Not for us", category="policy"
        ),
    )
    other = make_package(tmp_path / "b", description="Another build of the same version.")
    with pytest.raises(InputError, match="already released with another artifact"):
        offline(repo, tmp_path, other, listing_file)


def test_an_online_submission_needs_its_release_and_artifact_and_notes_widened_permissions(
    repo: Repo, tmp_path: Path, listing_file: Path
) -> None:
    store = ContentAddressedDirectory(tmp_path / "store")
    target = Target(GitRepo(repo.path))
    with pytest.raises(InputError, match="no release record on main"):
        submit_online(
            target, PLUGIN, "1.1.0", by=VENDOR, now=NOW, store=store, validate=run_validator
        )
    scans = ("scans", PASSING / "bandit.sarif")
    offline(repo, tmp_path, make_package(tmp_path), listing_file, (scans,))
    git = GitRepo(repo.path)
    transition(git, TransitionRequest("start", PLUGIN, "1.1.0", REVIEWER, NOW))
    transition(git, TransitionRequest("approve", PLUGIN, "1.1.0", REVIEWER, NOW))
    newer = make_package(
        tmp_path / "c", "1.2.0", permissions="[tenant-data:read, tenant-data:write]"
    )
    offline(repo, tmp_path, newer, None, (scans,))  # 1.2.0; the listing is in the repo now
    done, _ = submit_online(
        target, PLUGIN, "1.2.0", by=VENDOR, now=NOW, store=store, validate=run_validator
    )
    assert done.review.channel == "online"
    assert done.review.permissions_widened == ["tenant-data:write"]
    empty = ContentAddressedDirectory(tmp_path / "empty")
    with pytest.raises(InputError, match="is not in the artifact store"):
        submit_online(
            target, PLUGIN, "1.2.0", by=VENDOR, now=NOW, store=empty, validate=run_validator
        )


def test_the_upload_log_keeps_whole_short_lines(tmp_path: Path) -> None:
    attempt = UploadAttempt(
        at=NOW.isoformat(), file="x.pxp", by=VENDOR, outcome="refused", reason="r" * 10_000
    )
    line = upload_line(attempt)
    assert len(line) < 4096 and line.endswith(b"\n")
    assert json.loads(line)["reason"].endswith(" [...]")
    deep = replace(attempt, file="/uploads/" + "d/" * 3_000 + "hello-1.0.0.pxp")
    kept = json.loads(upload_line(deep))
    assert kept["file"] == "hello-1.0.0.pxp" and kept["reason"].endswith(" [...]")
    blocked = tmp_path / "file"
    blocked.write_text("")
    warning = record_upload(blocked / "log.jsonl", attempt)
    assert warning is not None and "its result is unchanged" in warning
