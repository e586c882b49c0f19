"""The console's release view: gates, evidence, signature, approvals, plan, history.

Every test runs `powerx serve --port 0` as a real process on the matrix tests' release repo
(hello 1.0.0 in test, held for its staging approval; other with a canary in staging) and
asks it over HTTP on loopback.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from html import unescape
from pathlib import Path

import pytest
from conftest import Repo
from factories import bundle, digest_of, release, yaml_text
from hostplugins import ServerProcess
from test_approvals import key
from test_promote import publish
from test_web_console import Client
from test_web_matrix import APPROVAL_MISSING, estate, row_html

from pipeline.gitrepo import GitRepo
from pipeline.policy.signed_approvals import ApproveRequest, record_approval
from pipeline.web.evidence import MAX_EVIDENCE_BYTES

__all__ = ["estate"]  # the fixture, imported


@pytest.fixture
def client(estate: Repo) -> Iterator[Client]:
    with ServerProcess(["powerx", "serve", "--repo", str(estate.path), "--port", "0"]) as server:
        yield Client(server.url)


def links(page: str) -> list[str]:
    return [unescape(href) for href in re.findall(r'href="([^"]+)"', page)]


def test_the_release_page_shows_gates_evidence_signature_approvals_and_plan(
    client: Client, estate: Repo
) -> None:
    data = client.json("/release/hello/1.0.0")
    assert (data["plugin"], data["version"], data["head"]) == ("hello", "1.0.0", estate.head())
    gates = {g["gate"]: g for g in data["gates"]}
    assert gates["coverage"]["status"] == "pass" and data["passed"]
    assert gates["coverage"]["evidence"] == "releases/hello/1.0.0/evidence/coverage.json"
    assert gates["coverage"]["evidence_url"] == (
        "/release/hello/1.0.0/evidence?path=evidence%2Fcoverage.json"
    )
    signature = data["signature"]
    assert signature["present"] and signature["valid"] and signature["mode"] == "key"
    assert signature["rule"].startswith("trusted key") and signature["signer"] in signature["rule"]
    assert signature["accepted_in"] == ["test", "staging", "prod"]
    assert signature["bundle_url"].endswith("path=hello-1.0.0.pxp.sigstore.json")
    approvals = {a["environment"]: a for a in data["approvals"]}
    assert approvals["staging"]["summary"] == APPROVAL_MISSING
    assert not approvals["staging"]["satisfied"] and approvals["staging"]["required"] == 1
    assert approvals["test"]["satisfied"]
    plan = data["plan"]
    assert [(w["environment"], w["version"]) for w in plan["where"]] == [
        ("test", "1.0.0"),
        ("staging", None),
        ("prod", None),
    ]
    assert plan["next"]["into"] == "staging" and plan["next"]["reason"] == APPROVAL_MISSING
    assert data["rollback"]["playbook"] and data["contacts"][0]["email"]
    assert client.json("/release/hello/1.0.0.json") == data

    status, headers, page = client.get("/release/hello/1.0.0")
    assert status == 200 and headers["content-type"].startswith("text/html")
    hrefs = links(page)
    evidence = [h for h in hrefs if "/evidence?" in h]
    assert "/release/hello/1.0.0/evidence?path=evidence%2Fjunit.xml" in evidence
    for href in evidence:  # every evidence link resolves to the file's text
        status, _, shown = client.get(href)
        assert status == 200, href
    status, _, shown = client.get("/release/hello/1.0.0/evidence?path=evidence%2Fjunit.xml")
    assert "&lt;testsuite" in shown and "<testsuite" not in shown  # text, escaped
    record = client.json("/release/hello/1.0.0/evidence.json?path=evidence/coverage.json")
    assert record["repo_path"] == "releases/hello/1.0.0/evidence/coverage.json"
    assert json.loads(record["text"])["totals"]
    assert 'hx-get="/release/hello/1.0.0/history?part=fragment"' in page
    assert 'href="/release/hello/1.0.0/history"' in page  # the history with JavaScript off


def test_the_history_is_the_plugins_latest_audit_entries(client: Client, estate: Repo) -> None:
    history = client.json("/release/hello/1.0.0/history")
    actions = [(e["action"], e["version"]) for e in history["entries"]]
    assert actions == [("promote", "1.0.0")]
    assert all(e["permalink"] == f"/audit/{e['commit']}" for e in history["entries"])
    assert history["audit"] == "/audit?plugin=hello" and not history["more"]
    status, _, part = client.get("/release/hello/1.0.0/history?part=fragment")
    assert status == 200 and part.strip().startswith('<section id="history">')
    assert "<html" not in part and f'href="/audit/{history["entries"][0]["commit"]}"' in part
    status, _, page = client.get("/release/hello/1.0.0/history")
    assert "<html" in page and 'href="/audit?plugin=hello"' in page


def test_a_signed_approval_record_shows_and_links(client: Client, estate: Repo) -> None:
    record_approval(
        GitRepo(estate.path),
        ApproveRequest("hello", "1.0.0", "staging", "quinn", key("quinn")[0], _now()),
        branch="main",
    )
    staging = {a["environment"]: a for a in client.json("/release/hello/1.0.0")["approvals"]}[
        "staging"
    ]
    assert staging["satisfied"] and [c["approver"] for c in staging["counted"]] == ["quinn"]
    [record] = staging["records"]
    assert record["name"].startswith("staging-") and record["url"].startswith(
        "/release/hello/1.0.0/evidence?path=approvals%2F"
    )
    assert client.get(record["url"])[0] == 200


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.mark.parametrize(
    "path",
    [
        "../../policies/gates.yaml",
        "..%2F..%2Fpolicies%2Fgates.yaml",
        "%2E%2E/%2E%2E/policies/gates.yaml",
        "/etc/passwd",
        "%2Fetc%2Fpasswd",
        "evidence/../../1.0.0/../../../policies/gates.yaml",
        "evidence",
        "evidence/missing.json",
        "",
        "..",
        "evidence%00.json",
        "C:\\windows",
    ],
)
def test_evidence_outside_the_release_folder_is_a_404(client: Client, path: str) -> None:
    status, headers, body = client.get(
        f"/release/hello/1.0.0/evidence?path={path}", "application/json"
    )
    answer = json.loads(body)
    assert status == 404 and headers["content-type"].startswith("application/json"), path
    assert "is not a file of the release folder releases/hello/1.0.0/" in answer["message"]
    assert "apiVersion" not in body and "Traceback" not in body
    status, _, page = client.get(f"/release/hello/1.0.0/evidence?path={path}")
    assert status == 404 and "not a file of the release folder" in page


def test_unknown_plugins_and_versions_are_404_with_did_you_mean(client: Client) -> None:
    for path, message in [
        ("/release/helo/1.0.0", "did you mean 'hello'?"),
        ("/release/hello/1.0.1", "did you mean '1.0.0'?"),
        ("/release/hello/9.9.9", "released versions of hello: 1.0.0"),
        ("/release/nobody-here/1.0.0/evidence?path=evidence/junit.xml", "nobody-here"),
        ("/release/helo", "did you mean 'hello'?"),
        ("/release/hello/1.0.1/history", "did you mean '1.0.0'?"),
    ]:
        status, _, body = client.get(path, "application/json")
        answer = json.loads(body)
        assert status == 404 and answer["error"] == "not found", path
        assert message in answer["message"] + " " + answer["hint"], (path, answer)
    status, _, page = client.get("/release/helo/1.0.0")
    assert status == 404 and "did you mean &#39;hello&#39;?" in page
    assert client.status("/release/hello/1.0.0/history?part=all") == 400


def test_the_versions_of_a_plugin_link_to_their_pages(client: Client) -> None:
    data = client.json("/release/other")
    assert [v["version"] for v in data["versions"]] == ["2.0.0", "1.0.0"]
    assert data["versions"][0]["url"] == "/release/other/2.0.0"
    assert 'href="/release/other/2.0.0"' in client.get("/release/other")[2]


def test_the_matrix_links_versions_canaries_and_held_reasons(client: Client) -> None:
    page = client.get("/matrix")[2]
    hello = row_html(page, "hello")
    assert '<a href="/release/hello/1.0.0">1.0.0</a>' in hello
    assert f'<a href="/release/hello/1.0.0">{APPROVAL_MISSING}</a>' in hello
    other = row_html(page, "other")
    assert '<a href="/canary/other/staging">canary 2.0.0 at 10% (step 1)</a>' in other
    extra = client.json("/matrix.json?q=extra-1")["plugins"][0]["cells"]["test"]
    assert extra["version"] == "0.1.0" and extra["release"] is None  # no manifest: no link
    assert "/release/extra-1/" not in row_html(page, "extra-1")
    for href in {h for h in links(hello + other) if h.startswith(("/release/", "/canary/"))}:
        assert client.get(href)[0] == 200, href


def test_unsigned_refused_and_broken_releases_say_why(estate: Repo) -> None:
    folder = "releases/hello/{}"
    for version in ("2.0.0", "2.1.0", "2.2.0"):
        publish(estate, version)
    unsigned = release("hello", "2.0.0")
    del unsigned["artifact"]["signature"]
    unbundled = release("hello", "2.2.0")
    unbundled["artifact"]["signature"] = "missing.sigstore.json"
    estate.commit(
        {
            f"{folder.format('2.0.0')}/release.yaml": yaml_text(unsigned),
            f"{folder.format('2.0.0')}/evidence/blob.bin": b"\0\1\2binary",
            f"{folder.format('2.0.0')}/evidence/big.log": b"x" * (MAX_EVIDENCE_BYTES + 1),
            f"{folder.format('2.1.0')}/hello-2.1.0.pxp.sigstore.json": bundle(
                "hello", "2.1.0", digest=digest_of("hello", "9.9.9")
            ),
            f"{folder.format('2.2.0')}/release.yaml": yaml_text(unbundled),
            "environments/prod/plugins/hello.yaml": "kind: PluginState\n",
        },
        "three odd releases of hello, and a broken prod state",
    )
    with ServerProcess(["powerx", "serve", "--repo", str(estate.path), "--port", "0"]) as server:
        client = Client(server.url)
        data = client.json("/release/hello/2.0.0")
        signature = data["signature"]
        assert not signature["present"] and not signature["valid"]
        assert signature["refusal"] == "hello@2.0.0 names no signature bundle (artifact.signature)"
        gates = {g["gate"]: g for g in data["gates"]}
        assert gates["signature"]["status"] == "fail" and not data["passed"]
        prod = data["plan"]["where"][2]
        assert prod["version"] is None and "environments/prod/plugins/hello.yaml" in prod["error"]
        binary = client.json("/release/hello/2.0.0/evidence?path=evidence/blob.bin")
        assert binary["binary"] and binary["text"] is None and binary["size"] == 9
        big = client.json("/release/hello/2.0.0/evidence?path=evidence/big.log")
        assert big["text"] is None and "over the limit" in big["too_large"]
        assert "Not shown" in client.get("/release/hello/2.0.0/evidence?path=evidence/big.log")[2]

        refused = client.json("/release/hello/2.1.0")["signature"]
        assert refused["present"] and not refused["valid"] and refused["refusal"]
        assert refused["bundle_url"].endswith("path=hello-2.1.0.pxp.sigstore.json")
        status, _, page = client.get("/release/hello/2.1.0")
        assert status == 200
        assert '<span class="bad">no</span>' in page

        missing = client.json("/release/hello/2.2.0")
        assert missing["gates"] == [] and "does not exist" in missing["gates_error"]
        assert missing["signature"]["refusal"] == (
            "the bundle releases/hello/2.2.0/missing.sigstore.json is not in the repo"
        )
        assert "could not be evaluated" in client.get("/release/hello/2.2.0")[2]
        assert "unreadable" not in client.get("/release/hello/2.0.0")[2]
        assert "environments/prod/plugins/hello.yaml" in client.get("/release/hello/2.0.0")[2]

        status, _, body = client.get("/release/%2E%2E/policies/evidence?path=gates.yaml")
        assert status == 404 and "apiVersion" not in body


def test_a_keyless_signature_names_its_identity_and_the_rule_that_trusts_it(
    estate: Repo,
) -> None:
    sigstore = Path(__file__).parent / "data" / "sigstore"
    wheel = (sigstore / "bundle_v3_github.whl").read_bytes()
    manifest = release("rfc", "0.1.2")
    manifest["artifact"].update(
        sha256=hashlib.sha256(wheel).hexdigest(), size=len(wheel), signature="rfc.sigstore"
    )
    folder = "releases/rfc/0.1.2"
    estate.commit(
        {
            "policies/signing.yaml": (Path(__file__).parent / "data/signing/signing.yaml")
            .read_text()
            .replace("  test:\n    require: any\n", ""),
            f"{folder}/release.yaml": yaml_text(manifest),
            f"{folder}/rfc.sigstore": (sigstore / "bundle_v3_github.whl.sigstore").read_bytes(),
        },
        "a keyless release",
    )
    with ServerProcess(["powerx", "serve", "--repo", str(estate.path), "--port", "0"]) as server:
        signature = Client(server.url).json("/release/rfc/0.1.2")["signature"]
    assert signature["valid"] and signature["mode"] == "keyless"
    assert signature["signer"].startswith("https://github.com/trailofbits/rfc8785.py/")
    assert signature["issuer"] == "https://token.actions.githubusercontent.com"
    assert signature["rule"].startswith("trusted identity") and "rfc8785" in signature["rule"]
    assert signature["accepted_in"] == ["test", "staging"]  # prod names a pattern of its own
