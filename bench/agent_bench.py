"""Benchmark `powerx agent sync` on a fresh host, against `sha256sum` + `tar xzf` of the same data.

A generated environment of N plugins (default 50) whose packages hold M MiB (default 4) of
incompressible bytes each is synced into an empty plugin store: every artifact's sha256 is
checked, every package extracted safely through staging and renamed into place, every
health check (`true`) run and every active link switched. The baseline, in the same run,
is what a shell script would do without any safety: `sha256sum` of every package, then
`tar xzf` of each into its own folder. Then a second sync with nothing new (the
idempotent no-op a timer runs every few minutes), and one upgrade of every plugin.

The four steps (baseline, first sync, no-op sync, upgrade) run in interleaved rounds
(`timing.py`) after one warm-up round, the disk synced before each; the first sync's ratio
to the baseline is the median of the per-round ratios. Every timed step is checked before
its time counts: each sync must report ok with the expected actions, and the baseline
must have extracted every plugin; else the benchmark stops.

    .venv/bin/python bench/agent_bench.py [--plugins 50] [--size-mb 4] [--runs 3] [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from timing import Step, Timing, pair_of, rounds

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from pipeline.agent import PluginStore, sync  # noqa: E402
from pipeline.packaging import pack_plugin  # noqa: E402
from pipeline.yamlio import dump_yaml  # noqa: E402

OUT = PROJECT / "bench" / "out" / "agent-bench"
MIB = 1024 * 1024


def manifest(name: str, version: str) -> dict[str, object]:
    return {
        "apiVersion": "powerx.io/v1alpha1",
        "kind": "Plugin",
        "name": name,
        "version": version,
        "description": "a generated plugin for bench/agent_bench.py",
        "compatibility": {"powerx": ">=2.4,<3"},
        "license": "Apache-2.0",
        "entrypoint": "main.py",
        "healthCheck": {"command": ["true"], "timeoutSeconds": 10},
        "build": {"command": ["true"]},
    }


def make_packages(plugins: int, size_mb: int, version: str) -> list[tuple[str, Path, str]]:
    """(name, package, sha256) per plugin, generated under bench/out/."""
    folder = OUT / f"{plugins}x{size_mb}-{version}"
    result = []
    for index in range(plugins):
        name = f"plugin-{index:03d}"
        source = folder / "src" / name
        (source / "dist").mkdir(parents=True, exist_ok=True)
        (source / "plugin.yaml").write_text(dump_yaml(manifest(name, version)))
        (source / "dist" / "main.py").write_text(f"print('{name} {version}')\n")
        (source / "dist" / "blob.bin").write_bytes(os.urandom(size_mb * MIB))
        packed = pack_plugin(source, folder / "packages")
        result.append((name, packed.path, packed.sha256))
    return result


def write_environment(env_dir: Path, packages: list[tuple[str, Path, str]], version: str) -> None:
    (env_dir / "plugins").mkdir(parents=True, exist_ok=True)
    (env_dir / "environment.yaml").write_text(
        dump_yaml(
            {
                "apiVersion": "powerx.io/v1alpha1",
                "kind": "Environment",
                "name": "prod",
                "position": 0,
            }
        )
    )
    for name, _, digest in packages:
        state = {
            "apiVersion": "powerx.io/v1alpha1",
            "kind": "PluginState",
            "plugin": name,
            "version": version,
            "digest": digest,
        }
        (env_dir / "plugins" / f"{name}.yaml").write_text(dump_yaml(state))


def fresh_store(root: Path, packages: list[tuple[str, Path, str]]) -> PluginStore:
    shutil.rmtree(root, ignore_errors=True)
    store = PluginStore(root)
    for _, path, _ in packages:
        store.artifacts.put(path)
    return store


def clear(work: Path) -> None:
    """An empty folder for the baseline to extract into (untimed)."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)


def baseline(packages: list[tuple[str, Path, str]], work: Path) -> str:
    """What a script without any safety does: sha256 every package, extract each; sums."""
    paths = [str(path) for _, path, _ in packages]
    sums = subprocess.run(["sha256sum", *paths], check=True, capture_output=True, text=True)
    for name, path, _ in packages:
        target = work / name
        target.mkdir()
        subprocess.run(["tar", "xzf", str(path), "-C", str(target)], check=True)
    return sums.stdout


def check_baseline(sums: str, work: Path, packages: list[tuple[str, Path, str]]) -> None:
    """The baseline printed every package's digest and extracted every plugin's files."""
    if sorted(line.split()[0] for line in sums.splitlines()) != sorted(d for *_, d in packages):
        raise SystemExit("sha256sum printed other digests than the packages'")
    missing = [name for name, _, _ in packages if not any((work / name).rglob("main.py"))]
    if missing:
        raise SystemExit(f"the baseline did not extract {missing[:3]}")


def expect(result: object, action: str, count: int) -> None:
    actions = [p.action for p in result.plugins]  # type: ignore[attr-defined]
    if not result.ok or actions != [action] * count:  # type: ignore[attr-defined]
        raise SystemExit(f"sync did not do what was expected: {actions[:5]} ...")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugins", type=int, default=50)
    parser.add_argument("--size-mb", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="10 plugins of 1 MiB, 3 runs")
    args = parser.parse_args()
    if args.quick:
        args.plugins, args.size_mb, args.runs = 10, 1, 3
    old = make_packages(args.plugins, args.size_mb, "1.0.0")
    new = make_packages(args.plugins, args.size_mb, "1.1.0")
    env_dir, store_dir, base_dir = OUT / "env", OUT / "store", OUT / "baseline"
    store = fresh_store(store_dir, [*old, *new])

    def first_store() -> None:
        nonlocal store
        store = fresh_store(store_dir, [*old, *new])
        write_environment(env_dir, old, "1.0.0")

    def run_sync() -> object:
        return sync(env_dir, store)

    samples = rounds(
        {
            "baseline": Step(
                lambda: baseline(old, base_dir),
                reset=lambda: clear(base_dir),
                check=lambda sums: check_baseline(sums, base_dir, old),
            ),
            "first": Step(
                run_sync, reset=first_store, check=lambda r: expect(r, "installed", args.plugins)
            ),
            "noop": Step(run_sync, check=lambda r: expect(r, "unchanged", args.plugins)),
            "upgrade": Step(
                run_sync,
                reset=lambda: write_environment(env_dir, new, "1.1.0"),
                check=lambda r: expect(r, "installed", args.plugins),
            ),
        },
        args.runs,
        sync=True,
    )
    total = args.plugins * args.size_mb
    print(f"{args.plugins} plugins x {args.size_mb} MiB ({total} MiB), {args.runs} rounds")
    print(f"machine: nproc {os.cpu_count()}, Python {platform.python_version()}")
    print(f"{'step':<34} {'min / median / max, ms':>26} {'/ baseline':>11}")
    labels = {
        "baseline": "sha256sum + tar xzf (baseline)",
        "first": "agent sync, empty store",
        "noop": "agent sync, nothing new",
        "upgrade": "agent sync, upgrade every plugin",
    }
    for key, label in labels.items():
        ratio = pair_of(samples[key], samples["baseline"]).ratio_cell()
        print(f"{label:<34} {Timing.of(samples[key]).cell():>26} {ratio:>11}")
    print("ratio: median of the per-round ratios (each round runs the four steps in turn)")


if __name__ == "__main__":
    main()
