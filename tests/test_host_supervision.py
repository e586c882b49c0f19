"""The local host supervises its plugins: crash loops, kills, refusals, Ctrl-C, the store.

A real `powerx host --max-restarts 2` runs real test plugins (tests/hostplugins.py). A
plugin's `/api/crash` kills it and leaves a crash file behind, so every restart of it exits
at once; a plugin's process is found (and killed) through /proc.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hostplugins import (
    Answer,
    ServerProcess,
    install,
    listening_addresses,
    plugin_processes,
    request,
    run,
    set_greeting,
    stop_host,
    write_plugin,
)
from waiting import wait_until

READ, SECRETS = "tenant-data:read", "secrets:read"


@dataclass
class Supervised:
    """A running host with --max-restarts 2, its store and its plugin folders."""

    url: str
    store: Path
    sources: Path
    server: ServerProcess

    def via(self, plugin: str, path: str = "") -> Answer:
        return request(f"{self.url}/t/acme/p/{plugin}/{path}")

    def item(self, plugin: str, tenant: str = "acme") -> dict[str, Any]:
        found: list[dict[str, Any]] = [
            p
            for p in self.server.status()["plugins"]
            if (p["tenant"], p["plugin"]) == (tenant, plugin)
        ]
        (item,) = found
        return item


@pytest.fixture(scope="module")
def sup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Supervised]:
    root = tmp_path_factory.mktemp("supervision")
    store, sources = root / "store", root / "src"
    for name in ("crashy", "steady", "killme", "follow", "drain"):
        install(write_plugin(sources, name), store, "acme", "--grant-declared")
    locked = write_plugin(sources, "locked", permissions=(READ, SECRETS))
    install(locked, store, "acme", "--grant-declared")
    revoke = ["powerx", "plugin", "revoke", "locked", SECRETS, "--tenant", "acme"]
    revoked = run([*revoke, "--plugin-store", str(store)])
    assert revoked.returncode == 0, revoked.stderr
    # a second tenant, which grants (and so runs) steady only
    grant = ["powerx", "plugin", "grant", "steady", READ, "--tenant", "globex"]
    granted = run([*grant, "--plugin-store", str(store)])
    assert granted.returncode == 0, granted.stderr
    argv = ["powerx", "host", "--plugin-store", str(store), "--port", "0", "--max-restarts", "2"]
    server = ServerProcess(argv)
    server.start()
    try:
        server.wait_for("following the store")
        yield Supervised(server.url, store, sources, server)
    finally:
        stop_host(server, store)


def test_a_crash_loop_is_marked_failed_after_its_budget_and_the_others_keep_serving(
    sup: Supervised,
) -> None:
    assert sup.via("crashy").status == 200
    crashed = sup.via("crashy", "api/crash")
    assert crashed.status == 502 and "crashy did not answer" in crashed.json()["message"]

    wait_until(lambda: sup.item("crashy")["state"] == "failed", "crashy marked failed")
    item = sup.item("crashy")
    assert item["restarts"] == 2
    assert "gave up after 2 restart(s)" in item["detail"]
    assert "crash file present: exiting at once" in item["detail"]  # its last log lines
    assert plugin_processes(sup.store, "crashy") == []

    refused = sup.via("crashy")
    assert refused.status == 503 and refused.json()["state"] == "failed"
    for plugin in ("steady", "killme", "follow"):
        assert sup.item(plugin)["state"] == "running"
        answer = sup.via(plugin, "still")
        assert answer.status == 200 and answer.body.endswith(b", acme! /still")


def test_a_killed_plugin_is_restarted_and_serves_again(sup: Supervised) -> None:
    (before,) = plugin_processes(sup.store, "killme")
    assert sup.via("killme").status == 200
    os.kill(before.pid, signal.SIGKILL)

    def restarted() -> bool:
        item = sup.item("killme")
        return bool(item["state"] == "running" and item["restarts"] == 1)

    wait_until(restarted, "killme restarted")
    assert sup.item("killme")["detail"] == "restarted 1 time(s)"
    (after,) = plugin_processes(sup.store, "killme")
    assert after.pid != before.pid and after.token != before.token
    answer = sup.via("killme", "again")
    assert (answer.status, answer.body) == (200, b"Hello, acme! /again")
    # the killed instance's token opens nothing any more; the new one's does
    old = request(f"{sup.url}/v1/tenant", headers={"Authorization": f"Bearer {before.token}"})
    new = request(f"{sup.url}/v1/tenant", headers={"Authorization": f"Bearer {after.token}"})
    assert (old.status, new.status) == (401, 200)


def test_a_plugin_whose_permission_is_not_granted_is_not_started_until_granted(
    sup: Supervised,
) -> None:
    item = sup.item("locked")
    assert item["state"] == "refused"
    grant = f"powerx plugin grant locked {SECRETS} --tenant acme --plugin-store {sup.store}"
    assert grant in item["detail"]
    assert f"'{SECRETS}'" in item["detail"]
    assert plugin_processes(sup.store, "locked") == []
    answer = sup.via("locked")
    assert answer.status == 503 and answer.json()["state"] == "refused"
    assert grant in answer.json()["message"]
    assert any(line.startswith("! acme/locked") for line in sup.server.lines)
    assert sup.via("steady").status == 200

    # the grant the detail names starts it, without restarting the host
    granted = run(grant.split())  # the very command the detail names
    assert granted.returncode == 0, granted.stderr
    wait_until(lambda: sup.item("locked")["state"] == "running", "locked started once granted")
    answer = sup.via("locked")
    assert (answer.status, answer.body) == (200, b"Hello, acme! /")
    assert len(plugin_processes(sup.store, "locked")) == 1
    assert sup.server.output.count("PowerX local host at") == 1


def test_the_host_follows_an_install_from_another_process(sup: Supervised) -> None:
    first = sup.via("follow")
    assert first.body == b"Hello, acme! /"
    set_greeting(sup.sources / "follow", "Bonjour")
    out = install(sup.sources / "follow", sup.store, "acme").stdout
    revision = out.split("installed follow ", 1)[1].split(" for tenant")[0]
    assert revision != first.headers["x-powerx-revision"]

    wait_until(lambda: sup.via("follow").body == b"Bonjour, acme! /", "the new greeting served")
    assert sup.via("follow").headers["x-powerx-revision"] == revision
    wait_until(lambda: len(plugin_processes(sup.store, "follow")) == 1, "the old instance gone")
    assert sup.item("follow")["revision"] == revision
    assert sup.server.process is not None and sup.server.process.poll() is None
    assert sup.server.output.count("PowerX local host at") == 1


def test_a_swap_lets_the_old_instance_finish_the_answer_it_is_giving(sup: Supervised) -> None:
    held, release = (sup.sources / "drain.crash.held", sup.sources / "drain.crash.release")
    answers: list[Answer | BaseException] = []

    def ask() -> None:
        try:
            answers.append(sup.via("drain", "api/hold"))
        except BaseException as error:  # the test reports it below
            answers.append(error)

    asking = threading.Thread(target=ask)
    asking.start()
    try:
        wait_until(held.exists, "the old instance holding a request")
        (old,) = plugin_processes(sup.store, "drain")
        set_greeting(sup.sources / "drain", "Hej")
        install(sup.sources / "drain", sup.store, "acme")
        wait_until(lambda: sup.via("drain").body == b"Hej, acme! /", "new requests on the new one")
        # the old instance is still there, answering the request it took before the swap
        assert old.pid in {p.pid for p in plugin_processes(sup.store, "drain")}
        assert not answers
        release.touch()
        asking.join(timeout=60)
        assert len(answers) == 1 and isinstance(answers[0], Answer), answers
        assert (answers[0].status, answers[0].body) == (200, b"released by Hello")
        wait_until(
            lambda: old.pid not in {p.pid for p in plugin_processes(sup.store, "drain")},
            "the old instance stopped once it was done",
        )
    finally:
        release.touch()
        asking.join(timeout=60)


def test_ctrl_c_stops_the_host_with_exit_0_and_no_plugin_process_left(tmp_path: Path) -> None:
    store = tmp_path / "store"
    folder = write_plugin(tmp_path / "src", "solo")
    for tenant in ("acme", "globex"):
        install(folder, store, tenant, "--grant-declared")
    server = ServerProcess(["powerx", "host", "--plugin-store", str(store), "--port", "0"])
    server.start()
    try:
        server.wait_for("following the store")
        running = plugin_processes(store)
        assert sorted(p.tenant for p in running) == ["acme", "globex"]
        assert (store / "host" / "host.json").is_file()
        assert server.interrupt() == 0
        assert plugin_processes(store) == []
        assert all(listening_addresses(p.port) == set() for p in running)
        assert not (store / "host" / "host.json").exists()
        assert server.lines[-1] == "stopped"
        assert "Traceback" not in server.output
    finally:
        stop_host(server, store)


def test_a_broken_tenant_yaml_does_not_stop_the_host_from_following_the_store(
    sup: Supervised,
) -> None:
    assert sup.item("steady", "globex")["state"] == "running"
    old_revision = sup.item("steady")["revision"]
    settings = sup.store / "tenants" / "globex" / "tenant.yaml"
    text = settings.read_text()
    settings.write_text(text + "grants: [oops\n")  # a hand edit half done
    try:
        set_greeting(sup.sources / "steady", "Salut")
        install(sup.sources / "steady", sup.store, "acme")
        wait_until(lambda: sup.via("steady").body == b"Salut, acme! /", "acme's new steady")
        line = sup.server.wait_for("! globex/steady")
        assert f"{settings}:" in line and "invalid YAML" in line
        # globex keeps its running version; the host is alive and serves both
        assert sup.server.process is not None and sup.server.process.poll() is None
        globex = request(f"{sup.url}/t/globex/p/steady/")
        assert (globex.status, globex.body) == (200, b"Hello, globex! /")
        assert globex.headers["x-powerx-revision"] == old_revision
        assert "Traceback" not in sup.server.output
    finally:
        settings.write_text(text)
