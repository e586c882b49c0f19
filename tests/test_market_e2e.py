"""The Marketplace end to end, through the CLIs, on a copy of the project's live release repo.

Online: submit -> the validator finds a plain-http link -> request changes -> fix ->
resubmit -> approve -> the catalog lists it (its own commit) -> search finds it -> the
subscribed tenant's webhook receives the CloudEvent. Offline: a signed .pxp upload of a new
version, approved, and its subscribers told. Everything is real: git with a bare remote,
packages built and signed by our own tools, the validator, and an HTTP receiver on loopback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT, Repo, git, live_copy
from test_cli_formats import MARKET_RESULTS, conforms
from test_market_events import Receiver

from pipeline.cli.market import cli as market
from pipeline.cli.plugin import cli as plugin_cli
from pipeline.cli.powerx import cli as powerx
from pipeline.store.cas import ContentAddressedDirectory

VENDOR, REVIEWER = "ada", "mara"
SAMPLE_KEY = PROJECT / "examples" / "keys" / "samples.key"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def live(tmp_path: Path, run_cli: Any, receiver: Receiver) -> Repo:
    """The live release repo on main, a bare origin, a reviewer team and a subscriber."""
    repo = live_copy(tmp_path)
    path = repo.path
    subscriptions = {
        "apiVersion": "powerx.io/v1alpha1",
        "kind": "Subscriptions",
        "subscriptions": [{"tenant": "acme", "webhook": receiver.url("/hooks/acme")}],
    }
    repo.commit({"market/subscriptions.yaml": json.dumps(subscriptions)}, "the live repo")
    remote = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    repo.git("remote", "add", "origin", str(remote))
    repo.git("push", "-q", "origin", "main")
    added = run_cli(
        powerx, "team", "add-member", "marketplace", REVIEWER, "--create",
        "--repo", str(path), "--operator", "rm", "--push",
    )  # fmt: skip
    assert added.code == 0, added.err
    return repo


def px(run_cli: Any, repo: Repo, *args: str) -> Any:
    return run_cli(market, *args, "--repo", str(repo.path))


def built(tmp_path: Path, version: str) -> Path:
    """hello-world at `version`, built and packed by our own tools from the examples."""
    source = tmp_path / f"hello-{version}"
    shutil.copytree(PROJECT / "examples" / "hello-world", source, ignore=_no_builds)
    manifest = source / "plugin.yaml"
    text = manifest.read_text()
    text = text.replace("version: 1.1.0", f"version: {version}", 1)
    manifest.write_text(text + "notes: NOTES.md\nchangelog: CHANGELOG.md\n")
    (source / "NOTES.md").write_text(f"# {version}\n\nGreetings in Welsh, and a faster banner.\n")
    (source / "CHANGELOG.md").write_text(f"## {version}\n\n- PX-170: greetings in Welsh\n")
    out = tmp_path / "out"
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    for step in (["build", str(source)], ["pack", str(source), "-o", str(out)]):
        subprocess.run([bin_dir / "px-plugin", *step], check=True, env=env, capture_output=True)
    return out / f"hello-world-{version}.pxp"


def artifact(tmp_path: Path, version: str) -> Path:
    """The artifact of an example release, rebuilt byte for byte (examples/artifact.sh)."""
    bin_dir = Path(sys.executable).parent
    made = subprocess.run(
        ["bash", str(PROJECT / "examples/artifact.sh"), "hello-world", version, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
    )
    return Path(made.stdout.strip())


def documented_status(out: str) -> dict[str, Any]:
    """A review step's JSON: STATUS plus its commit (and an approval's catalog sync), as
    docs/formats.md documents them."""
    data: dict[str, Any] = json.loads(out)
    step = {k: v for k, v in data.items() if k not in ("commit", "catalog")}
    conforms("px-market status", step, MARKET_RESULTS)
    assert isinstance(data["commit"], str)
    if "catalog" in data:
        conforms("px-market catalog sync", data["catalog"], MARKET_RESULTS)
    return data


def _no_builds(folder: str, names: list[str]) -> list[str]:
    return [n for n in names if n in ("build", "dist", "history", "__pycache__")]


def test_online_review_to_catalog_search_and_notification(
    live: Repo, tmp_path: Path, run_cli: Any, receiver: Receiver
) -> None:
    store = tmp_path / "store"
    package = artifact(tmp_path, "1.1.0")  # reproducible: the live repo's 1.1.0 artifact
    ContentAddressedDirectory(store).put(package)
    listing = live.path / "releases/hello-world/listing.yaml"
    good = listing.read_text()
    live.commit({listing.name and "releases/hello-world/listing.yaml": good.replace(
        "documentation: https://", "documentation: http://")}, "docs over http")  # fmt: skip
    live.git("push", "-q", "origin", "main")
    submit = ("submit", "hello-world@1.1.0", "--store", str(store), "--as", VENDOR)

    first = px(run_cli, live, *submit)
    assert first.code == 1, first.err
    assert "listing.links" in first.out and "https" in first.out  # the finding and its remedy
    checked = px(run_cli, live, "validate", "hello-world@1.1.0", "--store", str(store),
                 "--format", "json")  # fmt: skip
    assert checked.code == 1, checked.err
    verdict = conforms("px-market validate", checked.out, MARKET_RESULTS)
    assert verdict["verdict"] == "failed" and "listing.links" in verdict["failed"]
    assert px(run_cli, live, "review", "start", "hello-world@1.1.0", "--as", REVIEWER).code == 0
    asked = px(
        run_cli, live, "review", "request-changes", "hello-world@1.1.0", "--as", REVIEWER,
        "--reason", "Link the documentation over https", "--category", "metadata",
    )  # fmt: skip
    assert asked.code == 0, asked.err
    seen = px(run_cli, live, "status", "hello-world@1.1.0")
    assert "changes-requested" in seen.out and "Link the documentation over https" in seen.out
    as_json = px(run_cli, live, "status", "hello-world@1.1.0", "--format", "json")
    [status] = json.loads(as_json.out)["reviews"]
    assert conforms("px-market status", status, MARKET_RESULTS)["state"] == "changes-requested"

    live.git("pull", "-q", "--ff-only", "origin", "main")
    live.commit({"releases/hello-world/listing.yaml": good}, "docs over https")
    live.git("push", "-q", "origin", "main")
    again = px(run_cli, live, *submit, "--format", "json")
    assert again.code == 0, again.out + again.err
    assert documented_status(again.out)["state"] == "submitted"
    assert px(run_cli, live, "review", "start", "hello-world@1.1.0", "--as", REVIEWER).code == 0
    approved = px(
        run_cli, live, "review", "approve", "hello-world@1.1.0", "--as", REVIEWER,
        "--format", "json",
    )  # fmt: skip
    assert approved.code == 0, approved.err
    result = documented_status(approved.out)
    assert result["state"] == "approved"
    catalog = result["catalog"]
    assert catalog["commit"] and [c["event"] for c in catalog["changes"]] == ["listing.created"]

    live.git("pull", "-q", "--ff-only", "origin", "main")
    page = json.loads((live.path / "catalog/plugins/hello-world.json").read_text())
    assert [v["version"] for v in page["versions"]] == ["1.1.0"]
    assert live.git("log", "-1", "--format=%B", catalog["commit"]).count("PowerX-Action: catalog")
    found = px(run_cli, live, "search", "greeting", "--format", "json")
    assert found.code == 0, found.err
    hits = conforms("px-market search", found.out, MARKET_RESULTS)["hits"]
    assert hits[0]["plugin"] == "hello-world"
    [delivery] = receiver.received
    event = delivery.event
    assert delivery.path == "/hooks/acme"
    assert event["type"] == "io.powerx.market.listing.created"
    assert event["subject"] == "hello-world@1.1.0" and event["specversion"] == "1.0"

    # run again: nothing new to list, nobody told twice
    synced = px(run_cli, live, "catalog", "sync", "--push")
    assert synced.code == 0 and "up to date" in synced.out
    assert len(receiver.received) == 1
    quiet = px(run_cli, live, "catalog", "sync", "--format", "json")
    assert conforms("px-market catalog sync", quiet.out, MARKET_RESULTS)["commit"] is None
    report = px(run_cli, live, "report", "--format", "json")
    assert report.code == 0, report.err
    reviews = conforms("px-market report", report.out, MARKET_RESULTS)["reviews"]
    assert (reviews["submissions"], reviews["approved"], reviews["firstPassRate"]) == (1, 1, 0)


def test_an_offline_upload_is_verified_reviewed_and_published(
    live: Repo, tmp_path: Path, run_cli: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = built(tmp_path, "1.2.0")
    monkeypatch.setenv("PX_PASSPHRASE", "powerx-samples")
    signed = run_cli(
        plugin_cli, "sign", str(package), "--key", str(SAMPLE_KEY), "--source-commit", "0" * 40
    )
    assert signed.code == 0, signed.err
    evidence = live.path / "releases/hello-world/1.1.0/evidence"
    listing = live.path / "releases/hello-world/listing.yaml"
    store = tmp_path / "store"
    upload = (
        "submit", "--offline", str(package), "--listing", str(listing),
        "--evidence", f"scans={evidence / 'bandit.sarif'}",
        "--evidence", f"tests={evidence / 'junit.xml'}",
        "--store", str(store), "--as", VENDOR,
    )  # fmt: skip
    submitted = px(run_cli, live, *upload)
    assert submitted.code == 0, submitted.out + submitted.err
    log = (store / "incoming" / "market-uploads.jsonl").read_text().splitlines()
    assert json.loads(log[-1])["outcome"] == "accepted"
    assert px(run_cli, live, "review", "start", "hello-world@1.2.0", "--as", REVIEWER).code == 0
    approved = px(run_cli, live, "review", "approve", "hello-world@1.2.0", "--as", REVIEWER)
    assert approved.code == 0, approved.err
    assert [r.event["type"] for r in receiver.received] == ["io.powerx.market.listing.created"]

    tampered = tmp_path / "tampered.pxp"
    data = bytearray(package.read_bytes())
    data[len(data) // 2] ^= 1
    tampered.write_bytes(bytes(data))
    shutil.copy(
        package.with_name(package.name + ".sigstore.json"), str(tampered) + ".sigstore.json"
    )
    refused = px(run_cli, live, *(str(tampered) if a == str(package) else a for a in upload))
    assert refused.code in (1, 2) and refused.err
    assert (
        json.loads((store / "incoming" / "market-uploads.jsonl").read_text().splitlines()[-1])[
            "outcome"
        ]
        == "refused"
    )
