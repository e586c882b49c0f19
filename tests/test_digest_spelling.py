"""One digest spelling: `sha256:<hex>` and bare hex are read everywhere, bare hex is kept.

Release manifests, plugin states (and their canaries), agent status files and bundle
manifests accept both spellings; upper-case hex, a wrong length or another algorithm is
refused with the reason and the file:line. What `px-plugin pack` prints can be pasted into
`artifact.sha256`, as docs/cli.md says.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT, REPORTS, Repo
from factories import bundle, digest_of, plugin_state, release, yaml_text

from pipeline.bundle.manifest import parse_manifest
from pipeline.cli.powerx import cli
from pipeline.errors import InputError
from pipeline.models import PluginState, Release, parse_document
from pipeline.models.agent import AgentStatus
from pipeline.models.digest import digest_text, parse_sha256
from pipeline.store.base import cas_uri, check_sha256

HEX = digest_of("hello", "1.0.0")
BAD = {
    HEX.upper(): "write the hex digits in lower case",
    "sha256:" + HEX.upper(): "write the hex digits in lower case",
    HEX[:-1]: "this one has 63",
    HEX + "0": "this one has 65",
    "sha512:" + HEX + HEX: "'sha512' is not accepted",
    "md5:" + HEX[:32]: "'md5' is not accepted",
    "sha256:" + "g" * 64: "this is not hex",
}


def test_the_parser() -> None:
    assert parse_sha256(HEX) == parse_sha256("sha256:" + HEX) == HEX
    assert digest_text(HEX) == digest_text("sha256:" + HEX) == "sha256:" + HEX
    for text, reason in BAD.items():
        with pytest.raises(ValueError, match=reason):
            parse_sha256(text)


def _release_yaml(digest: str) -> str:
    data = release()
    data["artifact"]["sha256"] = digest
    return yaml_text(data)


def _state_yaml(digest: str, canary: str | None = None) -> str:
    data: dict[str, Any] = plugin_state(digest=digest)
    if canary is not None:
        data["canary"] = {
            "version": "1.1.0",
            "digest": canary,
            "weight": 10,
            "step": 0,
            "startedAt": "2026-11-24T12:00:00Z",
            "stepStartedAt": "2026-11-24T12:00:00Z",
        }
    return yaml_text(data)


def _line_of(text: str, key: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.strip().startswith(key))


@pytest.mark.parametrize("spelling", [HEX, "sha256:" + HEX])
def test_release_and_state_files_read_both_spellings(spelling: str) -> None:
    path = "releases/hello/1.0.0/release.yaml"
    manifest = parse_document(_release_yaml(spelling).encode(), path, Release)
    assert manifest.artifact.sha256 == HEX
    state = parse_document(
        _state_yaml(spelling, canary=spelling).encode(), "environments/test/plugins/hello.yaml",
        PluginState,
    )  # fmt: skip
    assert state.digest == HEX and state.canary is not None and state.canary.digest == HEX
    # what we write back is the bare hex, the spelling of every committed file
    assert state.model_dump(mode="json")["digest"] == HEX


@pytest.mark.parametrize(("text", "reason"), list(BAD.items()))
def test_bad_digests_are_refused_with_file_line_and_reason(text: str, reason: str) -> None:
    path = "releases/hello/1.0.0/release.yaml"
    raw = _release_yaml(text)
    with pytest.raises(InputError) as refused:
        parse_document(raw.encode(), path, Release)
    error = refused.value
    assert error.message.startswith("artifact.sha256: a sha256 digest is 64 lower-case hex")
    assert reason in error.message
    assert error.location is not None and error.location.path == path
    assert error.location.line == _line_of(raw, "sha256:")
    state_path = "environments/prod/plugins/hello.yaml"
    state = _state_yaml(HEX, canary=text)
    with pytest.raises(InputError) as refused:
        parse_document(state.encode(), state_path, PluginState)
    assert refused.value.message.startswith("canary.digest: a sha256 digest")
    assert refused.value.location is not None
    canary_line = [n for n, line in enumerate(state.splitlines(), 1) if "digest:" in line][-1]
    assert (refused.value.location.path, refused.value.location.line) == (state_path, canary_line)


def test_agent_status_and_bundle_manifests_read_both_spellings() -> None:
    status = {
        "apiVersion": "powerx.io/v1alpha1",
        "kind": "AgentStatus",
        "environment": "prod",
        "lastSync": "2026-11-24T12:00:00Z",
        "ok": True,
        "plugins": {
            "hello": {
                "desiredVersion": "1.0.0",
                "desiredDigest": "sha256:" + HEX,
                "enabled": True,
                "observedDigest": HEX,
                "lastAction": "unchanged",
            }
        },
    }
    parsed = parse_document(json.dumps(status).encode(), "status.json", AgentStatus)
    assert parsed.plugins["hello"].desired_digest == parsed.plugins["hello"].observed_digest == HEX
    manifest = {
        "apiVersion": "powerx.io/v1alpha1",
        "kind": "OfflineBundle",
        "format": 1,
        "environment": "prod",
        "sequence": 1,
        "created": "2026-11-24T12:00:00Z",
        "expires": "2026-12-24T12:00:00Z",
        "source": {"repo": "site", "commit": "a" * 40},
        "releases": [
            {
                "plugin": "hello",
                "version": "1.0.0",
                "artifact": "sha256:" + HEX,
                "role": "deployed",
                "included": True,
            }
        ],
        "files": [{"path": "artifacts/hello-1.0.0.pxp", "sha256": "sha256:" + HEX, "size": 3}],
    }
    read = parse_manifest(json.dumps(manifest).encode())
    assert read.releases[0].artifact == read.files[0].sha256 == HEX
    manifest["files"][0]["sha256"] = HEX.upper()  # type: ignore[index]
    with pytest.raises(InputError, match="lower case"):
        parse_manifest(json.dumps(manifest).encode())


def test_the_store_uses_the_same_parser() -> None:
    assert cas_uri("sha256:" + HEX) == cas_uri(HEX) == f"cas:sha256:{HEX}"
    with pytest.raises(InputError, match="lower case"):
        check_sha256(HEX.upper())


def test_what_pack_prints_pastes_into_artifact_sha256(tmp_path: Path) -> None:
    plugin = tmp_path / "hello-world"
    shutil.copytree(
        PROJECT / "examples" / "hello-world",
        plugin,
        ignore=shutil.ignore_patterns("build", "dist", "*.pxp"),
    )
    tool = Path(sys.executable).parent / "px-plugin"
    for command in (["build"], ["pack", "-o", str(tmp_path / "out")]):
        done = subprocess.run(
            [str(tool), *command, str(plugin)], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
    printed = done.stdout.splitlines()[1]  # docs/cli.md: "the second line ... for artifact.sha256"
    assert printed.startswith("sha256:")
    pasted = parse_document(_release_yaml(printed).encode(), "release.yaml", Release)
    package = next((tmp_path / "out").glob("*.pxp"))
    assert pasted.artifact.sha256 == hashlib.sha256(package.read_bytes()).hexdigest()


def test_promote_and_check_agree_across_spellings(run_cli: Any, release_repo: Repo) -> None:
    """A manifest written `sha256:<hex>` promotes to a bare-hex state, and check passes."""
    release_repo.git("checkout", "-q", "main")
    folder = "releases/hello/1.0.0"
    release_repo.commit(
        {
            f"{folder}/release.yaml": _release_yaml("sha256:" + HEX),
            f"{folder}/hello-1.0.0.pxp.sigstore.json": bundle("hello", "1.0.0"),
            **{
                f"{folder}/evidence/{name}": (REPORTS / "passing" / name).read_bytes()
                for name in ("coverage.json", "junit.xml", "bandit.sarif")
            },
        },
        "Publish hello 1.0.0",
    )
    repo = ["--repo", str(release_repo.path)]
    moved = run_cli(cli, "promote", "hello@1.0.0", "--to", "test", "--operator", "ada", *repo)
    assert moved.code == 0, moved.err
    written = release_repo.git("show", "main:environments/test/plugins/hello.yaml")
    assert f"digest: {HEX}" in written.splitlines()
    assert f"digest: sha256:{HEX}" in release_repo.git("log", "-1", "--format=%B")
    checked = run_cli(cli, "check", "--all", *repo)
    assert checked.code == 0, checked.out + checked.err
