"""Offline bundles through a real registry (Debian's docker-registry, tests/registry.py):
`powerx export --to oci://...` and `powerx plugin import --offline --from oci://...`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from bundle_support import ENV, Site, Source, site_policy
from conftest import GIT_ENV, PROJECT, RunCli, git
from factories import PASSPHRASE, yaml_text
from registry import PASSWORD, USER, Registry
from registry_proxy import Behaviour, proxy
from waiting import DEADLINE

from pipeline.bundle.oci_import import INCOMING, PARTIAL_SUFFIX, WORKDIR_PREFIX
from pipeline.bundle.oci_layout import parse_oci_manifest
from pipeline.cli.offline import PAUSE_ENV
from pipeline.cli.powerx import cli
from pipeline.gitrepo import read_trailers
from pipeline.signing.keys import generate_keypair
from pipeline.store.oci.client import OCI_MANIFEST
from pipeline.store.oci.reference import OciReference
from pipeline.store.oci.store import OciStore, RegistryAccess

POWERX = PROJECT / ".venv" / "bin" / "powerx"


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Source:
    monkeypatch.setenv("PX_PASSPHRASE", PASSPHRASE.decode())
    return Source(tmp_path / "a")


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path / "b")


def _export(run_cli: RunCli, source: Source, location: str, *extra: str) -> dict[str, object]:
    result = run_cli(
        cli, "export", "--env", ENV, "--repo", str(source.repo.path), "--store",
        str(source.store), "--key", str(source.key), "--to", location, "--format", "json", *extra,
    )  # fmt: skip
    assert result.code == 0, result.err
    data: dict[str, object] = json.loads(result.out)
    return data


def _import_argv(site: Site, location: str, *extra: str) -> list[str]:
    return [
        "plugin", "import", "--offline", location, "--repo", str(site.repo.path),
        "--plugin-store", str(site.store), "--operator", "admin", *extra,
    ]  # fmt: skip


def _imports(site: Site) -> int:
    log = git(site.repo.path, "log", "--format=%B%x00")
    return sum(read_trailers(message).get("Action") == "import" for message in log.split("\0"))


def _blob(registry: Registry, sha256: str) -> Path:
    """Where docker-registry's filesystem driver keeps a blob's bytes."""
    return registry.storage / "docker/registry/v2/blobs/sha256" / sha256[:2] / sha256 / "data"


def test_round_trip_through_a_registry(
    registry: Registry, source: Source, site: Site, run_cli: RunCli
) -> None:
    hello = source.release("hello", "1.0.0")
    world = source.release("world", "1.0.0")
    location = registry.location("round-trip/bundles")
    pushed = _export(run_cli, source, location)
    assert pushed["to"] == f"{location}:{ENV}" and pushed["sent"] == pushed["size"]
    assert str(pushed["pinned"]).startswith(f"{location}@sha256:")
    again = _export(run_cli, source, f"{location}:again")  # a new index; the files are there
    artifacts = sum(_blob(registry, sha).stat().st_size for sha in (hello, world))
    assert 0 < int(str(again["sent"])) < int(str(again["size"])) - artifacts
    imported = run_cli(cli, *_import_argv(site, f"{location}:{ENV}"))
    assert imported.code == 0, imported.err
    assert "imported prod sequence" in imported.out and "2 artifact(s) in the store" in imported.out
    assert "pulled 11 blob(s)" in imported.err and "0 (0 bytes) were already here" in imported.err
    assert (site.store / "objects/sha256" / hello[:2] / hello).is_file()
    assert _imports(site) == 1 and site.active("hello") is not None
    assert not list((site.store / INCOMING).glob(f"{WORKDIR_PREFIX}*"))  # cleaned up
    # by digest, spelled as the registry issue does (--from): already imported, it resumes
    argv = _import_argv(site, "--from")
    argv.insert(argv.index("--from") + 1, str(pushed["pinned"]))
    pinned = run_cli(cli, *argv)
    assert pinned.code == 0 and "already committed; resuming" in pinned.out


def test_a_tampered_blob_is_refused_before_any_write(
    registry: Registry, source: Source, site: Site, run_cli: RunCli
) -> None:
    hello = source.release("hello", "1.0.0", padding=300_000)
    location = registry.location("tampered/bundles")
    _export(run_cli, source, location)
    blob = _blob(registry, hello)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))
    before = site.fingerprint()
    refused = run_cli(cli, *_import_argv(site, f"{location}:{ENV}"))
    assert refused.code == 1
    assert f"sha256 mismatch for {location}@sha256:{hello}" in refused.err
    assert site.fingerprint() == before and _imports(site) == 0
    logged = (site.store / INCOMING / "imports.jsonl").read_text().splitlines()[-1]
    assert json.loads(logged)["bundleFile"] == f"{location}:{ENV}"  # the location, whole


def test_a_listing_that_disagrees_with_the_signed_index_is_refused(
    registry: Registry, source: Source, site: Site, run_cli: RunCli
) -> None:
    source.release("hello", "1.0.0")
    location = registry.location("listing/bundles")
    _export(run_cli, source, location)
    client = RegistryAccess().client(OciReference.parse(location))
    data, _media_type, _digest = client.get_manifest(ENV)
    document = json.loads(data)
    extra = client.push_bytes(b"not in the signed index\n")
    document["layers"].append(
        {
            "mediaType": "application/vnd.powerx.bundle.file.v1",
            "digest": f"sha256:{extra}",
            "size": 24,
            "annotations": {"org.opencontainers.image.title": "environment/plugins/evil.yaml"},
        }
    )
    client.put_manifest(json.dumps(document).encode(), OCI_MANIFEST, "extra")
    before = site.fingerprint()
    refused = run_cli(cli, *_import_argv(site, f"{location}:extra"))
    assert refused.code == 1
    assert "entry 'environment/plugins/evil.yaml' is not listed in the signed manifest" in (
        refused.err
    )
    assert "pulled 2 blob(s)" in refused.err  # the index and its signature, nothing else
    assert site.fingerprint() == before
    parse_oci_manifest(data, location)  # the original listing is a bundle's


def test_an_untrusted_signer_is_refused_by_the_same_rule_as_a_file(
    registry: Registry, source: Source, tmp_path: Path, run_cli: RunCli
) -> None:
    source.release("hello", "1.0.0")
    location = registry.location("untrusted/bundles")
    _export(run_cli, source, location)
    stranger = Site(tmp_path / "c")
    stranger.repo.commit(
        {"policies/signing.yaml": yaml_text(site_policy(generate_keypair(PASSPHRASE)[1]))},
        "trust another exporter",
    )
    refused = run_cli(cli, *_import_argv(stranger, f"{location}:{ENV}"))
    assert refused.code == 1 and "the bundle's signature is not trusted" in refused.err
    assert "pulled 2 blob(s)" in refused.err


def test_not_a_bundle_and_bad_locations(
    registry: Registry, source: Source, site: Site, run_cli: RunCli
) -> None:
    source.release("hello", "1.0.0")
    location = registry.location("not-a-bundle/bundles")
    client = RegistryAccess().client(OciReference.parse(location))
    config = client.push_bytes(b"{}")
    plain = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": f"sha256:{config}",
                   "size": 2},
        "layers": [],
    }  # fmt: skip
    client.put_manifest(json.dumps(plain).encode(), OCI_MANIFEST, "plain")
    refused = run_cli(cli, *_import_argv(site, f"{location}:plain"))
    assert refused.code == 1 and "is not an offline bundle" in refused.err
    no_tag = run_cli(cli, *_import_argv(site, location))
    assert no_tag.code == 2 and "names no tag or digest" in no_tag.err
    missing = run_cli(cli, *_import_argv(site, str(site.root / "x.bundle")))
    assert missing.code == 2 and "no bundle file" in missing.err
    both = _import_argv(site, f"{location}:plain", "--from", f"{location}:plain")
    none = [a for a in _import_argv(site, "-") if a != "-"]
    for argv in (both, none):
        usage = run_cli(cli, *argv)
        assert usage.code == 2 and "give the BUNDLE to import" in usage.err
    neither = run_cli(
        cli, "export", "--env", ENV, "--repo", str(source.repo.path), "--key", str(source.key)
    )
    assert neither.code == 2 and "give exactly one of -o FILE and --to" in neither.err
    by_digest = run_cli(
        cli, "export", "--env", ENV, "--repo", str(source.repo.path), "--key", str(source.key),
        "--store", str(source.store), "--to", f"{location}@sha256:{'a' * 64}",
    )  # fmt: skip
    assert by_digest.code == 2 and "pushed under a tag, not a digest" in by_digest.err


def test_an_interrupted_pull_resumes_without_pulling_again(
    registry: Registry, source: Source, site: Site, tmp_path: Path, run_cli: RunCli
) -> None:
    source.release("hello", "1.0.0", padding=200_000)
    source.release("world", "1.0.0", padding=200_000)
    location = f"{registry.location('resume/bundles')}:{ENV}"
    _export(run_cli, source, location)
    env = {**os.environ, **GIT_ENV, "HOME": str(tmp_path), PAUSE_ENV: "pulling"}
    process = subprocess.Popen(
        [str(POWERX), *_import_argv(site, location)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == "paused pulling", line + (
        process.stderr.read() if process.stderr else ""
    )
    process.send_signal(signal.SIGKILL)  # after the index, its signature and one file
    process.wait(timeout=DEADLINE)
    work = list((site.store / INCOMING).glob(f"{WORKDIR_PREFIX}*"))
    kept = sorted(p for p in work[0].iterdir() if p.is_file())
    assert len(work) == 1 and len(kept) == 3
    assert _imports(site) == 0
    kept[0].write_bytes(kept[0].read_bytes()[:-1])  # damaged since: pulled again
    stale = site.store / INCOMING / f"{WORKDIR_PREFIX}{'0' * 64}"
    stale.mkdir()  # another bundle's leftovers: removed
    resumed = run_cli(cli, *_import_argv(site, location))
    assert resumed.code == 0, resumed.err
    assert "pulled 9 blob(s)" in resumed.err and "; 2 (" in resumed.err
    assert not stale.exists()
    assert "were already here, verified by an earlier pull" in resumed.err
    assert _imports(site) == 1 and not work[0].exists()


def test_export_takes_artifacts_from_a_registry_store(
    registry: Registry, source: Source, site: Site, tmp_path: Path, run_cli: RunCli
) -> None:
    source.release("hello", "1.0.0")
    artifacts = registry.location("from-store/artifacts")
    OciStore(OciReference.parse(artifacts), RegistryAccess()).put(
        source.root / "out" / "hello-1.0.0.pxp"
    )
    base = [
        "export", "--env", ENV, "--repo", str(source.repo.path), "--key", str(source.key),
        "--store", artifacts,
    ]  # fmt: skip
    bundle = tmp_path / "prod.bundle"
    written = run_cli(cli, *base, "-o", str(bundle))
    assert written.code == 0, written.err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".export-")]
    pushed = run_cli(cli, *base, "--to", registry.location("from-store/bundles"))
    assert pushed.code == 0, pushed.err
    imported = run_cli(cli, *_import_argv(site, str(bundle)))
    assert imported.code == 0, imported.err
    into = run_cli(cli, *base, "--to", f"{artifacts}:{ENV}", "--format", "json")
    assert into.code == 0, into.err  # into the artifacts' own repository: nothing fetched
    beside = json.loads(into.out)
    package = (source.root / "out" / "hello-1.0.0.pxp").stat().st_size
    assert int(str(beside["sent"])) <= int(str(beside["size"])) - package  # not sent again
    again = run_cli(cli, *_import_argv(site, f"{artifacts}:{ENV}"))
    assert again.code == 0, again.err
    missing = run_cli(cli, *base[:-1], registry.location("from-store/empty"), "-o", str(bundle))
    assert missing.code == 1 and "is not in any store or file given" in missing.err


def test_through_a_registry_with_credentials_and_a_private_ca(
    auth_registry: Registry,
    source: Source,
    site: Site,
    run_cli: RunCli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source.release("hello", "1.0.0")
    assert auth_registry.tls is not None
    access = ["--registry-credentials-env", "PX_SITE_REGISTRY"]
    access += ["--ca-file", str(auth_registry.tls.ca_file)]
    location = f"{auth_registry.location('auth/bundles')}:{ENV}"
    monkeypatch.setenv("PX_SITE_REGISTRY", f"{USER}:{PASSWORD}")
    _export(run_cli, source, location, *access)
    imported = run_cli(cli, *_import_argv(site, location, *access))
    assert imported.code == 0, imported.err
    monkeypatch.setenv("PX_SITE_REGISTRY", f"{USER}:not-the-password")
    refused = run_cli(cli, *_import_argv(site, location, *access))
    assert refused.code == 2 and "not-the-password" not in refused.out + refused.err
    assert "PX_SITE_REGISTRY" in refused.err
    assert not list((site.store / INCOMING).glob(f"{WORKDIR_PREFIX}*"))


def test_a_blob_cut_short_continues_from_its_bytes_on_the_next_run(
    registry: Registry, source: Source, site: Site, run_cli: RunCli
) -> None:
    big = source.release("hello", "1.0.0", padding=6_000_000)  # about 200 kB packed
    _export(run_cli, source, f"{registry.location('cut/bundles')}:{ENV}")
    size = _blob(registry, big).stat().st_size
    assert size > 150_000
    # the site's registry link breaks 100 kB into every blob larger than that (only the
    # artifact), and the registry (as some do) ignores Range: the run gives up, keeping
    # what it received
    stalling = Behaviour(cut_blob_after=100_000, cut_times=100, ignore_range=True)
    with proxy(registry.base, stalling) as broken:
        failed = run_cli(cli, *_import_argv(site, f"{broken.location('cut/bundles')}:{ENV}"))
    assert failed.code != 0 and "cannot reach the registry" in failed.err, failed.err
    [work] = (site.store / INCOMING).glob(f"{WORKDIR_PREFIX}*")
    partial = work / f"{big}{PARTIAL_SUFFIX}"
    held = partial.stat().st_size
    assert 0 < held < size and not (work / big).exists() and _imports(site) == 0

    healthy = Behaviour()
    with proxy(registry.base, healthy) as fine:
        resumed = run_cli(cli, *_import_argv(site, f"{fine.location('cut/bundles')}:{ENV}"))
    assert resumed.code == 0, resumed.err
    assert healthy.ranges == [f"bytes={held}-"]  # only the rest of the cut blob was asked for
    assert _imports(site) == 1 and not work.exists()
