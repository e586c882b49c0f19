"""The console's offline imports view (/imports, /imports/{id}) on a site's real imports.

Repo A releases and exports signed bundles (tests/bundle_support.py); `powerx plugin import
--offline` brings them into site repo B: one that deploys, one whose health check fails and
is rolled back, one that is refused (a flipped byte). `powerx serve` on repo B answers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from bundle_support import FAIL, Site, Source, exporter_key, rewrite_bundle
from conftest import git
from factories import session_key
from hostplugins import ServerProcess, run
from test_web_console import Client

from pipeline.signing.keys import public_key_id


@pytest.fixture
def imported(tmp_path: Path) -> Site:
    """Site B after a deployed import, a rolled-back one and a refused one."""
    source = Source(tmp_path / "a")
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
    return site


@pytest.fixture
def console(imported: Site) -> Iterator[Client]:
    argv = ["powerx", "serve", "--repo", str(imported.repo.path), "--port", "0"]
    with ServerProcess([*argv, "--plugin-store", str(imported.store)]) as server:
        yield Client(server.url)


def test_imports_lists_each_landed_import_with_its_result(console: Client) -> None:
    data = console.json("/imports.json")
    rows = data["imports"]
    assert len(rows) == 2, rows  # the refused one wrote nothing
    bad, good = rows
    assert (good["environment"], good["operator"], good["result"]) == ("prod", "admin", "imported")
    assert good["deployed"] == ["hello@1.0.0"] and good["rolledBack"] == []
    assert len(good["bundle"]) == 64 and good["sequence"] is not None
    assert bad["result"] == "rolled back" and bad["deployed"] == ["hello@1.1.0"]
    assert bad["sequence"] > good["sequence"]
    undone = bad["rolledBack"][0]
    assert undone["plugin"] == "hello" and "health check failed" in undone["reason"]
    assert bad["bundle"][:12] in undone["reason"]
    assert "refused import writes nothing" in data["refusals"]

    status, headers, page = console.get("/imports")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert f'<tr id="import-{good["id"][:12]}">' in page
    assert "rolled back" in page and "health check failed" in page
    index = console.json("/index.json")
    assert {"name": "imports", "title": "Offline imports", "url": "/imports"} in index["views"]


def test_one_import_shows_its_signers_and_message(console: Client) -> None:
    bad, good = console.json("/imports.json")["imports"]
    status, _, page = console.get(f"/imports/{bad['id']}")
    assert status == 200 and f'<a href="/audit/{bad["rolledBack"][0]["commit"]}">' in page
    data = console.json(f"/imports/{good['id'][:12]}.json")["import"]
    assert data["id"] == good["id"] and data["bundle"] == good["bundle"]
    release = data["releases"][0]
    assert release["release"] == "hello@1.0.0" and release["error"] is None, release
    assert (release["mode"], release["signer"]) == ("key", public_key_id(session_key()[1]))
    assert data["bundleSigners"]["error"] is None
    assert any(public_key_id(exporter_key()[1])[:16] in s for s in data["bundleSigners"]["trusted"])
    assert f"Offline bundle {good['bundle'][:12]}" in data["message"]
    page = console.get(f"/imports/{good['id']}")[2]
    assert "one of the signers the site trusted for bundles" in page
    assert "key: " + public_key_id(session_key()[1]) in page


def test_unknown_imports_are_404(console: Client, imported: Site) -> None:
    for path in ("/imports/0000000000", "/imports/not-a-commit"):
        status, _, body = console.get(path, "application/json")
        assert status == 404, (path, body)
        assert "/imports" in json.loads(body)["hint"]
    first_commit = git(imported.repo.path, "rev-list", "--max-parents=0", "HEAD")
    assert console.status(f"/imports/{first_commit}") == 404
