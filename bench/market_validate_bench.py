"""Benchmark the Marketplace validator on one plugin, against `powerx check` of its release.

Issue 14's target: the validator on one plugin under 1 s. The repo is made by `powerx init`
plus N listed plugins (an approved review record each, half of them with a listing), and
`bench-plugin`: 1.0.0 listed, 1.1.0 submitted, each a real package (generated files, packed
by the project's packer, about --size-mb MB), key-signed, stored in a content-addressed
store, with real coverage, JUnit and SARIF evidence; the listing has five 1920x1080 PNG
screenshots. Timed in the same rounds, interleaved (`timing.py`):

- `validate`: `validate_submission` of bench-plugin@1.1.0, every rule (a fresh repo handle
  each time, so nothing is cached from the round before); must pass;
- `validate, no package`: the same with the four rules that read the package off (fetch,
  verification, secret scan and the listed package are what it leaves out);
- `powerx check` (baseline): every gate on the commit that added 1.1.0 (in-process,
  `run_check`, the same cold start); must pass;
- `px-market validate` (the CLI, a subprocess: interpreter start-up included).

    .venv/bin/python bench/market_validate_bench.py [--listed N] [--size-mb N] [--runs N] [--quick]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from timing import Timing, pair_of, rounds

PROJECT = Path(__file__).resolve().parents[1]
REPORTS = PROJECT / "tests" / "data" / "reports" / "python" / "passing"
PX_MARKET = Path(sys.executable).parent / "px-market"
API = "powerx.io/v1alpha1"
PLUGIN = "bench-plugin"
PASSPHRASE = b"bench passphrase"
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
MIB = 1024 * 1024


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Bench",
        "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "Bench",
        "GIT_COMMITTER_EMAIL": "bench@example.com",
    }
    done = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)
    return done.stdout.decode().strip()


def write(root: Path, files: dict[str, bytes | str]) -> None:
    for name, content in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode() if isinstance(content, str) else content)


def screenshot(seed: int) -> bytes:
    """A 1920x1080 PNG: a flat page with a noisy band (about 0.5 MB, like a real capture)."""
    from PIL import Image

    image = Image.new("RGB", (1920, 1080), (245, 246, 248))
    band = Image.frombytes("RGB", (1920, 100), random.Random(seed).randbytes(1920 * 100 * 3))
    image.paste(band, (0, 400))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def plugin_source(folder: Path, version: str, size_mb: int, permissions: list[str]) -> None:
    """A plugin folder with dist/ of ~size_mb MB: code-like text and some binary files."""
    from pipeline.yamlio import dump_yaml

    rng = random.Random(version)
    manifest = {
        "apiVersion": API,
        "kind": "Plugin",
        "name": PLUGIN,
        "version": version,
        "description": "A generated plugin for bench/market_validate_bench.py.",
        "license": "Apache-2.0",
        "compatibility": {"powerx": ">=2.4,<3"},
        "permissions": permissions,
        "entrypoint": "bench_plugin/__init__.py",
        "healthCheck": {"command": ["python3", "-c", "import bench_plugin"]},
        "build": {"command": ["python3", "build.py"]},
        "notes": "NOTES.md",
        "changelog": "CHANGELOG.md",
    }
    files: dict[str, bytes | str] = {
        "plugin.yaml": dump_yaml(manifest),
        "NOTES.md": f"## {version}\n\nFaster imports and a new export format.\n",
        "CHANGELOG.md": f"## {version}\n- PX-900 faster imports\n",
        "dist/bench_plugin/__init__.py": '"""The generated benchmark plugin."""\n',
    }
    words = [rng.choice("abcdefghij") * rng.randint(2, 9) for _ in range(2000)]
    budget, index = size_mb * MIB, 0
    while budget > 0:
        size = min(budget, rng.randint(8 * 1024, 64 * 1024))
        if index % 5 == 0:
            files[f"dist/static/asset-{index:04d}.bin"] = rng.randbytes(size)
        else:
            text = " ".join(rng.choices(words, k=size // 6))
            files[f"dist/bench_plugin/mod_{index:04d}.py"] = f"TEXT = '''{text}'''\n"
        budget -= size
        index += 1
    write(folder, files)


def release_files(version: str, packed: Any, store: Any, key: Any) -> dict[str, bytes | str]:
    """release.yaml, its signature bundle and its evidence, with the package stored."""
    from pipeline.models.signing import ReleasePredicate
    from pipeline.signing.sign import sign_with_key
    from pipeline.yamlio import dump_yaml

    stored = store.put(packed.path)
    predicate = ReleasePredicate.model_validate(
        {"plugin": PLUGIN, "version": version, "sourceCommit": "0" * 40, "builder": "bench"}
    )
    signature = sign_with_key(stored.sha256, packed.path.name, predicate, key)
    folder = f"releases/{PLUGIN}/{version}"
    record = {
        "apiVersion": API,
        "kind": "Release",
        "plugin": PLUGIN,
        "version": version,
        "artifact": {
            "uri": stored.uri,
            "sha256": stored.sha256,
            "size": stored.size,
            "signature": f"{packed.path.name}.sigstore.json",
        },
        "notes": "Faster imports and a new export format for every tenant.",
        "changes": [{"id": "PX-900", "title": "Faster imports"}],
        "evidence": {
            "coverage": ["evidence/coverage.json"],
            "tests": ["evidence/junit.xml"],
            "scans": ["evidence/bandit.sarif"],
        },
        "compatibility": {"powerx": ">=2.4,<3"},
        "license": "Apache-2.0",
        "rollback": {"playbook": "1. Point the environment back at the previous version."},
        "contacts": [{"name": "Ada", "email": "ada@example.com"}],
    }
    return {
        f"{folder}/release.yaml": dump_yaml(record),
        f"{folder}/{packed.path.name}.sigstore.json": signature,
        **{
            f"{folder}/evidence/{name}": (REPORTS / name).read_bytes()
            for name in ("coverage.json", "junit.xml", "bandit.sarif")
        },
    }


def review(plugin: str, version: str) -> str:
    from pipeline.yamlio import dump_yaml

    return dump_yaml(
        {
            "apiVersion": API,
            "kind": "Review",
            "plugin": plugin,
            "version": version,
            "artifactSha256": "a" * 64,
            "history": [
                {"state": "submitted", "at": "2026-11-20T10:00:00Z", "by": "vendor"},
                {"state": "approved", "at": "2026-11-21T10:00:00Z", "by": "rita"},
            ],
        }
    )


def listing(plugin: str, shots: int) -> str:
    from pipeline.yamlio import dump_yaml

    return dump_yaml(
        {
            "apiVersion": API,
            "kind": "Listing",
            "plugin": plugin,
            "title": f"{plugin} for PowerX",
            "summary": "Imports, exports and checks ledgers for every tenant.",
            "description": "A generated listing for the benchmark: it imports, exports and "
            "checks ledgers, and reports what it found to the tenant's administrators.",
            "highlights": ["Fast imports", "Checked exports"],
            "categories": ["finance", "data"],
            "pricing": {
                "model": "paid",
                "trialDays": 14,
                "plans": [{"name": "Team", "price": "9.00", "currency": "EUR"}],
            },
            "screenshots": [
                {"file": f"listing/shot-{i}.png", "caption": f"Screen {i}"} for i in range(shots)
            ],
            "support": {
                "contact": "help@vendor.example",
                "responseTime": "8 hours",
                "url": "https://vendor.example/support",
            },
            "documentation": "https://vendor.example/docs",
            "vendor": {"name": "Vendor Ltd", "url": "https://vendor.example"},
        }
    )


def generate(root: Path, listed: int, size_mb: int) -> tuple[Path, Path, str]:
    """The repo, the artifact store, and the commit that added the submitted release."""
    from pipeline.packaging import pack_plugin
    from pipeline.scaffold import init_repo
    from pipeline.signing.keys import generate_keypair, load_private_key, public_key_id
    from pipeline.store import ContentAddressedDirectory
    from pipeline.yamlio import dump_yaml

    repo, store = root / "repo", ContentAddressedDirectory(root / "store")
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")  # its own repo, never the one bench/out/ is in
    init_repo(repo)
    private_pem, public_pem = generate_keypair(PASSPHRASE)
    key = load_private_key(private_pem, PASSPHRASE)
    signing = {
        "apiVersion": API,
        "kind": "SigningPolicy",
        "keys": [{"id": public_key_id(public_pem), "publicKey": public_pem.decode()}],
    }
    files: dict[str, bytes | str] = {
        "policies/signing.yaml": dump_yaml(signing),
        "policies/market.yaml": (PROJECT / "policies" / "market.yaml").read_text(),
    }
    for index in range(listed):
        name = f"listed-{index:05d}"
        files[f"market/reviews/{name}/1.0.0.yaml"] = review(name, "1.0.0")
        if index % 2 == 0:
            files[f"releases/{name}/listing.yaml"] = listing(name, 1)
    packages = {}
    for version, permissions in (("1.0.0", ["tenant-data:read"]), ("1.1.0", ["tenant-data:read"])):
        source = root / "src" / version
        plugin_source(source, version, size_mb, permissions)
        packages[version] = pack_plugin(source, root / "packages")
    files.update(release_files("1.0.0", packages["1.0.0"], store, key))
    files[f"market/reviews/{PLUGIN}/1.0.0.yaml"] = review(PLUGIN, "1.0.0")
    files[f"releases/{PLUGIN}/listing.yaml"] = listing(PLUGIN, 5)
    for index in range(5):
        files[f"releases/{PLUGIN}/listing/shot-{index}.png"] = screenshot(index)
    write(repo, files)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "listed plugins, bench-plugin 1.0.0 listed")
    write(repo, release_files("1.1.0", packages["1.1.0"], store, key))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "release bench-plugin 1.1.0")
    return repo, store.root, git(repo, "rev-parse", "HEAD")


def steps(repo: Path, store: Path, commit: str) -> dict[str, Any]:
    from pipeline.gitrepo import GitRepo
    from pipeline.market.rules import RULES
    from pipeline.market.validate import ValidateRequest, validate_submission
    from pipeline.policy import CheckRequest
    from pipeline.policy.check import run_check
    from pipeline.snapshot import Snapshot
    from pipeline.store import ContentAddressedDirectory

    cas = ContentAddressedDirectory(store)
    light = tuple(rule for rule in RULES if not rule.needs_package)

    def validate(rules: tuple[Any, ...] = RULES) -> Any:
        handle = GitRepo(repo)  # a fresh handle: no cached parse from the round before
        snapshot = Snapshot(handle, handle.resolve(commit))
        request = ValidateRequest(snapshot, PLUGIN, "1.1.0", now=NOW, store=cas, rules=rules)
        return validate_submission(request)

    def passed(report: Any) -> None:
        assert report.verdict == "passed", report

    def check() -> Any:
        return run_check(GitRepo(repo), CheckRequest(head=commit, base=f"{commit}~1"))

    def check_passed(report: Any) -> None:
        assert report.status == "pass", [r for r in report.results if r.status != "pass"]

    def cli() -> Any:
        argv = [str(PX_MARKET), "validate", f"{PLUGIN}@1.1.0", "--repo", str(repo)]
        argv += ["--store", str(store), "--format", "json"]
        return subprocess.run(argv, capture_output=True, text=True, check=False)

    def cli_passed(done: Any) -> None:
        assert done.returncode == 0, done.stdout + done.stderr
        assert json.loads(done.stdout)["verdict"] == "passed"

    from timing import Step

    return {
        "validate": Step(validate, check=passed),
        "validate, no package": Step(lambda: validate(light), check=passed),
        "powerx check": Step(check, check=check_passed),
        "px-market validate (CLI)": Step(cli, check=cli_passed),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listed", type=int, help="listed plugins in the repo [2000]")
    parser.add_argument("--size-mb", type=int, help="the package's size before packing [20]")
    parser.add_argument("--runs", type=int, help="timed rounds [7; quick: 2]")
    parser.add_argument("--out", type=Path, default=PROJECT / "bench" / "out", help="work dir")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 200 listed, 2 MB")
    args = parser.parse_args(argv)
    listed, size_mb, runs = (200, 2, 2) if args.quick else (2000, 20, 7)
    listed, size_mb = args.listed or listed, args.size_mb or size_mb
    runs = args.runs or runs
    sys.path.insert(0, str(PROJECT))
    work = args.out / "market-validate"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    repo, store, commit = generate(work, listed, size_mb)
    package = next((work / "packages").glob("*1.1.0.pxp"))
    samples = rounds(steps(repo, store, commit), runs)
    full = pair_of(samples["validate"], samples["powerx check"])
    light = pair_of(samples["validate, no package"], samples["powerx check"])
    rows = [
        ("validate (every rule)", full.subject, full.ratio_cell()),
        ("validate, package rules off", light.subject, light.ratio_cell()),
        ("`powerx check` of the release (baseline)", full.baseline, "1.00x"),
        (
            "`px-market validate` CLI (subprocess)",
            Timing.of(samples["px-market validate (CLI)"]),
            "",
        ),
    ]
    one, five, fifteen = os.getloadavg()
    report = "\n".join(
        [
            f"{listed:,} listed plugins; package {package.stat().st_size / MIB:.1f} MB packed "
            f"({size_mb} MB of files); 5 screenshots 1920x1080",
            "",
            "| step | ms (min / median / max) | / baseline |",
            "|---|---:|---:|",
            *(f"| {name} | {timing.cell()} | {ratio} |" for name, timing, ratio in rows),
            "",
            f"{runs} interleaved rounds after a warm-up; load average {one:.2f}, {five:.2f}, "
            f"{fifteen:.2f}; target: validate under 1 s "
            + ("(met)" if full.subject.median < 1.0 else "(NOT met)"),
        ]
    )
    print(report)
    (args.out / "market_validate_bench.md").write_text(report + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return 0  # the table says whether the target was met; a failed step raises


if __name__ == "__main__":
    sys.exit(main())
