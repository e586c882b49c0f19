"""A signed bundle index is not a licence to consume unbounded resources: the site's limits
(`policies/signing.yaml` `bundles.limits`) are checked against the declared sizes before a
byte of content is written, the streamed bytes are held to the declared ones, memory stays
flat, and nothing past a limit is written or committed."""

from __future__ import annotations

import io
import json
import random
import tarfile
import tracemalloc
from pathlib import Path
from typing import Any

import bundle_support
import pytest
from bundle_support import Site, Source, rewrite_bundle, site_policy
from factories import yaml_text

from pipeline.bundle.importer import import_bundle
from pipeline.cli.powerx import cli
from pipeline.errors import GateError
from pipeline.models.signing import BundleLimits, SigningPolicy
from pipeline.store.cas import ContentAddressedDirectory


class Recorder:
    """A Progress that remembers how many content bytes were copied."""

    def __init__(self) -> None:
        self.total: int | None = None
        self.copied = 0

    def start(self, total: int) -> None:
        self.total = total

    def __call__(self, count: int) -> None:
        self.copied += count


def _limited_site(root: Path, **limits: int) -> Site:
    site = Site(root)
    policy = site_policy()
    policy["bundles"]["limits"] = limits
    site.repo.commit({"policies/signing.yaml": yaml_text(policy)}, "bundle limits")
    return site


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    source = Source(tmp_path / "a")
    source.release("hello", "1.0.0", padding=300_000)
    source.release("world", "1.0.0")
    path = tmp_path / "good.bundle"
    source.export(path)
    return path


def test_defaults_are_sensible() -> None:
    limits = BundleLimits()
    assert (
        limits.max_entry_bytes >= 4 * 1024**3 and limits.max_total_bytes >= limits.max_entry_bytes
    )
    policy = SigningPolicy.model_validate(
        {"apiVersion": "powerx.io/v1alpha1", "kind": "SigningPolicy", "bundles": {"keys": []}}
    )
    assert policy.bundles is not None and policy.bundles.limits == limits


def _sizes(bundle: Path) -> tuple[int, int, int]:
    """(largest entry, total, number of entries) that the bundle's signed index declares."""
    with tarfile.open(bundle) as tar:
        handle = tar.extractfile("bundle.json")
        assert handle is not None
        files = json.loads(handle.read())["files"]
    sizes = [entry["size"] for entry in files]
    return max(sizes), sum(sizes), len(sizes)


@pytest.mark.parametrize("limit", ["maxEntryBytes", "maxTotalBytes", "maxEntries"])
def test_declared_sizes_over_the_limits_are_refused_before_any_content_is_written(
    tmp_path: Path, bundle: Path, run_cli: Any, limit: str
) -> None:
    largest, total, count = _sizes(bundle)
    value = {"maxEntryBytes": largest, "maxTotalBytes": total, "maxEntries": count}[limit] - 1
    site = _limited_site(tmp_path / "b", **{limit: value})
    before = site.fingerprint()
    progress = Recorder()
    with pytest.raises(GateError, match="over the limit") as caught:
        import_bundle(site.request(bundle, deploy=False), progress=progress)
    assert f"over the limit of {value:,}" in caught.value.message
    assert f"bundles.limits.{limit}" in caught.value.message
    assert progress.total is None and progress.copied == 0  # no content byte was copied
    result = run_cli(cli, *site.argv(bundle))
    assert result.code == 1 and f"bundles.limits.{limit}" in result.err
    assert site.fingerprint() == before
    exact = _limited_site(tmp_path / "c", **{limit: value + 1})
    assert import_bundle(exact.request(bundle, deploy=False)).commit is not None


def test_streamed_bytes_beyond_the_declared_ones_are_refused(tmp_path: Path, bundle: Path) -> None:
    """A tar entry can carry megabytes that no declared size accounts for (PAX headers):
    the stream is counted and stops past what the signed index declares."""
    bloated = tmp_path / "bloated.bundle"
    with tarfile.open(bundle) as old, tarfile.open(bloated, "w", format=tarfile.PAX_FORMAT) as new:
        for member in old.getmembers():
            handle = old.extractfile(member)
            if member.name.startswith("artifacts/"):
                member.pax_headers = {"comment": "x" * 4_000_000}
            new.addfile(member, io.BytesIO(handle.read() if handle else b""))
    site = Site(tmp_path / "b")
    before = site.fingerprint()
    with pytest.raises(GateError, match=r"expands past .* more than its manifest declares"):
        import_bundle(site.request(bloated, deploy=False))
    assert site.fingerprint() == before


def test_a_declared_size_that_differs_from_the_entry_is_refused(
    tmp_path: Path, bundle: Path
) -> None:
    longer = tmp_path / "longer.bundle"
    rewrite_bundle(
        bundle,
        longer,
        change=lambda name, data: data + b"\n# more" if name.startswith("environment/") else data,
    )
    site = Site(tmp_path / "b")
    before = site.fingerprint()
    with pytest.raises(GateError, match="the signed manifest says"):
        import_bundle(site.request(longer, deploy=False))
    assert site.fingerprint() == before


def _peak_import(root: Path, padding: int) -> tuple[int, int]:
    """(peak traced memory of one import, the artifact's size) for a fresh source and site."""
    source = Source(root / "a")
    digest = source.release("big", "1.0.0", padding=padding)
    path = root / "big.bundle"
    source.export(path)
    site = Site(root / "b")
    tracemalloc.start()
    try:
        assert import_bundle(site.request(path, deploy=False)).commit is not None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, ContentAddressedDirectory(source.store).object_path(digest).stat().st_size


def test_memory_stays_flat_while_a_large_artifact_streams(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same import with a 1 KiB and a 32 MiB (incompressible) artifact: the peak grows by
    a few copy buffers at most, not by the artifact."""
    monkeypatch.setattr(
        bundle_support, "_incompressible", lambda size, *seed: random.Random(1).randbytes(size)
    )
    _peak_import(tmp_path / "warm", 1024)  # first imports of modules are not the bundle's
    small, _ = _peak_import(tmp_path / "small", 1024)
    large, size = _peak_import(tmp_path / "large", 32 * 1024 * 1024)
    assert size > 32 * 1024 * 1024
    assert large - small < 8 * 1024 * 1024, f"{small:,} -> {large:,} bytes for {size:,}"
