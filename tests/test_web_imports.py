"""The console's offline imports view (/imports, /imports/{id}) on a site's real imports.

Repo A releases and exports signed bundles (tests/bundle_support.py); `powerx plugin import
--offline` brings them into site repo B: one that deploys, one whose health check fails and
is rolled back, two that are refused (a flipped byte, a signer the site does not trust).
`powerx serve` on repo B answers, with and without its plugin store (where refusals are
logged).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from bundle_support import FAIL, Site, exporter_key, rewrite_bundle, site_policy
from bundle_support import Source as ReleaseRepo
from conftest import git
from factories import PASSPHRASE, session_key, yaml_text
from hostplugins import ServerProcess, run
from test_web_console import Client

from pipeline.bundle.import_log import import_log_path
from pipeline.gitrepo import GitRepo
from pipeline.signing.keys import generate_keypair, public_key_id
from pipeline.web.app import Console
from pipeline.web.imports import import_data, imports_data
from pipeline.web.views import Params, Source


@pytest.fixture
def imported(tmp_path: Path) -> Site:
    """Site B after a deployed import, a rolled-back one and a refused one."""
    source = ReleaseRepo(tmp_path / "a")
    site = Site(tmp_path / "b")
    source.release("hello", "1.0.0")
    good = tmp_path / "good.bundle"
    source.export(good)
    first = run(["powerx", *site.argv(good)])
    assert first.returncode == 0, first.stdout + first.stderr
    source.release("hello", "1.1.0", health=FAIL)
    bad = tmp_path / "bad.bundle"
    source.export(bad)
    second = run(["powerx", *site.argv(bad)])
    assert second.returncode == 1 and "ROLLED BACK hello" in second.stdout, second.stdout
    source.release("hello", "1.2.0")
    fresh = tmp_path / "fresh.bundle"
    source.export(fresh)
    tampered = tmp_path / "tampered.bundle"

    def flip(name: str, data: bytes) -> bytes:
        return data[:-1] + bytes([data[-1] ^ 1]) if name.startswith("artifacts/") else data

    rewrite_bundle(fresh, tampered, change=flip)
    refused = run(["powerx", *site.argv(tampered)])
    assert refused.returncode == 1, refused.stdout + refused.stderr
    stranger_key = tmp_path / "stranger.key"
    stranger_key.write_bytes(generate_keypair(PASSPHRASE)[0])
    stranger = tmp_path / "stranger.bundle"
    source.export(stranger, key=stranger_key)
    untrusted = run(["powerx", *site.argv(stranger)])
    assert untrusted.returncode == 1, untrusted.stdout + untrusted.stderr
    return site


def serve(site: Site, *extra: str) -> ServerProcess:
    return ServerProcess(["powerx", "serve", "--repo", str(site.repo.path), "--port", "0", *extra])


@pytest.fixture
def console(imported: Site) -> Iterator[Client]:
    with serve(imported, "--plugin-store", str(imported.store)) as server:
        yield Client(server.url)


EXPORTER = f"key {public_key_id(exporter_key()[1])}"


def test_imports_lists_each_import_and_refusal_with_its_result(console: Client) -> None:
    data = console.json("/imports.json")
    rows = data["imports"]
    assert len(rows) == 4, rows
    untrusted, tampered, bad, good = rows
    assert (good["environment"], good["operator"], good["result"]) == ("prod", "admin", "imported")
    assert good["deployed"] == ["hello@1.0.0"] and good["rolledBack"] == []
    assert len(good["bundle"]) == 64 and good["sequence"] is not None
    assert good["signer"] == EXPORTER and good["recordedIn"] == "repo"
    assert bad["result"] == "rolled back" and bad["deployed"] == ["hello@1.1.0"]
    assert bad["sequence"] > good["sequence"] and bad["signer"] == EXPORTER
    undone = bad["rolledBack"][0]
    assert undone["plugin"] == "hello" and "health check failed" in undone["reason"]
    assert bad["bundle"][:12] in undone["reason"]

    assert (tampered["result"], tampered["exitCode"], tampered["id"]) == ("refused", 1, None)
    assert "checksum mismatch for artifacts/" in tampered["reason"]
    assert tampered["bundleFile"] == "tampered.bundle" and tampered["signer"] == EXPORTER
    assert tampered["sequence"] > bad["sequence"] and tampered["environment"] == "prod"
    assert (untrusted["result"], untrusted["bundleFile"]) == ("refused", "stranger.bundle")
    assert "the bundle's signature is not trusted" in untrusted["reason"]
    assert untrusted["signer"] is None and len(untrusted["bundle"]) == 64
    assert data["log"]["log"].endswith("imports.jsonl") and data["log"]["unreadable"] == 0
    assert "import log" in data["refusals"]

    status, headers, page = console.get("/imports")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert f'<tr id="import-{good["id"][:12]}">' in page
    assert "rolled back" in page and "health check failed" in page
    assert "stranger.bundle" in page and "not verified" in page
    assert "checksum mismatch for artifacts/" in page and "(exit 1)" in page
    index = console.json("/index.json")
    assert {"name": "imports", "title": "Offline imports", "url": "/imports"} in index["views"]


def test_without_the_store_refusals_are_announced_not_shown(imported: Site) -> None:
    repo = GitRepo(imported.repo.path)
    data = imports_data(Source(repo, repo.resolve("HEAD")), Params({}))
    assert [row["result"] for row in data["imports"]] == ["rolled back", "imported"]
    assert data["log"]["log"] is None
    page = bytes(Console(imported.repo.path).page("imports.html", data).body).decode()
    assert "refusals are shown when the console is started with --plugin-store" in page
    assert "stranger.bundle" not in page


def test_an_unreadable_log_is_said_on_the_page(imported: Site, tmp_path: Path) -> None:
    store = tmp_path / "store"
    import_log_path(store).mkdir(parents=True)  # a folder where the log should be
    repo = GitRepo(imported.repo.path)
    data = imports_data(Source(repo, repo.resolve("HEAD"), store), Params({}))
    assert data["log"]["error"].startswith(f"cannot read {import_log_path(store)}")
    assert [row["result"] for row in data["imports"]] == ["rolled back", "imported"]
    page = bytes(Console(imported.repo.path, store).page("imports.html", data).body).decode()
    assert f'<p class="held">cannot read {import_log_path(store)}' in page


def test_the_signer_is_named_and_an_older_import_shows_the_trusted_signers(
    tmp_path: Path,
) -> None:
    source = ReleaseRepo(tmp_path / "a")
    site = Site(tmp_path / "b")
    policy = site_policy()
    policy["keys"][-1]["name"] = "exporter"
    site.repo.commit({"policies/signing.yaml": yaml_text(policy)}, "name the exporter key")
    source.release("hello", "1.0.0")
    bundle = tmp_path / "old.bundle"
    source.export(bundle)
    imported = run(["powerx", *site.argv(bundle, "--no-deploy")])
    assert imported.returncode == 0, imported.stdout + imported.stderr
    repo = site.repo.path
    message = git(repo, "log", "-1", "--format=%B", "HEAD")
    assert f"PowerX-Bundle-Signer: {EXPORTER}" in message
    head = git(repo, "rev-parse", "HEAD")
    git_repo = GitRepo(repo)
    named = import_data(Source(git_repo, git_repo.resolve("HEAD")), Params({"id": head}))
    assert named["import"]["bundleSigners"]["signer"] == f"key exporter ({EXPORTER[4:]})"
    old = "\n".join(line for line in message.splitlines() if "Bundle-Signer" not in line)
    tree, parent = git(repo, "rev-parse", "HEAD^{tree}"), git(repo, "rev-parse", "HEAD^")
    rewritten = git(repo, "commit-tree", tree, "-p", parent, "-m", old)
    git(repo, "update-ref", "HEAD", rewritten)
    with serve(site, "--plugin-store", str(site.store)) as server:
        client = Client(server.url)
        (row,) = client.json("/imports.json")["imports"]
        assert row["signer"] is None
        data = client.json(f"/imports/{row['id']}.json")["import"]
        page = client.get(f"/imports/{row['id']}")[2]
    assert data["bundleSigners"]["signer"] is None
    assert any(EXPORTER[4:20] in signer for signer in data["bundleSigners"]["trusted"])
    assert "one of the signers the site trusted for bundles" in page
    assert "predates the <code>PowerX-Bundle-Signer</code> trailer" in page


def test_one_import_shows_its_signers_and_message(console: Client) -> None:
    _, _, bad, good = console.json("/imports.json")["imports"]
    status, _, page = console.get(f"/imports/{bad['id']}")
    assert status == 200 and f'<a href="/audit/{bad["rolledBack"][0]["commit"]}">' in page
    data = console.json(f"/imports/{good['id'][:12]}.json")["import"]
    assert data["id"] == good["id"] and data["bundle"] == good["bundle"]
    release = data["releases"][0]
    assert release["release"] == "hello@1.0.0" and release["error"] is None, release
    assert (release["mode"], release["signer"]) == ("key", public_key_id(session_key()[1]))
    assert data["bundleSigners"]["error"] is None
    assert data["signer"] == data["bundleSigners"]["signer"] == EXPORTER
    assert any(public_key_id(exporter_key()[1])[:16] in s for s in data["bundleSigners"]["trusted"])
    assert f"Offline bundle {good['bundle'][:12]}" in data["message"]
    page = console.get(f"/imports/{good['id']}")[2]
    assert f"<dt>Bundle signer</dt><dd>{EXPORTER}</dd>" in page
    assert "one of the signers the site trusted" not in page
    assert "key: " + public_key_id(session_key()[1]) in page


def test_unknown_imports_are_404(console: Client, imported: Site) -> None:
    for path in ("/imports/0000000000", "/imports/not-a-commit"):
        status, _, body = console.get(path, "application/json")
        assert status == 404, (path, body)
        assert "/imports" in json.loads(body)["hint"]
    first_commit = git(imported.repo.path, "rev-list", "--max-parents=0", "HEAD")
    assert console.status(f"/imports/{first_commit}") == 404
