"""Benchmark offline bundles: `powerx export` and `powerx plugin import --offline` of a
large environment, against `tar` + `sha256sum` of the same bytes in the same run.

A source repo gets PLUGINS releases deployed in prod, each with a signed SIZE_MB artifact
(incompressible bytes: the export stores, never recompresses). Timed, each as a real
process (so the ~1 s interpreter start is included):

- export: `powerx export --env prod` (sign, stream every artifact in, hash on the way);
  baseline `tar -cf` of the same artifacts + `sha256sum` of them;
- import: `powerx plugin import --offline --no-deploy` (signature, every checksum, every
  release signature, anti-rollback, store into the CAS, one commit); baseline `tar -xf`
  + `sha256sum` of the extracted artifacts. (Deployment is the agent's; see agent_bench.)

Peak RSS of each powerx process (wait4's ru_maxrss) is measured at two sizes, to show it
stays flat as the bundle grows.

    .venv/bin/python bench/bundle_bench.py [--plugins 50] [--size-mb 20] [--small-mb 5]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from pipeline.gitrepo import GitRepo  # noqa: E402
from pipeline.models.signing import ReleasePredicate  # noqa: E402
from pipeline.scaffold import init_repo  # noqa: E402
from pipeline.signing.keys import generate_keypair, load_private_key, public_key_id  # noqa: E402
from pipeline.signing.sign import sign_with_key  # noqa: E402
from pipeline.store.cas import ContentAddressedDirectory  # noqa: E402
from pipeline.yamlio import dump_yaml  # noqa: E402

POWERX = PROJECT / ".venv" / "bin" / "powerx"
API = "powerx.io/v1alpha1"
PASSPHRASE = "bench passphrase"
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Run:
    seconds: float
    max_rss_mb: float


def run(argv: list[str], env: dict[str, str] | None = None) -> Run:
    """Run a process to completion; wall time and its own peak RSS."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        err = process.stderr.read().decode() if process.stderr else ""
        raise SystemExit(f"{' '.join(argv[:3])} failed: {err}")
    return Run(seconds, usage.ru_maxrss / 1024)


def write_artifact(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(CHUNK, left))
            digest.update(chunk)
            out.write(chunk)
            left -= len(chunk)
    return digest.hexdigest()


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
                "artifact": {"uri": f"cas:sha256:{sha}", "sha256": sha, "size": size,
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


def measure(plugins: int, size_mb: float) -> dict[str, float]:
    size = int(size_mb * 1024 * 1024)
    work = Path(tempfile.mkdtemp(prefix="bundle-bench-"))
    try:
        repo, store, loose, release_pub, exporter_pub = build_source(work, plugins, size)
        site = build_site(work, release_pub, exporter_pub)
        env = {**os.environ, "PX_PASSPHRASE": PASSPHRASE}
        bundle = work / "prod.bundle"
        export = run(
            [str(POWERX), "export", "--env", "prod", "--repo", str(repo), "--store", str(store),
             "--key", str(work / "exporter.key"), "-o", str(bundle)], env,
        )  # fmt: skip
        names = sorted(p.name for p in loose.iterdir())
        tar_c = run(["tar", "-cf", str(work / "baseline.tar"), "-C", str(loose), *names])
        sum_c = run(["sha256sum", *(str(loose / n) for n in names)])
        imported = run(
            [str(POWERX), "plugin", "import", "--offline", str(bundle), "--repo", str(site),
             "--store", str(work / "store-b"), "--no-deploy", "--operator", "bench"], env,
        )  # fmt: skip
        out = work / "extracted"
        out.mkdir()
        tar_x = run(["tar", "-xf", str(work / "baseline.tar"), "-C", str(out)])
        sum_x = run(["sha256sum", *(str(out / n) for n in names)])
        return {
            "gb": plugins * size / 1024**3,
            "bundle_mb": bundle.stat().st_size / 1024**2,
            "export": export.seconds,
            "export_base": tar_c.seconds + sum_c.seconds,
            "import": imported.seconds,
            "import_base": tar_x.seconds + sum_x.seconds,
            "export_rss": export.max_rss_mb,
            "import_rss": imported.max_rss_mb,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugins", type=int, default=50)
    parser.add_argument("--size-mb", type=float, default=20.0, help="artifact size (large run)")
    parser.add_argument("--small-mb", type=float, default=5.0, help="artifact size (small run)")
    args = parser.parse_args()
    print(
        "| bundle | export | tar -c + sha256sum | ratio | import (verify, store, commit) "
        "| tar -x + sha256sum | ratio | peak RSS export / import |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for size_mb in (args.small_mb, args.size_mb):
        r = measure(args.plugins, size_mb)
        print(
            f"| {args.plugins} x {size_mb:g} MB = {r['bundle_mb']:,.0f} MB "
            f"| {r['export']:.2f} s | {r['export_base']:.2f} s "
            f"| {r['export'] / r['export_base']:.2f}x "
            f"| {r['import']:.2f} s | {r['import_base']:.2f} s "
            f"| {r['import'] / r['import_base']:.2f}x "
            f"| {r['export_rss']:.0f} / {r['import_rss']:.0f} MB |",
            flush=True,
        )


if __name__ == "__main__":
    main()
