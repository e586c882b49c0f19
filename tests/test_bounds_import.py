"""An offline import reads every package it carries through the one archive-entry validator
before the site repo gets its commit: an unsafe `.pxp` in an otherwise valid, signed bundle
is refused (exit 1) with no new commit and the store unchanged. The same unsafe entry is
refused by a package read and by a bundle read alike."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path
from typing import Any

import pytest
from bundle_support import ENV, Site, Source, rewrite_bundle
from factories import API, release, session_key, yaml_text

from pipeline.bundle.importer import import_bundle
from pipeline.cli.powerx import cli
from pipeline.errors import GateError, InputError
from pipeline.models.signing import ReleasePredicate
from pipeline.packaging import inspect_package
from pipeline.signing.sign import sign_with_key
from pipeline.store.cas import ContentAddressedDirectory


def _entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, 4 if kind == tarfile.REGTYPE else 0
    return info


UNSAFE = [
    (_entry("dist/passwd", tarfile.SYMTYPE, "/etc/passwd"), "is a symbolic link"),
    (_entry("dist/hard", tarfile.LNKTYPE, "plugin.yaml"), "is a hard link"),
    (_entry("../escape.py"), "climbs out with '..'"),
    (_entry("/etc/cron.d/evil"), "is an absolute path"),
    (_entry("dist/fifo", tarfile.FIFOTYPE), "is a FIFO"),
]


def _with_entry(package: Path, extra: tarfile.TarInfo, target: Path) -> Path:
    """A copy of a real package with one more entry, gzip-compressed like the packer's."""
    out = io.BytesIO()
    with tarfile.open(package, "r:gz") as old, tarfile.open(fileobj=out, mode="w") as new:
        for member in old.getmembers():
            new.addfile(member, old.extractfile(member))
        new.addfile(extra, io.BytesIO(b"evil") if extra.isreg() else None)
    target.write_bytes(gzip.compress(out.getvalue(), mtime=0))
    return target


def _release_unsafe(source: Source, extra: tarfile.TarInfo) -> str:
    """hello@1.0.0 released from a package holding `extra`, stored and validly signed."""
    source.release("hello", "1.0.0")  # a genuine package first, as the template
    genuine = next((source.root / "out").glob("hello-1.0.0.pxp"))
    unsafe = _with_entry(genuine, extra, source.root / "hello-1.0.0.pxp")
    stored = ContentAddressedDirectory(source.store).put(unsafe)
    predicate = ReleasePredicate.model_validate(
        {"plugin": "hello", "version": "1.0.0", "sourceCommit": "0" * 40, "builder": "tests"}
    )
    signature = sign_with_key(stored.sha256, unsafe.name, predicate, session_key()[0])
    folder = "releases/hello/1.0.0"
    manifest = release(
        "hello",
        "1.0.0",
        artifact={
            "uri": f"cas:sha256:{stored.sha256}",
            "sha256": stored.sha256,
            "size": stored.size,
            "signature": "hello-1.0.0.pxp.sigstore.json",
        },
        evidence={},
    )
    state = {
        "apiVersion": API,
        "kind": "PluginState",
        "plugin": "hello",
        "version": "1.0.0",
        "digest": stored.sha256,
    }
    source.repo.commit(
        {
            f"{folder}/release.yaml": yaml_text(manifest),
            f"{folder}/hello-1.0.0.pxp.sigstore.json": signature,
            f"environments/{ENV}/plugins/hello.yaml": yaml_text(state),
        },
        "release an unsafe package",
    )
    return stored.sha256


@pytest.mark.parametrize(("extra", "reason"), UNSAFE[:3], ids=["symlink", "hardlink", "dotdot"])
def test_an_unsafe_package_in_a_signed_bundle_is_refused_before_the_commit(
    tmp_path: Path, run_cli: Any, extra: tarfile.TarInfo, reason: str
) -> None:
    source, site = Source(tmp_path / "a"), Site(tmp_path / "b")
    _release_unsafe(source, extra)
    bundle = tmp_path / "unsafe.bundle"
    source.export(bundle)
    before = site.fingerprint()
    result = run_cli(cli, *site.argv(bundle))
    assert result.code == 1, result.out + result.err
    assert "the package of hello@1.0.0 is refused" in result.err and reason in result.err
    assert site.fingerprint() == before  # no new commit, nothing stored
    assert site.active("hello") is None


def test_a_safe_bundle_still_imports(tmp_path: Path) -> None:
    source, site = Source(tmp_path / "a"), Site(tmp_path / "b")
    source.release("hello", "1.0.0")
    bundle = tmp_path / "good.bundle"
    source.export(bundle)
    result = import_bundle(site.request(bundle, deploy=False))
    assert result.commit is not None and result.stored


@pytest.mark.parametrize(("extra", "reason"), UNSAFE, ids=[r for _, r in UNSAFE])
def test_one_validator_for_packages_and_bundles(
    tmp_path: Path, extra: tarfile.TarInfo, reason: str
) -> None:
    source, site = Source(tmp_path / "a"), Site(tmp_path / "b")
    source.release("hello", "1.0.0")
    genuine = next((source.root / "out").glob("hello-1.0.0.pxp"))
    with pytest.raises(InputError, match=reason):
        inspect_package(_with_entry(genuine, extra, tmp_path / "unsafe.pxp"))
    good, bad = tmp_path / "good.bundle", tmp_path / "bad.bundle"
    source.export(good)
    rewrite_bundle(good, bad, insert=[extra])
    with pytest.raises(GateError, match=reason):
        import_bundle(site.request(bad, deploy=False))
