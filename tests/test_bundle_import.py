"""`powerx plugin import --offline`: repo A's bundle lands in repo B and its store, offline."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from bundle_support import ENV, FAIL, Site, Source
from conftest import GIT_ENV, PROJECT, RunCli, git

from pipeline.bundle.importer import import_bundle
from pipeline.cli.powerx import cli
from pipeline.gitrepo import GitRepo, read_trailers

POWERX = PROJECT / ".venv" / "bin" / "powerx"


@pytest.fixture
def source(tmp_path: Path) -> Source:
    return Source(tmp_path / "a")


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path / "b")


class Webhook:
    """A local webhook receiver that records every JSON body posted to it."""

    def __init__(self) -> None:
        received: list[dict[str, object]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.received = received
        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


def _unshare_available() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode == 0


def test_import_offline_in_a_network_namespace(source: Source, site: Site, tmp_path: Path) -> None:
    if not _unshare_available():
        pytest.skip("unshare -rn (user + network namespaces) is not available on this machine")
    source.release("base", "1.0.0", deploy=False)
    source.release("app", "1.0.0", dependencies={"base": ">=1.0"})
    source.release("hello", "1.0.0")
    bundle = tmp_path / "prod.bundle"
    exported = source.export(bundle)
    probe = subprocess.run(
        ["unshare", "-rn", str(PROJECT / ".venv" / "bin" / "python"), "-c",
         "import socket; socket.create_connection(('1.1.1.1', 53), timeout=2)"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert probe.returncode != 0 and "unreachable" in probe.stderr
    env = {**GIT_ENV, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        ["unshare", "-rn", str(POWERX), *site.argv(bundle, "--host-version", "2.5.0")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "app: installed 1.0.0 (healthy)" in done.stdout
    active = site.active("app")
    assert active is not None and active.startswith("1.0.0-")
    assert site.active("hello") is not None and site.active("base") is None
    message = git(site.repo.path, "log", "-1", "--format=%B")
    trailers = read_trailers(message)
    assert trailers["Action"] == "import"
    assert trailers["Operator"] == "admin"
    assert trailers["Bundle-Digest"] == exported.digest
    assert trailers["Sequence"] == str(exported.manifest.sequence)
    assert trailers["Version"] == "app@1.0.0, hello@1.0.0"
    files = git(site.repo.path, "ls-files").splitlines()
    for path in (
        "environments/prod/plugins/app.yaml",
        "releases/base/1.0.0/release.yaml",
        "imports/prod.yaml",
    ):
        assert path in files
    # every artifact is in the store, and the audit trail shows the import
    for entry in exported.manifest.releases:
        assert (site.store / "objects" / "sha256" / entry.artifact[:2] / entry.artifact).is_file()
    audit = subprocess.run(
        [str(POWERX), "audit", "--repo", str(site.repo.path), "--plugin", "hello"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert "import" in audit.stdout and "app@1.0.0, hello@1.0.0" in audit.stdout


def test_incremental_import_and_rerun(source: Source, site: Site, tmp_path: Path) -> None:
    source.release("hello", "1.0.0")
    source.release("world", "1.0.0")
    full = tmp_path / "full.bundle"
    source.export(full)
    first = import_bundle(site.request(full))
    assert first.ok and not first.resumed
    again = import_bundle(site.request(full))  # a re-run: nothing new, no second commit
    assert again.resumed and again.commit == first.commit
    source.release("hello", "1.1.0")
    increment = tmp_path / "inc.bundle"
    source.export(increment, since=str(full))
    second = import_bundle(site.request(increment))
    assert second.ok and second.commit != first.commit
    assert site.active(
        "hello",
    ).startswith("1.1.0-")  # type: ignore[union-attr]
    assert site.active("world").startswith("1.0.0-")  # type: ignore[union-attr]


def test_unhealthy_release_rolls_back_host_and_site(
    source: Source, site: Site, tmp_path: Path, run_cli: RunCli, webhook: Webhook
) -> None:
    source.release("hello", "1.0.0")
    good = tmp_path / "good.bundle"
    source.export(good)
    assert run_cli(cli, *site.argv(good)).code == 0
    source.release("hello", "1.1.0", health=FAIL)
    bad = tmp_path / "bad.bundle"
    source.export(bad)
    result = run_cli(cli, *site.argv(bad, "--alert-webhook", webhook.url))
    assert result.code == 1, result.out + result.err
    assert "ROLLED BACK hello: 1.1.0 -> 1.0.0" in result.out
    assert site.active("hello").startswith("1.0.0-")  # type: ignore[union-attr]
    head = GitRepo(site.repo.path)
    tip = head.resolve("HEAD")
    trailers = read_trailers(tip.message)
    assert trailers["Action"] == "rollback" and trailers["Rolled-Back-From"] == "1.1.0"
    assert "health check failed" in trailers["Reason"]
    assert read_trailers(tip.parents[0].message)["Action"] == "import"
    state = (site.repo.path / "environments" / ENV / "plugins" / "hello.yaml").read_text()
    assert "version: 1.0.0" in state
    assert [alert["type"] for alert in webhook.received] == ["io.powerx.import.rolled-back"]


def test_overrides_are_recorded(
    source: Source, site: Site, tmp_path: Path, run_cli: RunCli
) -> None:
    source.release("hello", "1.0.0")
    old = tmp_path / "old.bundle"
    source.export(old, now=datetime.now(UTC) - timedelta(days=40))
    refused = run_cli(cli, *site.argv(old, "--no-deploy"))
    assert refused.code == 1 and "expired" in refused.err
    accepted = run_cli(cli, *site.argv(old, "--no-deploy", "--allow-expired"))
    assert accepted.code == 0, accepted.err
    assert "override: expired at" in accepted.out
    trailers = read_trailers(git(site.repo.path, "log", "-1", "--format=%B"))
    assert trailers["Override"].startswith("expired at")
    assert "not deployed" in accepted.out


def _entitlement(plugin: str, **fields: object) -> dict[str, object]:
    data: dict[str, object] = {
        "apiVersion": "powerx.io/v1alpha1",
        "kind": "Entitlement",
        "plugin": plugin,
        "licensee": "Example Bank",
        "notAfter": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
    }
    data.update(fields)
    return data


def test_licensed_plugin_with_entitlements_from_bundle_and_site(
    source: Source, site: Site, tmp_path: Path
) -> None:
    from factories import yaml_text

    source.release("hello", "1.0.0", license="LicenseRef-Acme-Commercial")
    source.repo.commit({"entitlements/hello.yaml": yaml_text(_entitlement("hello"))}, "lic")
    first = tmp_path / "first.bundle"
    source.export(first)
    assert import_bundle(site.request(first, deploy=False)).ok
    assert (site.repo.path / "entitlements" / "hello.yaml").is_file()
    # the next bundle carries no entitlement (unchanged): the site's own copy counts
    source.release("hello", "1.1.0", license="LicenseRef-Acme-Commercial")
    second = tmp_path / "second.bundle"
    result = source.export(second, since=str(first))
    assert not any(f.path.startswith("entitlements/") for f in result.manifest.files)
    assert import_bundle(site.request(second, deploy=False)).ok


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"plugin": "other"}, "names plugin 'other'"),
        ({"versions": ">=2"}, "covers >=2, not 1.0.0"),
        ({"notBefore": "2999-01-01T00:00:00Z", "notAfter": "2999-02-01T00:00:00Z"},
         "is not valid before"),
    ],
)  # fmt: skip
def test_entitlement_problems(fields: dict[str, object], problem: str) -> None:
    from factories import release

    from pipeline.bundle.entitlements import entitlement_problem
    from pipeline.models.entitlement import Entitlement
    from pipeline.models.release import Release

    licensed = Release.model_validate(release(license="LicenseRef-Acme"))
    entitlement = Entitlement.model_validate({**_entitlement("hello"), **fields})
    found = entitlement_problem(licensed, entitlement, now=datetime.now(UTC))
    assert found is not None and problem in found
    assert (
        entitlement_problem(
            licensed, Entitlement.model_validate(_entitlement("hello")), now=datetime.now(UTC)
        )
        is None
    )
    assert (
        entitlement_problem(Release.model_validate(release()), None, now=datetime.now(UTC)) is None
    )


def test_alert_delivery_problems_do_not_hide_the_refusal(
    source: Source, site: Site, tmp_path: Path, run_cli: RunCli, webhook: Webhook
) -> None:
    source.release("hello", "1.0.0")
    bundle = tmp_path / "old.bundle"
    source.export(bundle, now=datetime.now(UTC) - timedelta(days=40))
    webhook.close()
    result = run_cli(cli, *site.argv(bundle, "--alert-webhook", webhook.url))
    assert result.code == 1
    assert "alert not delivered: http://127.0.0.1" in result.err and "unreachable" in result.err
    bad_host = run_cli(cli, *site.argv(bundle, "--host-version", "two"))
    assert bad_host.code == 2 and "not a semantic version" in bad_host.err


def test_webhook_error_status_is_reported() -> None:
    import httpx

    from pipeline.bundle.alerts import import_notifier, post_alert

    def answer(request: httpx.Request) -> httpx.Response:
        assert json.loads(request.content)["type"] == "io.powerx.import.refused"
        return httpx.Response(500)

    notifier = import_notifier(
        ["https://alerts.example/hook/secret"], {}, transport=httpx.MockTransport(answer)
    )
    problems = post_alert(notifier, "refused", "no", bundle="prod.bundle")
    assert problems == ["https://alerts.example/…: answered HTTP 500"]


def test_a_changed_release_is_refused_as_locked(source: Source, site: Site, tmp_path: Path) -> None:
    from pipeline.errors import GateError

    source.release("hello", "1.0.0")
    bundle = tmp_path / "prod.bundle"
    source.export(bundle)
    site.repo.commit({"releases/hello/1.0.0/release.yaml": "something else\n"}, "local edit")
    with pytest.raises(GateError, match="a released version is locked"):
        import_bundle(site.request(bundle, deploy=False))


def test_resumed_import_through_the_cli(
    source: Source, site: Site, tmp_path: Path, run_cli: RunCli
) -> None:
    source.release("hello", "1.0.0")
    bundle = tmp_path / "prod.bundle"
    source.export(bundle)
    assert run_cli(cli, *site.argv(bundle)).code == 0
    again = run_cli(cli, *site.argv(bundle))
    assert again.code == 0 and "already committed; resuming" in again.out
