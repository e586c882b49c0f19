"""Benchmark the `oci://` artifact store: push plus pull of one large package through
`OciStore` (put, then fetch by digest), against a plain `curl` upload and download of the
same blob to the same registry, in the same run.

The registry is Debian's `docker-registry` (distribution 2.8), started here on a free
loopback port with its storage in a scratch folder. Timed, each as a real process:

- subject: `python -c` running `OciStore(...).put(package)` (pushes it in 64 MiB `PATCH`
  chunks streamed 1 MiB at a time while a second thread hashes it for the final `PUT`,
  then the manifest and the tag) and `fetch(...)` (streams the blob through the verified
  writer, which hashes and writes on a second thread: digest and size checked before the
  file is renamed into place);
- baseline: `curl` monolithic upload (`POST /blobs/uploads/`, then `PUT ...?digest=` with
  `-T FILE`, which streams) and `curl -o FILE` download of the same blob.

Fair: both run in interleaved rounds (A B A B) after one warm-up round; each round pushes
to a repository of its own, so every upload sends every byte (a registry answers "already
there" only within a repository), while the registry keeps one copy of the blob on disk.
The downloaded file is removed (untimed) after each run; disk use stays at about three
times the package (package, registry copy, one download). Each result is checked before
its time counts: the subject's exit code and the fetched file's size; curl's HTTP codes and
the downloaded file's size.

Peak RSS of the subject process (wait4's ru_maxrss) is measured at the full size and at a
small one, to show it stays flat as the package grows.

    .venv/bin/python bench/oci_bench.py [--size-mb 1024] [--small-mb 64] [--runs 3] [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bundle_bench import run, write_artifact
from timing import Step, interleaved

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from pipeline.fsutil import file_sha256  # noqa: E402

REGISTRY_BIN = "/usr/bin/docker-registry"
SUBJECT = """
import sys
from pathlib import Path
from pipeline.store.oci.reference import OciReference
from pipeline.store.oci.store import OciStore, RegistryAccess
location, package, dest = sys.argv[1:]
store = OciStore(OciReference.parse(location), RegistryAccess())
stored = store.put(Path(package))
store.fetch(stored.uri, stored.sha256, stored.size, Path(dest))
"""


PHASES = """
import json, sys, time
started = time.perf_counter()
from pathlib import Path
from pipeline.store.oci.reference import OciReference
from pipeline.store.oci.store import RegistryAccess
phases = {"interpreter and imports": time.perf_counter() - started + float(sys.argv[4])}
location, package, dest = sys.argv[1:4]
client = RegistryAccess().client(OciReference.parse(location))
clock = time.perf_counter()
digest, size, _ = client.push_file(Path(package))
phases["push_file (hashed while sent, 64 MiB PATCH chunks)"] = time.perf_counter() - clock
clock = time.perf_counter()
client.pull_blob(digest, size, Path(dest))
phases["pull_blob (hashed + written on a 2nd thread, fsync)"] = time.perf_counter() - clock
print(json.dumps(phases))
"""


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_registry(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """docker-registry on a free loopback port; (process, `host:port`) once `/v2/` answers."""
    port = free_port()
    authority = f"127.0.0.1:{port}"
    config = folder / "config.yml"
    config.write_text(
        "version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\n"
        f"storage: {{filesystem: {{rootdirectory: {folder / 'storage'}}}}}\n"
        f"http: {{addr: {authority}, secret: bench}}\n"
    )
    log = (folder / "registry.log").open("wb")
    process = subprocess.Popen([REGISTRY_BIN, "serve", str(config)], stdout=log, stderr=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        answer = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"http://{authority}/v2/"],
            capture_output=True,
            text=True,
            check=False,
        )
        if answer.stdout == "200":
            return process, authority
        time.sleep(0.1)
    process.kill()
    raise SystemExit(f"docker-registry did not answer: {(folder / 'registry.log').read_text()}")


def curl(*args: str) -> str:
    """curl's output (`-w` writes), failing the benchmark on a non-zero exit."""
    done = subprocess.run(["curl", "-s", "-S", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"curl {' '.join(args[:2])} failed: {done.stderr}")
    return done.stdout


def curl_push_pull(authority: str, repository: str, package: Path, sha: str, dest: Path) -> None:
    """Monolithic upload (POST, then PUT -T streaming the file), then download."""
    base = f"http://{authority}/v2/{repository}"
    headers = curl("-X", "POST", "-D", "-", "-o", "/dev/null", f"{base}/blobs/uploads/")
    location = next(
        line.split(":", 1)[1].strip()
        for line in headers.splitlines()
        if line.lower().startswith("location:")
    )
    if location.startswith("/"):
        location = f"http://{authority}{location}"
    joiner = "&" if "?" in location else "?"
    code = curl(
        "-X", "PUT", "-T", str(package), "-H", "Content-Type: application/octet-stream",
        "-o", "/dev/null", "-w", "%{http_code}", f"{location}{joiner}digest=sha256:{sha}",
    )  # fmt: skip
    if code != "201":
        raise SystemExit(f"curl upload answered {code}")
    code = curl("-o", str(dest), "-w", "%{http_code}", f"{base}/blobs/sha256:{sha}")
    if code != "200":
        raise SystemExit(f"curl download answered {code}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--small-mb", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="64 MiB and 16 MiB, 1 round")
    parser.add_argument("--work", type=Path, help="scratch folder [default: a temporary one]")
    options = parser.parse_args()
    if options.quick:
        options.size_mb, options.small_mb, options.runs = 64, 16, 1
    work = Path(tempfile.mkdtemp(prefix="oci-bench-", dir=options.work))
    registry, authority = start_registry(work)
    try:
        report(options, work, authority)
    finally:
        registry.terminate()
        registry.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def report(options: argparse.Namespace, work: Path, authority: str) -> None:
    """Build the packages, time both sides, print the figures."""
    package = work / "payload-1.0.0.pxp"
    write_artifact(package, options.size_mb * 1024 * 1024)
    sha, size = file_sha256(package), package.stat().st_size
    small = work / "small-1.0.0.pxp"
    write_artifact(small, options.small_mb * 1024 * 1024)
    dest = work / "pulled.pxp"
    counter = iter(range(1_000_000))
    peak = {"big": 0.0, "small": 0.0}

    def subject_run(path: Path, key: str) -> None:
        location = f"oci://{authority}/bench/ours-{next(counter)}"
        argv = [sys.executable, "-c", SUBJECT, location, str(path), str(dest)]
        peak[key] = max(peak[key], run(argv, env=_env()).max_rss_mb)

    def check_dest(_: object) -> None:
        if dest.stat().st_size != size:
            raise SystemExit(f"{dest} is {dest.stat().st_size} bytes, expected {size}")

    def clean() -> None:
        dest.unlink(missing_ok=True)

    subject = Step(lambda: subject_run(package, "big"), reset=clean, check=check_dest)
    baseline = Step(
        lambda: curl_push_pull(authority, f"bench/curl-{next(counter)}", package, sha, dest),
        reset=clean,
        check=check_dest,
    )
    pair = interleaved(subject, baseline, options.runs, sync=True)
    clean()
    subject_run(small, "small")
    clean()
    load = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    mb = size / 1024 / 1024
    print(f"package {size:,} bytes ({mb:,.0f} MiB), {options.runs} round(s) after 1 warm-up")
    print("| figure | min / median / max (s) |")
    print("|---|---|")
    print(f"| OciStore put + fetch | {pair.subject.cell(1, 2)} |")
    print(f"| curl upload (POST + PUT -T) + download | {pair.baseline.cell(1, 2)} |")
    print(
        f"| ratio (median of per-round ratios) | {pair.ratios.cell(1, 2)} -> {pair.ratio_cell()} |"
    )
    print(f"throughput (ours, median): {2 * mb / pair.subject.median:,.0f} MiB/s up+down")
    print(
        f"peak RSS of the subject process: {peak['big']:.0f} MiB at {mb:,.0f} MiB, "
        f"{peak['small']:.0f} MiB at {options.small_mb} MiB"
    )
    print(f"load: {load}")
    breakdown(authority, package, sha, dest)


def breakdown(authority: str, package: Path, sha: str, dest: Path) -> None:
    """One run of each phase, ours and curl's, to show where the time goes."""
    import json

    launched = time.perf_counter()
    argv = [sys.executable, "-c", PHASES, f"oci://{authority}/bench/phases", str(package)]
    ours = run([*argv, str(dest), str(time.perf_counter() - launched)], env=_env()).stdout
    dest.unlink(missing_ok=True)
    repository = "bench/curl-phases"
    clock = time.perf_counter()
    curl_push_pull(authority, repository, package, sha, dest)
    both = time.perf_counter() - clock
    dest.unlink(missing_ok=True)
    clock = time.perf_counter()
    curl("-o", str(dest), f"http://{authority}/v2/{repository}/blobs/sha256:{sha}")
    download = time.perf_counter() - clock
    dest.unlink(missing_ok=True)
    print("one run of each phase (s):")
    for name, seconds in json.loads(ours).items():
        print(f"  ours  {name}: {seconds:.2f}")
    print(f"  curl  upload: {both - download:.2f}, download: {download:.2f}")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(PROJECT)}


if __name__ == "__main__":
    main()
