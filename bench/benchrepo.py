"""The large generated release repo the benchmarks share, and their process helpers.

The repo (default 5,000 plugins x 3 versions x 3 environments, 10,000 commits) is written
with the real `git fast-import`, so generating it takes seconds, and is reused on the next
run when its parameters match. Files are named by content keys (`FileKey`) and each
distinct content becomes one blob; a benchmark that needs other contents passes its own
`Content` function to `write_repo`.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO, Protocol

PROJECT = Path(__file__).resolve().parents[1]
POLICY_TEMPLATES = PROJECT / "pipeline" / "templates" / "repo" / "policies"
REPORTS = PROJECT / "tests" / "data" / "reports" / "python" / "passing"
"""The vendored passing coverage, JUnit and SARIF reports every release carries as evidence."""
POWERX = Path(sys.executable).parent / "powerx"

KEY = PROJECT / "examples" / "keys" / "samples.key"
PASSPHRASE = b"powerx-samples"
APPROVALS = b"""apiVersion: powerx.io/v1alpha1
kind: ApprovalPolicy
environments:
  staging: {required: 0}
  prod: {required: 0}
"""
"""No approvals needed anywhere: the benchmarks time gates, not waiting for people."""

ENVIRONMENTS = ("test", "staging", "prod")
VERSIONS = ("1.0.0", "1.1.0", "1.2.0")
NEW_VERSION = "1.3.0"
EVIDENCE = {"coverage.json": "coverage", "junit.xml": "tests", "bandit.sarif": "scans"}
EPOCH = 1_700_000_000
COMMITTER = b"Bench Bot <bench@example.com>"

FileKey = tuple[str, ...]
"""What a file holds: ("release", plugin, version), ("state", plugin, version), ..."""
Changes = dict[str, FileKey]
"""One commit's changes: repo path -> content key."""
Content = Callable[[FileKey], bytes]
"""The bytes a content key stands for."""


# -- file contents ---------------------------------------------------------------------


def plugin_name(index: int) -> str:
    """The name of the plugin with this index, e.g. plugin-00042."""
    return f"plugin-{index:05d}"


def digest_of(plugin: str, version: str) -> str:
    """A stable stand-in for the sha256 of a release's artifact."""
    return hashlib.sha256(f"{plugin}-{version}.pxp".encode()).hexdigest()


def bundle_name(plugin: str, version: str) -> str:
    """The file name of a release's signature bundle, next to its release.yaml."""
    return f"{plugin}-{version}.pxp.sigstore.json"


def release_yaml(plugin: str, version: str, *, signed: bool = False) -> bytes:
    """A valid release manifest; new versions depend on plugin-00000 (a dependency gate).

    `signed`: the artifact names its signature bundle (`bundle_name`).
    """
    ticket = int(hashlib.sha256(f"{plugin}{version}".encode()).hexdigest()[:6], 16) % 10_000
    needs_base = version == NEW_VERSION and plugin != plugin_name(0)
    dependencies = '\n  plugin-00000: ">=1.0.0,<2"' if needs_base else " {}"
    evidence = "\n".join(f"  {field}:\n    - evidence/{name}" for name, field in EVIDENCE.items())
    signature = f"\n  signature: {bundle_name(plugin, version)}" if signed else ""
    return f"""apiVersion: powerx.io/v1alpha1
kind: Release
plugin: {plugin}
version: {version}
artifact:
  uri: file://artifacts/{plugin}-{version}.pxp
  sha256: {digest_of(plugin, version)}
  size: 1234{signature}
notes: Release {version} of {plugin}.
changes:
  - id: PX-{ticket}
    title: Improve {plugin}
    link: https://example.com/PX-{ticket}
evidence:
{evidence}
compatibility:
  powerx: ">=2.4,<3"
dependencies:{dependencies}
license: Apache-2.0
channels:
  - online
  - offline
rollback:
  playbook: "1. Point the environment back at the previous version."
contacts:
  - name: Ada
    email: ada@example.com
""".encode()


def state_yaml(plugin: str, version: str) -> bytes:
    """A valid PluginState pinning plugin@version."""
    return (
        f"apiVersion: powerx.io/v1alpha1\nkind: PluginState\nplugin: {plugin}\n"
        f"version: {version}\ndigest: {digest_of(plugin, version)}\n"
    ).encode()


def environment_yaml(env: str) -> bytes:
    """An environment manifest as `powerx init` writes it."""
    position = ENVIRONMENTS.index(env)
    return (
        f"apiVersion: powerx.io/v1alpha1\nkind: Environment\nname: {env}\n"
        f"position: {position}\ntenants: []\ngroups: {{}}\n"
    ).encode()


def content(key: FileKey) -> bytes:
    """The bytes a content key stands for."""
    kind, *args = key
    if kind == "release":
        return release_yaml(args[0], args[1])
    if kind == "state":
        return state_yaml(args[0], args[1])
    if kind == "environment":
        return environment_yaml(args[0])
    if kind == "policy":
        return (POLICY_TEMPLATES / args[0]).read_bytes()
    if kind == "report":
        return (REPORTS / args[0]).read_bytes()
    raise ValueError(f"unknown content key {key}")


# -- changes ---------------------------------------------------------------------------


def release_files(plugin: str, version: str) -> Changes:
    """The four files of a release folder: manifest and its evidence."""
    folder = f"releases/{plugin}/{version}"
    files: Changes = {f"{folder}/release.yaml": ("release", plugin, version)}
    files.update({f"{folder}/evidence/{name}": ("report", name) for name in EVIDENCE})
    return files


def promotion(env: str, plugin: str, version: str) -> Changes:
    """Pin plugin@version in an environment."""
    return {f"environments/{env}/plugins/{plugin}.yaml": ("state", plugin, version)}


def init_files() -> Changes:
    """What `powerx init` commits: policies and environments."""
    policies = sorted(path.name for path in POLICY_TEMPLATES.glob("*.yaml"))
    files: Changes = {f"policies/{name}": ("policy", name) for name in policies}
    for env in ENVIRONMENTS:
        files[f"environments/{env}/environment.yaml"] = ("environment", env)
    return files


# -- history ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One logical change of the history (a commit, unless grouped with neighbours)."""

    subject: str
    changes: Changes


def onboarding(plugins: int, batches: int) -> Iterator[Event]:
    """Plugins arrive in batches: release 1.0.0, deployed to every environment."""
    size = max(1, -(-plugins // batches))
    for start in range(0, plugins, size):
        changes: Changes = {}
        for index in range(start, min(start + size, plugins)):
            name = plugin_name(index)
            changes.update(release_files(name, VERSIONS[0]))
            for env in ENVIRONMENTS:
                changes.update(promotion(env, name, VERSIONS[0]))
        yield Event(f"onboard plugins {start}..{min(start + size, plugins) - 1}", changes)


def lifecycle(plugins: int) -> Iterator[Event]:
    """Release 1.1.0, promote it to test and staging, then release 1.2.0 (undeployed)."""
    steps: list[tuple[str, Callable[[str], Changes]]] = [
        ("release 1.1.0", lambda p: release_files(p, VERSIONS[1])),
        ("promote 1.1.0 to test", lambda p: promotion("test", p, VERSIONS[1])),
        ("promote 1.1.0 to staging", lambda p: promotion("staging", p, VERSIONS[1])),
        ("release 1.2.0", lambda p: release_files(p, VERSIONS[2])),
    ]
    for subject, make in steps:
        for index in range(plugins):
            name = plugin_name(index)
            yield Event(f"{name}: {subject}", make(name))


def rollbacks(plugins: int, count: int) -> Iterator[Event]:
    """Pairs of test rollbacks to 1.0.0 and re-promotions of 1.1.0 (net: no change)."""
    for pair in range(-(-count // 2)):
        name = plugin_name(pair % plugins)
        yield Event(f"{name}: roll test back to 1.0.0", promotion("test", name, VERSIONS[0]))
        yield Event(f"{name}: promote 1.1.0 to test again", promotion("test", name, VERSIONS[1]))


def history(plugins: int, commits: int) -> list[Event]:
    """Exactly `commits` commits whose final tree is the full layout.

    At the end every plugin runs 1.0.0 in prod and 1.1.0 in test and staging; 1.2.0 is
    released and deployed nowhere.
    """
    events = [Event("powerx init", init_files())]
    events += onboarding(plugins, batches=min(100, plugins))
    events += lifecycle(plugins)
    if len(events) < commits:
        events += rollbacks(plugins, commits - len(events))
    return group(events, commits)


def group(events: list[Event], commits: int) -> list[Event]:
    """Merge neighbouring events so that there are exactly `commits` of them."""
    if len(events) <= commits:
        return events
    per, extra = divmod(len(events), commits)
    grouped, start = [], 0
    for index in range(commits):
        end = start + per + (1 if index < extra else 0)
        chunk = events[start:end]
        changes: Changes = {}
        for event in chunk:
            changes.update(event.changes)
        grouped.append(Event("; ".join(event.subject for event in chunk), changes))
        start = end
    return grouped


# -- signed releases ---------------------------------------------------------------------


@cache
def signing_key() -> Any:
    """The sample signing key (ECDSA P-256)."""
    from pipeline.signing.keys import load_private_key

    return load_private_key(KEY.read_bytes(), PASSPHRASE, str(KEY))


def signing_policy() -> bytes:
    """A signing policy trusting the sample key, and nothing else."""
    from pipeline.models.keyids import public_key_id
    from pipeline.signing.keys import public_pem

    pem = public_pem(signing_key().public_key()).decode()
    indented = "".join(f"      {line}\n" for line in pem.splitlines())
    return (
        "apiVersion: powerx.io/v1alpha1\nkind: SigningPolicy\nidentities: []\nkeys:\n"
        f"  - id: {public_key_id(pem.encode())}\n    publicKey: |\n{indented}"
        "revokedKeys: []\nenvironments: {}\n"
    ).encode()


def signed_bundle(plugin: str, version: str) -> bytes:
    """A key-mode Sigstore bundle over the release's artifact, naming plugin@version."""
    from pipeline.models.signing import ReleasePredicate
    from pipeline.signing.sign import sign_with_key

    predicate = ReleasePredicate.model_validate(
        {"plugin": plugin, "version": version, "sourceCommit": "0" * 40, "builder": "bench"}
    )
    name = f"{plugin}-{version}.pxp"
    return sign_with_key(digest_of(plugin, version), name, predicate, signing_key())


def signed_content(key: FileKey) -> bytes:
    """`content`, with signed releases, their bundles and the bench's policies."""
    kind, *args = key
    if kind == "release":
        return release_yaml(args[0], args[1], signed=True)
    if kind == "bundle":
        return signed_bundle(args[0], args[1])
    if key == ("policy", "signing.yaml"):
        return signing_policy()
    if key == ("policy", "approvals.yaml"):
        return APPROVALS
    return content(key)


def with_bundles(event: Event) -> Event:
    """The event, with a signature bundle next to every release manifest it adds."""
    changes = dict(event.changes)
    for key in event.changes.values():
        if key[0] == "release":
            plugin, version = key[1], key[2]
            changes[f"releases/{plugin}/{version}/{bundle_name(plugin, version)}"] = (
                "bundle",
                plugin,
                version,
            )
    return Event(event.subject, changes)


def signed_history(plugins: int, commits: int) -> list[Event]:
    """`history`, with every release signed, the sample key trusted and no approvals needed."""
    events = [with_bundles(event) for event in history(plugins, commits)]
    first = events[0]
    approvals: Changes = {"policies/approvals.yaml": ("policy", "approvals.yaml")}
    events[0] = Event(first.subject, {**first.changes, **approvals})
    return events


# -- git fast-import -------------------------------------------------------------------


class FastImport:
    """Writes a fast-import stream; each distinct content is one blob, reused by mark."""

    def __init__(self, stream: BinaryIO, content: Content = content) -> None:
        self.stream = stream
        self.content = content
        self.marks: dict[FileKey, int] = {}
        self.next_mark = 1
        self.time = EPOCH

    def _mark(self) -> int:
        self.next_mark += 1
        return self.next_mark - 1

    def _data(self, payload: bytes) -> None:
        self.stream.write(b"data %d\n" % len(payload))
        self.stream.write(payload)
        self.stream.write(b"\n")

    def blob(self, key: FileKey) -> int:
        """The mark of a content, writing the blob the first time it is needed."""
        if key not in self.marks:
            mark = self._mark()
            self.stream.write(b"blob\nmark :%d\n" % mark)
            self._data(self.content(key))
            self.marks[key] = mark
        return self.marks[key]

    def commit(self, ref: str, event: Event, parent: int | None) -> int:
        """Write one commit on `ref` (after `parent`); its mark."""
        blobs = {path: self.blob(key) for path, key in sorted(event.changes.items())}
        mark = self._mark()
        self.time += 600
        self.stream.write(b"commit %s\nmark :%d\n" % (ref.encode(), mark))
        self.stream.write(b"committer %s %d +0000\n" % (COMMITTER, self.time))
        self._data(event.subject.encode())
        if parent is not None:
            self.stream.write(b"from :%d\n" % parent)
        for path, blob in blobs.items():
            self.stream.write(b"M 100644 :%d %s\n" % (blob, path.encode()))
        return mark


def git(repo: Path, *args: str) -> str:
    """Run git in `repo`; its stdout."""
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def write_repo(
    path: Path,
    main: Iterable[Event],
    branches: dict[str, Event] | None = None,
    content: Content = content,
) -> None:
    """A bare repo whose `main` is `main`, with each of `branches` one commit off its tip.

    Written with `git fast-import`, then packed the way a server would.
    """
    if path.exists():
        shutil.rmtree(path)
    subprocess.run(["git", "init", "--quiet", "--bare", "-b", "main", str(path)], check=True)
    process = subprocess.Popen(
        ["git", "-C", str(path), "fast-import", "--quiet", "--done"], stdin=subprocess.PIPE
    )
    assert process.stdin is not None
    with io.BufferedWriter(process.stdin, buffer_size=1 << 20) as stream:
        writer = FastImport(stream, content)
        tip = None
        for event in main:
            tip = writer.commit("refs/heads/main", event, tip)
        for name, event in (branches or {}).items():
            writer.commit(f"refs/heads/{name}", event, tip)
        stream.write(b"done\n")
    if process.wait() != 0:
        raise RuntimeError("git fast-import failed")
    git(path, "gc", "--quiet")


class Spec(Protocol):
    """The parameters of a generated repo (a dataclass); a cached repo is reused when equal."""

    @property
    def name(self) -> str:
        """The folder name of the repo under the work dir."""


def ensure_repo(spec: Spec, work: Path, build: Callable[[Path], None]) -> Path:
    """The repo for `spec` under `work`, built by `build` unless a cached one matches."""
    path = work / spec.name
    stamp = path / "bench-params.json"
    wanted = json.dumps(asdict(spec), sort_keys=True)  # type: ignore[call-overload]
    if stamp.exists() and stamp.read_text() == wanted:
        print(f"reusing {path}")
        return path
    print(f"generating {path} ...", flush=True)
    started = time.perf_counter()
    build(path)
    stamp.write_text(wanted)
    print(f"  done in {time.perf_counter() - started:.1f} s", flush=True)
    return path


# -- processes -------------------------------------------------------------------------


def run_cli(args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run a command, failing the benchmark unless it exits 0."""
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        output = result.stdout[-2000:] + result.stderr
        raise RuntimeError(f"{' '.join(args)} exited {result.returncode}:\n{output}")
    return result


def machine() -> str:
    """CPU count, CPU model, Python and git versions."""
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout
    return f"nproc {nproc}, CPU {model}, Python {platform.python_version()}, {git_version.strip()}"
