"""Every refusal of `powerx plugin import --offline`: a clear message, an alert, exit 1, and
nothing changed in the site repo or its store."""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bundle_support import Site, Source, rewrite_bundle, site_policy
from conftest import PROJECT, RunCli
from factories import PASSPHRASE, yaml_text
from test_bundle_import import Webhook

from pipeline.bundle.importer import import_bundle
from pipeline.cli.powerx import cli
from pipeline.signing.keys import generate_keypair


@pytest.fixture
def source(tmp_path: Path) -> Source:
    return Source(tmp_path / "a")


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path / "b")


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


Refusal = Callable[[], None]


def assert_refused(
    site: Site, run_cli: object, webhook: Webhook, bundle: Path, pattern: str, *extra: str
) -> str:
    """Import must exit 1 naming `pattern`, post one alert, and change nothing."""
    before = site.fingerprint()
    result = run_cli(cli, *site.argv(bundle, "--alert-webhook", webhook.url, *extra))  # type: ignore[operator]
    assert result.code == 1, result.out + result.err
    assert pattern in result.err, result.err
    assert site.fingerprint() == before
    assert [alert["type"] for alert in webhook.received] == ["io.powerx.import.refused"]
    assert pattern in str(webhook.received[0]["data"]["text"])  # type: ignore[index]
    return str(result.err)


def _two_plugins(source: Source, tmp_path: Path) -> Path:
    source.release("hello", "1.0.0")
    source.release("world", "1.0.0")
    bundle = tmp_path / "good.bundle"
    source.export(bundle)
    return bundle


def test_flipped_byte_in_an_artifact(
    source: Source, site: Site, tmp_path: Path, run_cli: RunCli, webhook: Webhook
) -> None:
    good = _two_plugins(source, tmp_path)
    bad = tmp_path / "flipped.bundle"

    def flip(name: str, data: bytes) -> bytes:
        if name.startswith("artifacts/"):
            changed = bytearray(data)
            changed[len(changed) // 2] ^= 0x01
            return bytes(changed)
        return data

    rewrite_bundle(good, bad, change=flip)
    assert_refused(site, run_cli, webhook, bad, "checksum mismatch for artifacts/")


def test_swapped_signature_bundle(
    source: Source, site: Site, tmp_path: Path, run_cli: RunCli, webhook: Webhook
) -> None:
    source.release("hello", "1.0.0")
    source.release("world", "1.0.0")
    folder = source.repo.path / "releases"
    hello = folder / "hello" / "1.0.0" / "hello-1.0.0.pxp.sigstore.json"
    world = folder / "world" / "1.0.0" / "world-1.0.0.pxp.sigstore.json"
    source.repo.commit({str(hello.relative_to(source.repo.path)): world.read_bytes()}, "swap")
    bundle = tmp_path / "swapped.bundle"
    source.export(bundle)
    assert_refused(site, run_cli, webhook, bundle, "the signature of hello@1.0.0 does not hold")


def test_bundle_signed_by_an_untrusted_key(
    source: Source, site: Site, tmp_path: Path, run_cli: RunCli, webhook: Webhook
) -> None:
    source.release("hello", "1.0.0")
    stranger = tmp_path / "stranger.key"
    stranger.write_bytes(generate_keypair(PASSPHRASE)[0])
    bundle = tmp_path / "stranger.bundle"
    source.export(bundle, key=stranger)
    assert_refused(site, run_cli, webhook, bundle, "the bundle's signature is not trusted")


def test_site_without_bundle_signers_trusts_no_bundle(
    source: Source, site: Site, tmp_path: Path, run_cli: RunCli, webhook: Webhook
) -> None:
    source.release("hello", "1.0.0")
    bundle = tmp_path / "good.bundle"
    source.export(bundle)
    policy = site_policy()
    del policy["bundles"]
    site.repo.commit({"policies/signing.yaml": yaml_text(policy)}, "no bundle signers")
    assert_refused(site, run_cli, webhook, bundle, "trusts no bundle signer")


def test_replayed_older_bundle(
    source: Source, site: Site, tmp_path: Path, run_cli: RunCli, webhook: Webhook
) -> None:
    source.release("hello", "1.0.0")
    older = tmp_path / "older.bundle"
    source.export(older, now=datetime.now(UTC) - timedelta(hours=1))
    newer = tmp_path / "newer.bundle"
    source.export(newer)
    assert import_bundle(site.request(newer, deploy=False)).commit
    assert_refused(site, run_cli, webhook, older, "anti-rollback: bundle sequence")


def test_expired_bundle(
    source: Source, site: Site, tmp_path: Path, run_cli: RunCli, webhook: Webhook
) -> None:
    source.release("hello", "1.0.0")
    bundle = tmp_path / "expired.bundle"
    source.export(bundle, now=datetime.now(UTC) - timedelta(days=2), valid_for=timedelta(days=1))
    assert_refused(site, run_cli, webhook, bundle, "the bundle expired at")


def test_missing_dependency(
    source: Source, site: Site, tmp_path: Path, run_cli: RunCli, webhook: Webhook
) -> None:
    source.release("base", "1.0.0", deploy=False)
    source.release("app", "1.0.0", dependencies={"base": ">=1.0"})
    source.release("app", "1.1.0", dependencies={"base": ">=1.0"})
    bundle = tmp_path / "inc.bundle"  # cut against a revision the site never imported
    source.export(bundle, since="HEAD~1")
    err = assert_refused(site, run_cli, webhook, bundle, "missing dependencies")
    assert "base >=1.0 (needed by app@1.1.0)" in err
    assert "export again without --since" in err


def test_incompatible_host_version(
    source: Source, site: Site, tmp_path: Path, run_cli: RunCli, webhook: Webhook
) -> None:
    good = _two_plugins(source, tmp_path)
    err = assert_refused(
        site, run_cli, webhook, good, "hello@1.0.0 runs on powerx >=2.4,<3, this host is 3.1.0",
        "--host-version", "3.1.0",
    )  # fmt: skip
    assert "upgrade the host" in err


def test_expired_licence(
    source: Source, site: Site, tmp_path: Path, run_cli: RunCli, webhook: Webhook
) -> None:
    source.release("hello", "1.0.0", license="LicenseRef-Acme-Commercial")
    entitlement = {
        "apiVersion": "powerx.io/v1alpha1",
        "kind": "Entitlement",
        "plugin": "hello",
        "licensee": "Example Bank",
        "notAfter": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
    }
    source.repo.commit({"entitlements/hello.yaml": yaml_text(entitlement)}, "licence")
    bundle = tmp_path / "licensed.bundle"
    source.export(bundle)
    err = assert_refused(
        site, run_cli, webhook, bundle, "the entitlement for hello (Example Bank) expired"
    )
    assert "entitlements/<plugin>.yaml" in err


def test_missing_licence(
    source: Source, site: Site, tmp_path: Path, run_cli: RunCli, webhook: Webhook
) -> None:
    source.release("hello", "1.0.0", license="LicenseRef-Acme-Commercial")
    bundle = tmp_path / "unlicensed.bundle"
    source.export(bundle)
    assert_refused(
        site,
        run_cli,
        webhook,
        bundle,
        "hello@1.0.0 (LicenseRef-Acme-Commercial) has no entitlement",
    )


def _entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, 0 if kind != tarfile.REGTYPE else 4
    return info


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (_entry("environment/../../evil.sh"), "climbs out with '..'"),
        (_entry("/etc/cron.d/evil"), "is an absolute path"),
        (_entry("environment/link", tarfile.SYMTYPE, "/etc/passwd"), "is a symbolic link"),
        (_entry("environment/hard", tarfile.LNKTYPE, "bundle.json"), "is a hard link"),
        (_entry("environment/unlisted.yaml"), "is not listed in the signed manifest"),
    ],
    ids=["dotdot", "absolute", "symlink", "hardlink", "unlisted"],
)
def test_escaping_archive_entries(
    source: Source,
    site: Site,
    tmp_path: Path,
    run_cli: RunCli,
    webhook: Webhook,
    entry: tarfile.TarInfo,
    message: str,
) -> None:
    good = _two_plugins(source, tmp_path)
    bad = tmp_path / "escaping.bundle"
    rewrite_bundle(good, bad, insert=[entry])
    assert_refused(site, run_cli, webhook, bad, message)
    assert not (tmp_path / "evil.sh").exists()


def test_decompression_bomb(
    source: Source, site: Site, tmp_path: Path, run_cli: RunCli, webhook: Webhook
) -> None:
    bomb = tmp_path / "bomb.bundle"
    size = 24 * 1024 * 1024
    with gzip.open(bomb, "wb", compresslevel=1) as out, tarfile.open(fileobj=out, mode="w|") as tar:
        info = tarfile.TarInfo("bundle.json")
        info.size = size
        tar.addfile(info, _Zeros(size))
    assert bomb.stat().st_size < 200 * 1024
    assert_refused(site, run_cli, webhook, bomb, "over the limit")


class _Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = min(len(buffer), self.left)
        buffer[:count] = bytes(count)
        self.left -= count
        return count

    def readable(self) -> bool:
        return True


def test_truncated_bundle(
    source: Source, site: Site, tmp_path: Path, run_cli: RunCli, webhook: Webhook
) -> None:
    good = _two_plugins(source, tmp_path)
    cut = tmp_path / "cut.bundle"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert_refused(site, run_cli, webhook, cut, "the bundle")
    assert PROJECT.exists()


def test_a_release_the_manifest_does_not_include(
    source: Source, site: Site, tmp_path: Path, run_cli: RunCli, webhook: Webhook
) -> None:
    """Even a trusted exporter cannot slip in a release folder whose signature is unchecked."""
    import hashlib
    import json

    from factories import PASSPHRASE as KEY_PASSPHRASE

    from pipeline.bundle.manifest import encode_manifest, parse_manifest, sign_manifest
    from pipeline.models.bundle import BundleFile
    from pipeline.signing.keys import load_private_key

    good = _two_plugins(source, tmp_path)
    with tarfile.open(good) as tar:
        manifest = parse_manifest(tar.extractfile("bundle.json").read())  # type: ignore[union-attr]
    smuggled = b"kind: Release\n"
    extra = BundleFile(
        path="releases/evil/1.0.0/release.yaml",
        sha256=hashlib.sha256(smuggled).hexdigest(),
        size=len(smuggled),
    )
    forged = manifest.model_copy(update={"files": [*manifest.files, extra]})
    raw = encode_manifest(forged)
    key = load_private_key(source.key.read_bytes(), KEY_PASSPHRASE)
    signature = sign_manifest(raw, forged, key)
    bad = tmp_path / "smuggled.bundle"

    def replace(name: str, data: bytes) -> bytes:
        return {"bundle.json": raw, "bundle.json.sigstore.json": signature}.get(name, data)

    info = tarfile.TarInfo(extra.path)
    info.size = len(smuggled)
    rewrite_bundle(good, bad, change=replace)
    with tarfile.open(bad, "a") as tar:
        tar.addfile(info, io.BytesIO(smuggled))
    assert json.loads(raw)["files"][-1]["path"] == extra.path
    assert_refused(site, run_cli, webhook, bad, "belongs to no release it includes")
