"""Benchmark offline bundles: `powerx export` and `powerx plugin import --offline` of a
large environment, against `tar` + `sha256sum` of the same bytes in the same run.

A source repo gets PLUGINS releases deployed in prod, each with a signed SIZE_MB artifact
(incompressible bytes: the export stores, never recompresses). Timed, each as a real
process (so the interpreter start is included):

- export: `powerx export --env prod` (sign, stream every artifact in, hash on the way);
  baseline `tar -cf` of the same artifact files (the store's objects) + `sha256sum` of them;
- import: `powerx plugin import --offline --no-deploy` (signature, every checksum, every
  release signature, anti-rollback, store into the CAS, one commit); baseline `tar -xf`
  + `sha256sum` of the extracted artifacts. (Deployment is the agent's; see agent_bench.)

Fair: the four steps run in interleaved rounds (export, its baseline, import, its
baseline), after one warm-up round, so both sides read files the previous step just wrote
(the page cache treats them alike); the disk is synced (os.sync) before each timed step,
and each step's output is removed (untimed) before it runs again. Every step's result is
checked before its time counts: the exit code, the bundle's size, the new commit, the
objects in the store and the digests `sha256sum` prints.

Peak RSS of each powerx process (wait4's ru_maxrss, the largest over the rounds) is
measured at two sizes, to show it stays flat as the bundle grows.

    .venv/bin/python bench/bundle_bench.py [--plugins 50] [--size-mb 20] [--small-mb 5]
        [--runs 3] [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pygit2
from timing import Pair, Step, Timing, pair_of, rounds

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from pipeline.agent import PluginStore  # noqa: E402
from pipeline.fsutil import file_sha256  # noqa: E402
from pipeline.gitrepo import GitRepo  # noqa: E402
from pipeline.models.signing import ReleasePredicate  # noqa: E402
from pipeline.packaging import pack_plugin  # noqa: E402
from pipeline.scaffold import init_repo  # noqa: E402
from pipeline.signing.keys import generate_keypair, load_private_key, public_key_id  # noqa: E402
from pipeline.signing.sign import sign_with_key  # noqa: E402
from pipeline.store.cas import ContentAddressedDirectory  # noqa: E402
from pipeline.yamlio import dump_yaml  # noqa: E402

POWERX = Path(sys.executable).parent / "powerx"
API = "powerx.io/v1alpha1"
PASSPHRASE = "bench passphrase"
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Run:
    """What a process printed, and its own peak RSS."""

    stdout: str
    max_rss_mb: float


def run(argv: list[str], env: dict[str, str] | None = None) -> Run:
    """Run a process to completion, failing the benchmark unless it exits 0."""
    with tempfile.TemporaryFile() as err:
        process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=err)
        assert process.stdout is not None
        out = process.stdout.read()
        process.stdout.close()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            err.seek(0)
            message = err.read().decode(errors="replace")[-2000:]
            raise SystemExit(f"{' '.join(argv[:3])} exited {process.returncode}: {message}")
    return Run(out.decode(), usage.ru_maxrss / 1024)


def write_artifact(path: Path, size: int) -> str:
    """A real package (`px-plugin pack`) of about `size` bytes at `path`; its sha256.

    The import inspects every package it carries (archive safety, checksums, the plugin it
    names), so the artifacts are packed plugins, with one random file as their bulk.
    """
    name, version = path.name.removesuffix(".pxp").rsplit("-", 1)
    plugin = path.parent / f".src-{name}"
    dist = plugin / "dist"
    dist.mkdir(parents=True)
    (plugin / "plugin.yaml").write_text(
        f"apiVersion: {API}\nkind: Plugin\nname: {name}\nversion: {version}\n"
        "description: A generated plugin for bench/bundle_bench.py.\nlicense: Apache-2.0\n"
        'compatibility:\n  powerx: ">=2.4,<3"\nentrypoint: payload.bin\n'
        'healthCheck:\n  command: ["true"]\nbuild:\n  command: ["true"]\n'
    )
    with (dist / "payload.bin").open("wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(CHUNK, left))  # random: gzip keeps the size
            out.write(chunk)
            left -= len(chunk)
    packed = pack_plugin(plugin, path.parent)
    shutil.rmtree(plugin)
    assert packed.path == path, (packed.path, path)
    return file_sha256(path)


def build_source(work: Path, plugins: int, size: int) -> tuple[Path, Path, Path, bytes, bytes]:
    """Repo A with `plugins` signed releases in prod, their artifacts in a CAS store."""
    repo, store, loose = work / "repo-a", work / "store-a", work / "artifacts"
    init_repo(repo)
    loose.mkdir()
    release_pem, release_pub = generate_keypair(PASSPHRASE.encode())
    release_key = load_private_key(release_pem, PASSPHRASE.encode())
    exporter_pem, exporter_pub = generate_keypair(PASSPHRASE.encode())
    (work / "exporter.key").write_bytes(exporter_pem)
    cas = ContentAddressedDirectory(store)
    files: dict[str, bytes | None] = {}
    for index in range(plugins):
        name, version = f"plugin-{index:03d}", "1.0.0"
        artifact = loose / f"{name}-{version}.pxp"
        sha = write_artifact(artifact, size)
        packed_size = artifact.stat().st_size
        cas.put(artifact)
        predicate = ReleasePredicate.model_validate(
            {"plugin": name, "version": version, "sourceCommit": "0" * 40, "builder": "bench"}
        )
        folder = f"releases/{name}/{version}"
        files[f"{folder}/{artifact.name}.sigstore.json"] = sign_with_key(
            sha, artifact.name, predicate, release_key
        )
        files[f"{folder}/release.yaml"] = dump_yaml(
            {
                "apiVersion": API, "kind": "Release", "plugin": name, "version": version,
                "artifact": {"uri": f"cas:sha256:{sha}", "sha256": sha, "size": packed_size,
                             "signature": f"{artifact.name}.sigstore.json"},
                "compatibility": {"powerx": ">=2.4,<3"}, "license": "Apache-2.0",
                "rollback": {"playbook": "Point prod back."},
                "contacts": [{"name": "Bench", "email": "bench@example.com"}],
            }
        ).encode()  # fmt: skip
        files[f"environments/prod/plugins/{name}.yaml"] = dump_yaml(
            {"apiVersion": API, "kind": "PluginState", "plugin": name, "version": version,
             "digest": sha}
        ).encode()  # fmt: skip
    GitRepo(repo).commit("main", files, "bench releases")
    return repo, store, loose, release_pub, exporter_pub


def build_site(work: Path, release_pub: bytes, exporter_pub: bytes) -> Path:
    """Repo B, trusting the release key and the exporter's key for bundles."""
    site = work / "repo-b"
    init_repo(site)
    keys = [
        {"id": public_key_id(pem), "publicKey": pem.decode()} for pem in (release_pub, exporter_pub)
    ]
    policy = {"apiVersion": API, "kind": "SigningPolicy", "keys": keys,
              "bundles": {"keys": [public_key_id(exporter_pub)]}}  # fmt: skip
    GitRepo(site).commit("main", {"policies/signing.yaml": dump_yaml(policy).encode()}, "trust")
    return site


@dataclass(frozen=True)
class Figures:
    """One bundle size: export and import, each against its baseline, and peak RSS."""

    plugins: int
    size_mb: float
    bundle_mb: float
    export: Pair
    import_: Pair
    export_rss: float
    import_rss: float


def git_out(repo: Path, *args: str) -> str:
    """Run git in `repo`; its stripped stdout."""
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def check_sums(result: Run, digests: list[str]) -> None:
    """`sha256sum` printed, for each file named by its digest, that digest."""
    printed = [line.split(maxsplit=1) for line in result.stdout.splitlines()]
    assert sorted(digest for digest, _ in printed) == digests, "sha256sum: other digests"
    assert all(Path(name).name == digest for digest, name in printed), "sha256sum: mismatch"


def remove(*paths: Path) -> None:
    """Remove files or folders left by the previous round."""
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def bench_size(plugins: int, size_mb: float, runs: int) -> Figures:
    """Build the repos for this size, then time the four steps in interleaved rounds."""
    size = int(size_mb * 1024 * 1024)
    work = Path(tempfile.mkdtemp(prefix="bundle-bench-"))
    try:
        if pygit2.discover_repository(str(work)) is not None:
            # init_repo would commit the scaffold into that repository, not a new one
            raise SystemExit(f"{work} is inside a git repository: set TMPDIR outside any")
        repo, store, loose, release_pub, exporter_pub = build_source(work, plugins, size)
        site = build_site(work, release_pub, exporter_pub)
        shutil.rmtree(loose)
        objects = sorted(str(p.relative_to(store)) for p in store.rglob("*") if p.is_file())
        digests = sorted(Path(name).name for name in objects)
        assert len(digests) == plugins, digests
        env = {**os.environ, "PX_PASSPHRASE": PASSPHRASE}
        bundle, tarball, extracted = work / "prod.bundle", work / "baseline.tar", work / "extracted"
        store_b = work / "store-b"
        site_start = git_out(site, "rev-parse", "main")
        rss = {"export": 0.0, "import": 0.0}

        def export() -> Run:
            return run(
                [str(POWERX), "export", "--env", "prod", "--repo", str(repo), "--store", str(store),
                 "--key", str(work / "exporter.key"), "-o", str(bundle)], env,
            )  # fmt: skip

        def check_export(result: Run) -> None:
            assert bundle.stat().st_size >= plugins * size, bundle.stat().st_size
            rss["export"] = max(rss["export"], result.max_rss_mb)

        def export_baseline() -> Run:
            run(["tar", "-cf", str(tarball), "-C", str(store), *objects])
            return run(["sha256sum", *(str(store / name) for name in objects)])

        def import_bundle() -> Run:
            return run(
                [str(POWERX), "plugin", "import", "--offline", str(bundle), "--repo", str(site),
                 "--plugin-store", str(store_b), "--no-deploy", "--operator", "bench"], env,
            )  # fmt: skip

        def reset_import() -> None:
            remove(store_b)
            git_out(site, "reset", "--quiet", "--hard", site_start)

        def check_import(result: Run) -> None:
            new = git_out(site, "rev-list", "--count", f"{site_start}..main")
            assert new == "1", f"the import made {new} commits"
            cas = PluginStore(store_b).artifacts
            assert all(cas.exists(digest) for digest in digests), "an artifact is not stored"
            rss["import"] = max(rss["import"], result.max_rss_mb)

        def import_baseline() -> Run:
            extracted.mkdir()
            run(["tar", "-xf", str(tarball), "-C", str(extracted)])
            return run(["sha256sum", *(str(extracted / name) for name in objects)])

        samples = rounds(
            {
                "export": Step(export, reset=lambda: remove(bundle), check=check_export),
                "export_base": Step(
                    export_baseline,
                    reset=lambda: remove(tarball),
                    check=lambda r: check_sums(r, digests),
                ),
                "import": Step(import_bundle, reset=reset_import, check=check_import),
                "import_base": Step(
                    import_baseline,
                    reset=lambda: remove(extracted),
                    check=lambda r: check_sums(r, digests),
                ),
            },
            runs,
            sync=True,
        )
        return Figures(
            plugins=plugins,
            size_mb=size_mb,
            bundle_mb=bundle.stat().st_size / 1024**2,
            export=pair_of(samples["export"], samples["export_base"]),
            import_=pair_of(samples["import"], samples["import_base"]),
            export_rss=rss["export"],
            import_rss=rss["import"],
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def seconds(timing: Timing) -> str:
    """`min / median / max` in seconds."""
    return timing.cell(1, 2)


def main() -> None:
    """Time both sizes; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugins", type=int, help="releases in the bundle [50; quick: 10]")
    parser.add_argument("--size-mb", type=float, help="artifact size, large run [20; quick: 4]")
    parser.add_argument("--small-mb", type=float, help="artifact size, small run [5; quick: 1]")
    parser.add_argument("--runs", type=int, help="timed rounds per size [3]")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 10 x 1 and 4 MB")
    args = parser.parse_args()
    defaults = (10, 4.0, 1.0, 3) if args.quick else (50, 20.0, 5.0, 3)
    for name, default in zip(("plugins", "size_mb", "small_mb", "runs"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    print(
        "| bundle | export | tar -c + sha256sum | ratio | import (verify, store, commit) "
        "| tar -x + sha256sum | ratio | peak RSS export / import |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for size_mb in (args.small_mb, args.size_mb):
        r = bench_size(args.plugins, size_mb, args.runs)
        print(
            f"| {args.plugins} x {size_mb:g} MB = {r.bundle_mb:,.0f} MB "
            f"| {seconds(r.export.subject)} s | {seconds(r.export.baseline)} s "
            f"| {r.export.ratio_cell()} "
            f"| {seconds(r.import_.subject)} s | {seconds(r.import_.baseline)} s "
            f"| {r.import_.ratio_cell()} "
            f"| {r.export_rss:.0f} / {r.import_rss:.0f} MB |",
            flush=True,
        )
    print(
        f"\ns, min / median / max of {args.runs} interleaved rounds (export, its baseline, "
        "import, its baseline) after one warm-up round, the disk synced before each step; "
        "ratio: median of the per-round ratios; peak RSS: the largest over the rounds."
    )


if __name__ == "__main__":
    main()
