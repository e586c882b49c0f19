"""`sync`: install, check, activate, roll back, disable, remove: real packages, real processes."""

from __future__ import annotations

import gzip
import http.server
import io
import tarfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_agent_support import FAIL, Site, environment, state
from waiting import DEADLINE

from pipeline.agent import PluginStore, sync
from pipeline.agent.switch import require_healthy
from pipeline.errors import CombinedInputError, GateError, InputError
from pipeline.models.agent import AgentStatus

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def clock() -> datetime:
    return NOW


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path)


def test_first_sync_installs_checks_and_activates(site: Site) -> None:
    digest = site.want("hello", "1.0.0")
    result = sync(site.env_dir, site.store, clock=clock)
    assert result.ok and result.exit_code == 0
    outcome = result.plugin("hello")
    assert (outcome.action, outcome.healthy, outcome.observed_version) == (
        "installed",
        True,
        "1.0.0",
    )
    assert site.active_version("hello") == "1.0.0"
    link = site.store.active_link("hello")
    assert link.is_symlink() and not Path(link.readlink()).is_absolute()
    assert site.store.active_target("hello") == site.store.version_dir("hello", "1.0.0", digest)
    status = site.store.read_status()
    assert status is not None and status.ok and status.environment == "prod"
    entry = status.plugins["hello"]
    assert (entry.observed_version, entry.observed_digest, entry.healthy) == ("1.0.0", digest, True)
    assert entry.checks[0].checked_at == NOW and "exited 0" in entry.checks[0].detail
    assert not any(site.store.staging_dir.iterdir())


def test_second_sync_with_nothing_new_does_nothing(site: Site) -> None:
    site.want("hello", "1.0.0")
    sync(site.env_dir, site.store, clock=clock)
    before = site.store.status_path.stat().st_mtime_ns, site.store.active_link("hello").lstat()
    result = sync(site.env_dir, site.store, clock=clock)
    assert result.ok and [p.action for p in result.plugins] == ["unchanged"]
    assert site.store.active_link("hello").lstat().st_ino == before[1].st_ino


def test_upgrade_switches_the_link_and_keeps_the_old_version(site: Site) -> None:
    old = site.want("hello", "1.0.0")
    sync(site.env_dir, site.store, clock=clock)
    site.want("hello", "1.1.0")
    outcome = sync(site.env_dir, site.store, clock=clock).plugin("hello")
    assert outcome.action == "installed" and "1.0.0 -> 1.1.0" in outcome.message
    assert site.active_version("hello") == "1.1.0"
    assert site.store.is_installed("hello", "1.0.0", old)


def test_failed_health_check_keeps_the_working_version(site: Site) -> None:
    site.want("hello", "1.0.0")
    sync(site.env_dir, site.store, clock=clock)
    bad = site.package("hello", "2.0.0", command=FAIL)
    site.write_state(state("hello", "2.0.0", bad))
    result = sync(site.env_dir, site.store, clock=clock)
    outcome = result.plugin("hello")
    assert not result.ok and result.exit_code == 1
    assert (outcome.action, outcome.healthy, outcome.observed_version) == (
        "rolled-back",
        False,
        "1.0.0",
    )
    assert "database unreachable" in outcome.message and "kept 1.0.0 active" in outcome.message
    assert site.active_version("hello") == "1.0.0"
    status = site.store.read_status()
    assert status is not None and not status.ok and "2.0.0 failed" in (status.last_error or "")
    entry = status.plugins["hello"]
    assert (entry.desired_version, entry.observed_version, entry.healthy) == (
        "2.0.0",
        "1.0.0",
        False,
    )
    assert entry.last_action == "rolled-back"
    # the failed version is installed (kept for inspection) and tried again next time
    again = sync(site.env_dir, site.store, clock=clock).plugin("hello")
    assert again.action == "rolled-back" and site.active_version("hello") == "1.0.0"


def test_failed_health_check_without_a_previous_version_leaves_it_inactive(site: Site) -> None:
    bad = site.package("hello", "1.0.0", command=FAIL)
    site.write_state(state("hello", "1.0.0", bad))
    outcome = sync(site.env_dir, site.store, clock=clock).plugin("hello")
    assert (outcome.action, outcome.observed_version) == ("failed", None)
    assert site.active_version("hello") is None


def test_health_command_timeout_is_a_failure(site: Site) -> None:
    slow = site.package(
        "slow", "1.0.0", command=["python3", "-c", "import time; time.sleep(3600)"], timeout=1
    )
    site.write_state(state("slow", "1.0.0", slow))
    started = datetime.now(UTC)
    outcome = sync(site.env_dir, site.store, clock=clock, health_timeout=0.5).plugin("slow")
    assert (datetime.now(UTC) - started).total_seconds() < DEADLINE  # it did not wait an hour
    assert outcome.action == "failed" and "did not finish within 0.5s" in outcome.message


def test_health_command_runs_in_the_version_folder_without_secrets(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret")
    probe = ["python3", "-c", "import os, sys; sys.exit(0 if os.path.isfile('dist/main.py') "
             "and os.environ['POWERX_PLUGIN_VERSION'] == '1.0.0' "
             "and 'GITHUB_TOKEN' not in os.environ else 1)"]  # fmt: skip
    digest = site.package("cwd", "1.0.0", command=probe)
    site.write_state(state("cwd", "1.0.0", digest))
    assert sync(site.env_dir, site.store, clock=clock).plugin("cwd").healthy is True


class _Host(http.server.BaseHTTPRequestHandler):
    """A stand-in for the host: it serves the *active* version of plugin `web`, which is
    healthy when that version ships dist/ready."""

    store: PluginStore

    def do_GET(self) -> None:
        ready = (self.store.active_link("web") / "dist" / "ready").is_file()
        self.send_response(200 if self.path == "/healthz" and ready else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def host(site: Site) -> Iterator[int]:
    handler = type("Handler", (_Host,), {"store": site.store})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_http_check_runs_after_activation_and_rolls_back(site: Site, host: int) -> None:
    check = {"path": "/healthz", "port": host}
    good = site.package("web", "1.0.0", http=check, files={"ready": ""})
    site.write_state(state("web", "1.0.0", good, enabled=False))
    outcome = sync(site.env_dir, site.store, clock=clock).plugin("web")
    # inactive, nothing can answer yet: the check waits for the activation
    assert (outcome.action, outcome.healthy) == ("disabled", None) and outcome.ok
    assert "deferred" in outcome.message
    assert require_healthy(site.store, "prod", "web", "1.0.0", good).healthy is None

    site.write_state(state("web", "1.0.0", good))
    outcome = sync(site.env_dir, site.store, clock=clock).plugin("web")
    assert outcome.action == "installed" and f":{host}/healthz: 200" in outcome.message
    assert sync(site.env_dir, site.store, clock=clock).plugin("web").action == "unchanged"

    bad = site.package("web", "1.1.0", http=check, timeout=1)
    site.write_state(state("web", "1.1.0", bad))
    outcome = sync(site.env_dir, site.store, clock=clock).plugin("web")
    assert outcome.action == "rolled-back" and "HTTP 503 within 1s" in outcome.message
    assert site.active_version("web") == "1.0.0"
    with pytest.raises(GateError, match="its health check failed"):
        require_healthy(site.store, "prod", "web", "1.1.0", bad)
    # not tried again by itself: that would switch the host to a failing version each time
    outcome = sync(site.env_dir, site.store, clock=clock).plugin("web")
    assert outcome.action == "rolled-back" and "--retry-failed" in outcome.message
    assert site.active_version("web") == "1.0.0"
    outcome = sync(site.env_dir, site.store, clock=clock, retry_failed=True).plugin("web")
    assert outcome.action == "rolled-back" and "HTTP 503 within 1s" in outcome.message


def test_http_check_with_nothing_listening(site: Site) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    digest = site.package("web", "1.0.0", http={"path": "/healthz", "port": port}, timeout=1)
    site.write_state(state("web", "1.0.0", digest))
    outcome = sync(site.env_dir, site.store, clock=clock).plugin("web")
    assert outcome.action == "failed" and "ConnectError" in outcome.message
    assert site.active_version("web") is None


def test_canary_resolution_per_tenant(site: Site) -> None:
    stable = site.package("hello", "1.0.0")
    canary = site.package("hello", "1.1.0")
    site.write_environment(environment(tenants=("acme", "globex"), groups={"canary": ["globex"]}))
    site.write_state(
        state(
            "hello",
            "1.0.0",
            stable,
            canary={
                "version": "1.1.0",
                "digest": canary,
                "weight": 0,
                "step": 0,
                "group": "canary",
                "startedAt": "2026-11-24T10:00:00Z",
                "stepStartedAt": "2026-11-24T10:00:00Z",
            },
        )
    )
    on_canary = PluginStore(site.root / "store-globex")
    on_stable = PluginStore(site.root / "store-acme")
    for store in (on_canary, on_stable):
        for digest in (stable, canary):
            store.artifacts.put(site.store.artifacts.object_path(digest))
    first = sync(site.env_dir, on_canary, tenant="globex", clock=clock)
    assert first.plugin("hello").observed_version == "1.1.0" and "(canary)" in (
        first.plugin("hello").message
    )
    second = sync(site.env_dir, on_stable, tenant="acme", clock=clock)
    assert second.plugin("hello").observed_version == "1.0.0"
    status = on_canary.read_status()
    assert status is not None and status.tenant == "globex"
    with pytest.raises(InputError, match="tenant 'nobody' is not a tenant"):
        sync(site.env_dir, on_stable, tenant="nobody")


def test_disable_keeps_the_files_and_enable_brings_it_back(site: Site) -> None:
    digest = site.want("hello", "1.0.0")
    sync(site.env_dir, site.store, clock=clock)
    site.want("hello", "1.0.0", enabled=False)
    outcome = sync(site.env_dir, site.store, clock=clock).plugin("hello")
    assert (outcome.action, outcome.observed_version) == ("disabled", None)
    assert site.active_version("hello") is None
    assert site.store.is_installed("hello", "1.0.0", digest)
    assert sync(site.env_dir, site.store, clock=clock).plugin("hello").action == "unchanged"
    site.want("hello", "1.0.0")
    outcome = sync(site.env_dir, site.store, clock=clock).plugin("hello")
    assert outcome.action == "installed" and site.active_version("hello") == "1.0.0"


def test_a_disabled_new_plugin_is_installed_and_checked_but_not_active(site: Site) -> None:
    site.want("fresh", "1.0.0", enabled=False)
    result = sync(site.env_dir, site.store, clock=clock)
    assert result.ok and result.plugin("fresh").healthy is True
    status = site.store.read_status()
    assert status is not None and status.plugins["fresh"].healthy is True
    assert site.active_version("fresh") is None


def test_plugins_no_longer_in_the_environment_are_deactivated(site: Site) -> None:
    site.want("hello", "1.0.0")
    site.want("other", "1.0.0")
    sync(site.env_dir, site.store, clock=clock)
    site.drop("other")
    result = sync(site.env_dir, site.store, clock=clock)
    assert result.plugin("other").action == "removed" and result.ok
    assert site.active_version("other") is None and site.active_version("hello") == "1.0.0"
    status = site.store.read_status()
    assert status is not None and "other" not in status.plugins
    assert [p.name for p in sync(site.env_dir, site.store, clock=clock).plugins] == ["hello"]


def test_missing_artifact_names_plugin_version_digest_and_the_fix(site: Site) -> None:
    site.want("hello", "1.0.0")
    sync(site.env_dir, site.store, clock=clock)
    missing = site.package("hello", "1.1.0", store=False)
    site.write_state(state("hello", "1.1.0", missing))
    result = sync(site.env_dir, site.store, clock=clock)
    outcome = result.plugin("hello")
    assert result.exit_code == 1 and outcome.action == "failed"
    assert f"hello 1.1.0: artifact sha256:{missing} is not in the plugin store" in outcome.message
    assert "powerx plugin import --offline" in outcome.message
    assert outcome.observed_version == "1.0.0" and site.active_version("hello") == "1.0.0"


def test_digest_mismatch_in_the_store_is_refused(site: Site) -> None:
    digest = site.want("hello", "1.0.0")
    obj = site.store.artifacts.object_path(digest)
    obj.chmod(0o644)
    data = bytearray(obj.read_bytes())
    data[len(data) // 2] ^= 0xFF
    obj.write_bytes(bytes(data))
    outcome = sync(site.env_dir, site.store, clock=clock).plugin("hello")
    assert outcome.action == "failed" and "refused" in outcome.message
    assert f"not {digest}" in outcome.message
    assert not site.store.is_installed("hello", "1.0.0", digest)
    assert site.active_version("hello") is None


def test_package_naming_another_plugin_is_refused(site: Site) -> None:
    other = site.package("other", "1.0.0")
    site.write_state(state("hello", "1.0.0", other))
    outcome = sync(site.env_dir, site.store, clock=clock).plugin("hello")
    assert outcome.action == "failed" and "holds other 1.0.0" in outcome.message
    assert not (site.store.plugins_dir / "hello").exists()


def _entry(
    name: str, kind: bytes = tarfile.REGTYPE, link: str = "", size: int = 3
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, size if kind == tarfile.REGTYPE else 0
    return info


@pytest.mark.parametrize(
    ("members", "refusal"),
    [
        ([_entry("../../escaped.txt")], "climbs out with '..'"),
        ([_entry("/tmp/escaped.txt")], "is an absolute path"),
        ([_entry("dist/link", tarfile.SYMTYPE, "/etc/passwd")], "is a symbolic link"),
        ([_entry("dist/hard", tarfile.LNKTYPE, "plugin.yaml")], "is a hard link"),
        ([_entry("dist/bomb", size=8 * 1024**2)], "decompression bomb"),
    ],
    ids=["dotdot", "absolute", "symlink", "hardlink", "bomb"],
)
def test_archive_escapes_are_refused_by_the_packaging_rules(
    site: Site, tmp_path: Path, members: list[tarfile.TarInfo], refusal: str
) -> None:
    evil = tmp_path / "evil.pxp"
    with (
        evil.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w") as tar,
    ):
        for info in members:
            if info.size > 1024**2:  # a bomb: zeros, 1000x smaller compressed
                tar.addfile(info, _Zeros(info.size))
            else:
                tar.addfile(info, io.BytesIO(b"pwn") if info.isreg() else None)
    digest = site.store.artifacts.put(evil).sha256
    site.write_state(state("evil", "1.0.0", digest))
    limit = 1024**2  # the site's limit on a package's decompressed size (default 2 GiB)
    outcome = sync(site.env_dir, site.store, clock=clock, max_package_bytes=limit).plugin("evil")
    assert outcome.action == "failed" and refusal in outcome.message
    assert not list(tmp_path.rglob("escaped.txt"))
    assert not (site.store.plugins_dir / "evil").exists()
    assert not any(site.store.staging_dir.iterdir())


class _Zeros(io.RawIOBase):
    """`size` zero bytes, streamed (the bomb is never held in memory)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        count = min(len(buffer), self.left)
        buffer[:count] = bytes(count)
        self.left -= count
        return count


def test_invalid_environment_changes_nothing(site: Site) -> None:
    site.want("hello", "1.0.0")
    sync(site.env_dir, site.store, clock=clock)
    site.want("hello", "1.1.0")
    (site.env_dir / "plugins" / "broken.yaml").write_text(
        "apiVersion: powerx.io/v1alpha1\nkind: PluginState\nplugin: broken\nversoin: 1.0.0\n"
    )
    (site.env_dir / "plugins" / "named.yaml").write_text(
        (site.env_dir / "plugins" / "hello.yaml").read_text()
    )
    with pytest.raises(CombinedInputError) as caught:
        sync(site.env_dir, site.store, clock=clock)
    text = caught.value.diagnostics()
    assert "broken.yaml:4:1: unknown field 'versoin'" in text
    assert "named.yaml" in text and "rename it to hello.yaml" in text
    assert site.active_version("hello") == "1.0.0"


def test_missing_environment_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"environment\.yaml does not exist"):
        sync(tmp_path / "nowhere", PluginStore(tmp_path / "store"))


def test_damaged_status_file_is_rebuilt(site: Site) -> None:
    site.want("hello", "1.0.0")
    sync(site.env_dir, site.store, clock=clock)
    site.store.status_path.write_text("{not json")
    with pytest.raises(InputError, match="status file is not valid"):
        site.store.read_status()
    result = sync(site.env_dir, site.store, clock=clock)
    assert result.ok and result.plugin("hello").action == "installed"
    status = AgentStatus.model_validate_json(site.store.status_path.read_text())
    assert status.plugins["hello"].observed_version == "1.0.0"


def test_a_second_sync_waits_for_the_lock_and_is_told(site: Site) -> None:
    site.want("hello", "1.0.0")
    waited: list[str] = []
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with site.store.locked():
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(10)
    timer = threading.Timer(0.3, release.set)
    timer.start()
    result = sync(site.env_dir, site.store, clock=clock, on_wait=lambda: waited.append("x"))
    holder.join()
    assert waited == ["x"] and result.ok


def test_leftovers_of_a_killed_sync_are_cleaned(site: Site) -> None:
    site.want("hello", "1.0.0")
    sync(site.env_dir, site.store, clock=clock)
    leftovers = [
        site.store.active_dir / ".hello.999.tmp",
        site.store.plugins_dir / "hello" / ".1.1.0-abc.xyz.tmp",
        site.store.staging_dir / "sync-dead",
    ]
    leftovers[0].symlink_to("nowhere")
    leftovers[1].mkdir()
    leftovers[2].mkdir(parents=True)
    assert sync(site.env_dir, site.store, clock=clock).ok
    assert not any(path.exists() or path.is_symlink() for path in leftovers)
