"""Benchmark `px-plugin pack`, `sign` and `verify`, against `tar czf` + `sha256sum`.

Three figures (issue 3):

1. pack + sign + verify (key mode) of a generated ~200 MB plugin, with the real CLI as
   subprocesses and in-process through the library, against `tar czf` of the same files plus
   `sha256sum` of the tarball, timed in the same run (target: at most 1.5x the baseline);
2. verifying 1,000 key-signed releases (distinct digests, one trusted key): under 2 s;
3. keyless, offline verification of a real production Sigstore bundle: the first
   verification of a fresh process (trust root loaded) and the warm per-bundle time.

Each pipeline and its baseline run in interleaved rounds (`timing.py`). Every timed run
must succeed (exit 0, no exception, the expected signer and digest); a
failure stops the benchmark. The plugin is generated once under `bench/out/` and reused
while its parameters match.

    .venv/bin/python bench/package_bench.py [--size-mb 200] [--runs N] [--quick] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import importlib
import io
import json
import os
import platform
import pstats
import random
import shutil
import ssl
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from timing import Pair, Timing, interleaved, measure, pair_of, rounds, timed

PROJECT = Path(__file__).resolve().parents[1]
SIGSTORE_FIXTURES = PROJECT / "tests" / "data" / "sigstore"
KEYLESS_ARTIFACT = SIGSTORE_FIXTURES / "bundle_v3_github.whl"
KEYLESS_BUNDLE = SIGSTORE_FIXTURES / "bundle_v3_github.whl.sigstore"
KEYLESS_IDENTITY = (
    "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2"
)
KEYLESS_ISSUER = "https://token.actions.githubusercontent.com"
PX_PLUGIN = Path(sys.executable).parent / "px-plugin"

GENERATOR_VERSION = 1
"""Bump when the generated plugin changes, so that a cached one is rebuilt."""

PLUGIN_NAME = "bench-plugin"
PLUGIN_VERSION = "1.0.0"
PACKAGE_NAME = f"{PLUGIN_NAME}-{PLUGIN_VERSION}.pxp"
SOURCE_COMMIT = "0" * 40
PASSPHRASE = "bench-passphrase"
"""The passphrase of the throwaway keys made for this benchmark."""
BIG_BINARIES = 4
BIG_TEXTS = 8
SMALL_FILES = 400
SMALL_FOLDERS = 20
MIB = 1024 * 1024

PLUGIN_YAML = f"""apiVersion: powerx.io/v1alpha1
kind: Plugin
name: {PLUGIN_NAME}
version: {PLUGIN_VERSION}
description: A generated plugin for bench/package_bench.py (random and text-like files).
license: Apache-2.0
compatibility:
  powerx: ">=2.4,<3"
permissions:
  - tenant-data:read
entrypoint: bench_plugin/__init__.py
healthCheck:
  command: [python3, -c, "import bench_plugin"]
notes: NOTES.md
build:
  command: [python3, build.py]
  output: build
"""


# -- the generated plugin --------------------------------------------------------------


@dataclass(frozen=True)
class PluginSpec:
    """The parameters of a generated plugin; a cached plugin is reused when they match."""

    size_mb: int
    seed: int = 3
    generator: int = GENERATOR_VERSION

    @property
    def name(self) -> str:
        """The folder name of the plugin under the work dir."""
        return f"plugin-{self.size_mb}mb"


def vocabulary(rng: random.Random, words: int = 5000) -> tuple[list[str], list[float]]:
    """Pseudo-words and cumulative Zipf weights, so that generated text compresses like text."""
    tokens = ["def", "return", "self", "import", "None", "=", "(", ")", ":", "{", "}", "if"]
    letters = "abcdefghijklmnopqrstuvwxyz_"
    while len(tokens) < words:
        tokens.append("".join(rng.choices(letters, k=rng.randint(3, 12))))
    weights, total = [], 0.0
    for rank in range(1, len(tokens) + 1):
        total += 1 / rank
        weights.append(total)
    return tokens, weights


def text_bytes(rng: random.Random, size: int, vocab: tuple[list[str], list[float]]) -> bytes:
    """About `size` bytes of code-like text: indented lines of Zipf-distributed words."""
    tokens, weights = vocab
    words = rng.choices(tokens, cum_weights=weights, k=size // 6 + 16)
    lines = (
        "    " * (index % 3) + " ".join(words[start : start + 10])
        for index, start in enumerate(range(0, len(words), 10))
    )
    return "\n".join(lines).encode()[:size]


def plugin_files(spec: PluginSpec) -> Iterator[tuple[str, bytes]]:
    """(path under dist/, content) of every generated file: half random, half text."""
    rng = random.Random(spec.seed)
    vocab = vocabulary(rng)
    half = spec.size_mb * MIB // 2
    small_total = 0
    yield "bench_plugin/__init__.py", b'"""The generated benchmark plugin."""\n'
    for index in range(SMALL_FILES):
        size = rng.randint(1024, 16 * 1024)
        small_total += size
        folder = f"static/part-{index % SMALL_FOLDERS:02d}"
        if index % 4 == 0:
            yield f"{folder}/icon-{index:03d}.png", rng.randbytes(size)
        else:
            yield f"{folder}/module_{index:03d}.py", text_bytes(rng, size, vocab)
    per_binary = (half - small_total // 4) // BIG_BINARIES
    for index in range(BIG_BINARIES):
        yield f"lib/native-{index}.so", rng.randbytes(per_binary)
    per_text = (half - small_total * 3 // 4) // BIG_TEXTS
    for index in range(BIG_TEXTS):
        yield f"data/corpus-{index}.txt", text_bytes(rng, per_text, vocab)


def generate_plugin(spec: PluginSpec, path: Path) -> None:
    """Write plugin.yaml, NOTES.md and dist/ (as `px-plugin build` would leave them)."""
    if path.exists():
        shutil.rmtree(path)
    (path / "dist").mkdir(parents=True)
    (path / "plugin.yaml").write_text(PLUGIN_YAML)
    (path / "NOTES.md").write_text("# bench-plugin 1.0.0\n\nGenerated for the benchmark.\n")
    for name, data in plugin_files(spec):
        target = path / "dist" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def ensure_plugin(spec: PluginSpec, work: Path) -> Path:
    """The generated plugin for `spec`, reusing a cached one when its parameters match."""
    path = work / spec.name
    stamp = work / f"{spec.name}.json"
    wanted = json.dumps(asdict(spec), sort_keys=True)
    if stamp.exists() and stamp.read_text() == wanted and path.is_dir():
        print(f"reusing {path}")
        return path
    print(f"generating {path} ({spec.size_mb} MB) ...", flush=True)
    started = time.perf_counter()
    generate_plugin(spec, path)
    stamp.write_text(wanted)
    print(f"  done in {time.perf_counter() - started:.1f} s", flush=True)
    return path


def tree_stats(folder: Path) -> tuple[int, int]:
    """(files, bytes) under a folder."""
    sizes = [p.stat().st_size for p in folder.rglob("*") if p.is_file()]
    return len(sizes), sum(sizes)


# -- processes -------------------------------------------------------------------------


def run_cli(args: list[str], *, cwd: Path | None = None, expect: str | None = None) -> str:
    """Run a command; its stdout. Fails the benchmark unless it exits 0 (and prints `expect`)."""
    env = {**os.environ, "PX_PASSPHRASE": PASSPHRASE}
    result = subprocess.run(args, capture_output=True, text=True, cwd=cwd, env=env)
    if result.returncode != 0:
        output = result.stdout[-2000:] + result.stderr[-2000:]
        raise RuntimeError(f"{' '.join(args)} exited {result.returncode}:\n{output}")
    if expect is not None and expect not in result.stdout:
        raise RuntimeError(f"{' '.join(args)}: {expect!r} not in its output:\n{result.stdout}")
    return result.stdout


Steps = dict[str, Callable[[], object]]
"""Named steps run in order; one run of a pipeline runs each of them."""


# -- 1. pack + sign + verify a large plugin --------------------------------------------


@dataclass(frozen=True)
class Workspace:
    """Where one pipeline writes: its package folder, and the key pair it signs with."""

    plugin: Path
    out: Path
    key: Path
    public: Path

    @property
    def package(self) -> Path:
        """The package `pack` writes."""
        return self.out / PACKAGE_NAME

    @property
    def bundle(self) -> Path:
        """The bundle `sign` writes beside the package."""
        return self.out / f"{PACKAGE_NAME}.sigstore.json"


def make_workspace(plugin: Path, work: Path, name: str) -> Workspace:
    """A fresh output folder and a key pair made with `px-plugin keygen`."""
    out = work / name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    prefix = out / "bench-signing"
    run_cli([str(PX_PLUGIN), "keygen", "--out", str(prefix)], expect="key id:")
    return Workspace(plugin, out, prefix.with_suffix(".key"), prefix.with_suffix(".pub"))


def baseline_steps(plugin: Path, work: Path) -> Steps:
    """`tar czf` of the files a package holds, then `sha256sum` of the tarball."""
    tarball = work / "baseline.tar.gz"
    tar = ["tar", "czf", str(tarball), "-C", str(plugin), "plugin.yaml", "NOTES.md", "dist"]
    return {
        "pack": lambda: run_cli(tar),
        "sign": lambda: run_cli(["sha256sum", str(tarball)], expect="baseline.tar.gz"),
    }


def cli_steps(space: Workspace) -> Steps:
    """`px-plugin pack`, `sign --key` and `verify --key` as subprocesses (run in `out`)."""
    package, cwd = str(space.package), space.out
    pack = [str(PX_PLUGIN), "pack", str(space.plugin), "--out", str(space.out)]
    sign = [str(PX_PLUGIN), "sign", package, "--key", str(space.key)]
    sign += ["--source-commit", SOURCE_COMMIT]
    verify = [str(PX_PLUGIN), "verify", package, "--key", str(space.public)]
    return {
        "pack": lambda: run_cli(pack, cwd=cwd, expect=f"packed {package}"),
        "sign": lambda: run_cli(sign, cwd=cwd, expect="key mode"),
        "verify": lambda: run_cli(
            verify, cwd=cwd, expect=f"release {PLUGIN_NAME}@{PLUGIN_VERSION}"
        ),
    }


def library_steps(space: Workspace) -> Steps:
    """The same three steps in-process: pack_plugin, sign_artifact, verify + inspect_package."""
    from pipeline.models.signing import ReleasePredicate
    from pipeline.packaging import inspect_package, pack_plugin
    from pipeline.signing.artifact import (
        SignRequest,
        VerifyRequest,
        sign_artifact,
        verify_artifact,
    )
    from pipeline.signing.trust import TrustInputs

    predicate = ReleasePredicate.model_validate(
        {
            "plugin": PLUGIN_NAME,
            "version": PLUGIN_VERSION,
            "sourceCommit": SOURCE_COMMIT,
            "builder": "package_bench",
        }
    )
    trust = TrustInputs.from_options(public_keys=(space.public.read_bytes(),))

    def pack() -> None:
        result = pack_plugin(space.plugin, space.out)
        assert result.path == space.package and result.size > 0, result

    def sign() -> None:
        request = SignRequest(
            space.package, predicate, key=space.key, passphrase=PASSPHRASE.encode()
        )
        assert sign_artifact(request).bundle == space.bundle

    def verify() -> None:
        verification = verify_artifact(VerifyRequest(space.package, trust, datetime.now(UTC)))
        assert verification.mode == "key" and verification.release == predicate, verification
        package = inspect_package(space.package)
        assert package.sha256 == verification.digest, (package.sha256, verification.digest)

    return {"pack": pack, "sign": sign, "verify": verify}


@dataclass(frozen=True)
class PackFigures:
    """The figures of benchmark 1: each pipeline and step against its baseline."""

    files: int
    source_bytes: int
    package_bytes: int
    tarball_bytes: int
    steps: dict[str, list[float]]
    """Seconds per round of every step, e.g. `cli.pack`, and of every pipeline's `.total`."""

    def pair(self, subject: str, baseline: str) -> Pair:
        """Two steps, e.g. `cli.total` against `baseline.total`, round by round."""
        return pair_of(self.steps[subject], self.steps[baseline])

    def timing(self, step: str) -> Timing:
        """One step's min / median / max."""
        return Timing.of(self.steps[step])


def bench_pack(plugin: Path, work: Path, runs: int) -> PackFigures:
    """Time the baseline, the CLI and the library on the same plugin, in interleaved rounds.

    Each round runs the baseline pipeline, then the CLI's, then the library's, then the
    floor of a verify and a `sign` given the names; every step checks its result.
    """
    files, source_bytes = tree_stats(plugin)
    cli_space = make_workspace(plugin, work, "cli")
    library_space = make_workspace(plugin, work, "library")
    package = cli_space.package
    floor = f"gzip -dc {package} | sha256sum && sha256sum {package}"
    named = [str(PX_PLUGIN), "sign", str(package), "--key", str(cli_space.key)]
    named += ["--source-commit", SOURCE_COMMIT, "--plugin", PLUGIN_NAME]
    named += ["--version", PLUGIN_VERSION]
    pipelines: dict[str, Steps] = {
        "baseline": baseline_steps(plugin, work),
        "cli": cli_steps(cli_space),
        "library": library_steps(library_space),
        "extra": {
            "floor": lambda: run_cli(["sh", "-ec", floor]),
            "named": lambda: run_cli(named, expect="key mode"),
        },
    }
    steps = {
        f"{name}.{step}": action
        for name, actions in pipelines.items()
        for step, action in actions.items()
    }
    print(f"timing baseline, px-plugin (CLI) and library in {runs} rounds ...", flush=True)
    samples = rounds(steps, runs)
    for name, actions in pipelines.items():
        per_round = zip(*(samples[f"{name}.{step}"] for step in actions), strict=True)
        samples[f"{name}.total"] = [sum(values) for values in per_round]
    return PackFigures(
        files=files,
        source_bytes=source_bytes,
        package_bytes=package.stat().st_size,
        tarball_bytes=(work / "baseline.tar.gz").stat().st_size,
        steps=samples,
    )


# -- 2. verify 1,000 key-signed releases -----------------------------------------------


@dataclass(frozen=True)
class KeyBundles:
    """Key-signed bundles over distinct digests, and the trust that accepts them."""

    bundles: list[tuple[str, bytes]]
    trust: object
    keyid: str


def make_key_bundles(count: int) -> KeyBundles:
    """`count` bundles signed with one new key (made as `px-plugin keygen` does)."""
    from pipeline.models.base import API_VERSION
    from pipeline.models.signing import ReleasePredicate, SigningPolicy
    from pipeline.signing.keys import generate_keypair, load_private_key, public_key_id
    from pipeline.signing.sign import sign_with_key
    from pipeline.signing.trust import TrustInputs

    private_pem, public_pem = generate_keypair(PASSPHRASE.encode())
    private_key = load_private_key(private_pem, PASSPHRASE.encode())
    keyid = public_key_id(public_pem)
    policy = SigningPolicy.model_validate(
        {
            "apiVersion": API_VERSION,
            "kind": "SigningPolicy",
            "keys": [{"id": keyid, "publicKey": public_pem.decode()}],
        }
    )
    bundles = []
    for index in range(count):
        digest = hashlib.sha256(f"release-{index}".encode()).hexdigest()
        predicate = ReleasePredicate.model_validate(
            {
                "plugin": f"plugin-{index:04d}",
                "version": "1.0.0",
                "sourceCommit": SOURCE_COMMIT,
                "builder": "package_bench",
            }
        )
        bundles.append(
            (digest, sign_with_key(digest, f"plugin-{index:04d}.pxp", predicate, private_key))
        )
    return KeyBundles(bundles, TrustInputs(policy=policy), keyid)


def verify_key_bundles(batch: KeyBundles) -> None:
    """verify_bundle over every bundle, asserting each verifies with the trusted key."""
    from pipeline.signing.trust import TrustInputs
    from pipeline.signing.verify import verify_bundle

    assert isinstance(batch.trust, TrustInputs)
    now = datetime.now(UTC)
    for digest, bundle in batch.bundles:
        result = verify_bundle(bundle, digest=digest, trust=batch.trust, now=now)
        assert result.mode == "key" and result.signer == batch.keyid, result
        assert result.digest == digest and result.release is not None


def bench_key_bundles(count: int, runs: int) -> Timing:
    """Total seconds to verify `count` key-signed bundles (signing is not timed)."""
    batch = make_key_bundles(count)
    return measure(lambda: verify_key_bundles(batch), runs)


# -- 3. keyless, offline ---------------------------------------------------------------


def keyless_verify() -> None:
    """Verify the production fixture bundle offline, asserting the expected signer."""
    from pipeline.signing.artifact import VerifyRequest, verify_artifact
    from pipeline.signing.trust import TrustInputs

    trust = TrustInputs.from_options(identity=KEYLESS_IDENTITY, issuer=KEYLESS_ISSUER)
    request = VerifyRequest(KEYLESS_ARTIFACT, trust, datetime.now(UTC), bundle=KEYLESS_BUNDLE)
    result = verify_artifact(request)
    assert result.mode == "keyless" and result.signer == KEYLESS_IDENTITY, result
    assert result.issuer == KEYLESS_ISSUER, result.issuer


def first_keyless_seconds() -> float:
    """In this (fresh) process: modules imported, seconds of the first keyless verification."""
    for module in ("pipeline.signing.artifact", "pipeline.signing.verify"):
        importlib.import_module(module)
    return timed(keyless_verify)  # it asserts the signer before the figure is printed


@dataclass(frozen=True)
class KeylessFigures:
    """The figures of benchmark 3."""

    cold: Timing
    warm: Timing
    warm_mean: float
    warm_count: int
    cli: Timing


def bench_keyless(runs: int, warm_count: int) -> KeylessFigures:
    """Cold: a fresh process per run; warm: `warm_count` verifications in this process; CLI."""
    cold = []
    for _ in range(runs + 1):
        output = run_cli([sys.executable, __file__, "--first-keyless"])
        cold.append(float(output.strip()))
    warm = rounds({"warm": keyless_verify}, warm_count)["warm"]
    cli_args = [str(PX_PLUGIN), "verify", str(KEYLESS_ARTIFACT), "--bundle", str(KEYLESS_BUNDLE)]
    cli_args += ["--identity", KEYLESS_IDENTITY, "--issuer", KEYLESS_ISSUER]
    cli = measure(lambda: run_cli(cli_args, expect="keyless mode"), runs)
    return KeylessFigures(
        cold=Timing.of(cold[1:]),
        warm=Timing.of(warm),
        warm_mean=statistics.mean(warm),
        warm_count=warm_count,
        cli=cli,
    )


# -- report ----------------------------------------------------------------------------


def machine() -> str:
    """CPU count and model, Python, OpenSSL, gzip, and the signing libraries' versions."""
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import cryptography
    import sigstore

    gzip_version = run_cli(["gzip", "--version"]).splitlines()[0]
    tar_version = run_cli(["tar", "--version"]).splitlines()[0]
    return (
        f"nproc {os.cpu_count()}, CPU {model}, Python {platform.python_version()}, "
        f"{ssl.OPENSSL_VERSION}, {tar_version}, {gzip_version}, "
        f"cryptography {cryptography.__version__}, sigstore {sigstore.__version__}"
    )


def pack_table(figures: PackFigures, runs: int) -> str:
    """Benchmark 1 as a Markdown table (ms, min / median / max; ratios: per-round median)."""
    cell = figures.timing

    def ratio(subject: str, baseline: str) -> str:
        return figures.pair(subject, baseline).ratio_cell()

    rows = [
        "| step | baseline | baseline (ms) | `px-plugin` CLI (ms) | in-process (ms) |",
        "|---|---|---:|---:|---:|",
        f"| pack | `tar czf` | {cell('baseline.pack').cell()} | {cell('cli.pack').cell()} | "
        f"{cell('library.pack').cell()} |",
        f"| sign (key) | `sha256sum` of the tarball | {cell('baseline.sign').cell()} | "
        f"{cell('cli.sign').cell()} | {cell('library.sign').cell()} |",
        f"| verify (key) | `gzip -dc \\| sha256sum` + `sha256sum` of the package | "
        f"{cell('extra.floor').cell()} | {cell('cli.verify').cell()} | "
        f"{cell('library.verify').cell()} |",
        f"| **total** | | {cell('baseline.total').cell()} | {cell('cli.total').cell()} | "
        f"{cell('library.total').cell()} |",
        f"| **total / baseline** | | 1.00x | {ratio('cli.total', 'baseline.total')} | "
        f"{ratio('library.total', 'baseline.total')} |",
        f"| pack / `tar czf` | | | {ratio('cli.pack', 'baseline.pack')} | "
        f"{ratio('library.pack', 'baseline.pack')} |",
        f"| verify / its floor | | | {ratio('cli.verify', 'extra.floor')} | "
        f"{ratio('library.verify', 'extra.floor')} |",
    ]
    mb = figures.source_bytes / MIB
    notes = (
        f"\n{figures.files:,} files, {mb:,.0f} MiB; package {figures.package_bytes / MIB:,.0f} "
        f"MiB, tarball {figures.tarball_bytes / MIB:,.0f} MiB. ms, min / median / max of {runs} "
        "rounds, each running the baseline, the CLI and the library pipelines in turn; ratios: "
        "median of the per-round ratios; the baseline's total is pack + sign (no verify).\n"
        f"`px-plugin sign` given `--plugin/--version` (no package read for the name): "
        f"{cell('extra.named').cell()} ms."
    )
    return "\n".join(rows) + notes


def verify_table(key_total: Timing, count: int, keyless: KeylessFigures, runs: int) -> str:
    """Benchmarks 2 and 3 as a Markdown table."""
    per_key = key_total.scaled(1 / count)
    rows = [
        "| verification | total (ms) | per bundle (ms) | target |",
        "|---|---:|---:|---|",
        f"| {count:,} key-signed releases, one trusted key (in-process) | "
        f"{key_total.cell()} | {per_key.cell(digits=3)} | total < 2,000 ms |",
        f"| keyless, first in a fresh process (loads the trust root) | - | "
        f"{keyless.cold.cell(digits=1)} | |",
        f"| keyless, warm ({keyless.warm_count} in one process) | "
        f"{keyless.warm_mean * keyless.warm_count * 1000:,.0f} | {keyless.warm.cell(digits=2)} | |",
        f"| keyless, `px-plugin verify --identity --issuer` (CLI) | - | {keyless.cli.cell()} | |",
    ]
    return "\n".join(rows) + (
        f"\n\nms, min / median / max of {runs} runs (warm keyless: of {keyless.warm_count} "
        f"verifications, mean {keyless.warm_mean * 1000:.2f} ms)."
    )


def profile_library(space: Workspace, lines: int = 20) -> str:
    """A cProfile of the in-process pack, sign and verify, top functions by total time."""
    profiler = cProfile.Profile()
    for action in library_steps(space).values():
        profiler.runcall(action)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(lines)
    return out.getvalue()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, help="size of the generated plugin [200]")
    parser.add_argument("--runs", type=int, help="timed runs per figure [5]")
    parser.add_argument("--bundles", type=int, help="key-signed bundles [1000; quick: 200]")
    parser.add_argument("--warm", type=int, help="warm keyless runs [200; quick: 50]")
    parser.add_argument("--out", type=Path, default=PROJECT / "bench" / "out", help="work dir")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 20 MB, 3 runs, 200 bundles"
    )
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the library")
    parser.add_argument("--first-keyless", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    defaults = (20, 3, 200, 50) if args.quick else (200, 5, 1000, 200)
    for name, default in zip(("size_mb", "runs", "bundles", "warm"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.runs < 3:
        parser.error("--runs must be at least 3")
    return args


def main(argv: list[str] | None = None) -> int:
    """Generate (or reuse) the plugin, run the three benchmarks, print the tables."""
    args = parse_args(argv)
    sys.path.insert(0, str(PROJECT))
    if args.first_keyless:
        print(first_keyless_seconds())
        return 0
    work = args.out / "package-bench"
    work.mkdir(parents=True, exist_ok=True)
    plugin = ensure_plugin(PluginSpec(args.size_mb), work)
    pack = bench_pack(plugin, work, args.runs)
    print(f"timing {args.bundles:,} key-signed bundles ...", flush=True)
    key_total = bench_key_bundles(args.bundles, args.runs)
    print("timing keyless verification ...", flush=True)
    keyless = bench_keyless(args.runs, args.warm)
    startup = interleaved(
        lambda: run_cli([str(PX_PLUGIN), "--version"]),
        lambda: run_cli([sys.executable, "-c", "pass"]),
        args.runs,
    )
    report = (
        f"{machine()}\n\n{pack_table(pack, args.runs)}\n\n"
        f"{verify_table(key_total, args.bundles, keyless, args.runs)}\n"
        f"`px-plugin --version` (CLI start-up alone): {startup.subject.cell()} ms; "
        f"`python -c pass`: {startup.baseline.cell()} ms ({startup.ratio_cell()}).\n"
    )
    print()
    print(report)
    (args.out / "package_bench.md").write_text(report)
    if args.profile:
        print(profile_library(make_workspace(plugin, work, "profile")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
