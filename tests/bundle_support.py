"""Builders for the offline-bundle tests: a source repo A with real signed packages in a
store, an exporter key, and a separate site repo B whose policy trusts both.

(No tests here: tests/test_bundle_*.py import these helpers.)
"""

from __future__ import annotations

import hashlib
import io
import sys
import tarfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conftest import Repo, git
from factories import API, PASSPHRASE, release, session_key, signing_policy, yaml_text

from pipeline.bundle.export import ExportRequest, ExportResult, export_bundle
from pipeline.bundle.importer import ImportRequest
from pipeline.models.signing import ReleasePredicate
from pipeline.packaging import pack_plugin
from pipeline.scaffold import init_repo
from pipeline.signing.keys import generate_keypair, public_key_id
from pipeline.signing.sign import sign_with_key
from pipeline.store.cas import ContentAddressedDirectory

PASS = [sys.executable, "-c", "import sys; sys.exit(0)"]
FAIL = [sys.executable, "-c", "import sys; print('database unreachable'); sys.exit(1)"]
ENV = "prod"


def plugin_manifest(name: str, version: str, health: list[str]) -> dict[str, Any]:
    """A valid plugin.yaml as data."""
    return {
        "apiVersion": API,
        "kind": "Plugin",
        "name": name,
        "version": version,
        "description": f"{name} for the bundle tests",
        "compatibility": {"powerx": ">=2.4,<3"},
        "license": "Apache-2.0",
        "entrypoint": "main.py",
        "healthCheck": {"command": health, "timeoutSeconds": 10},
        "build": {"command": ["true"]},
    }


@dataclass
class Source:
    """Repo A (the release repo with network access), its artifact store, an exporter key."""

    root: Path
    repo: Repo = field(init=False)
    store: Path = field(init=False)
    key: Path = field(init=False)
    public: bytes = field(init=False)

    def __post_init__(self) -> None:
        path = self.root / "repo-a"
        init_repo(path)
        self.repo = Repo(path)
        self.repo.commit({"policies/signing.yaml": yaml_text(signing_policy())}, "trust")
        self.store = self.root / "store-a"
        private_pem, self.public = exporter_key()
        self.key = self.root / "exporter.key"
        self.key.write_bytes(private_pem)

    def release(
        self,
        name: str,
        version: str,
        *,
        health: list[str] | None = None,
        deploy: bool = True,
        padding: int = 0,
        **overrides: Any,
    ) -> str:
        """Build, pack, store and sign name@version, write its release (and deploy it)."""
        source = self.root / "src" / f"{name}-{version}"
        (source / "dist").mkdir(parents=True, exist_ok=True)
        (source / "plugin.yaml").write_text(
            yaml_text(plugin_manifest(name, version, health or PASS))
        )
        (source / "dist" / "main.py").write_text(f"print('{name} {version}')\n")
        if padding:
            (source / "dist" / "data.bin").write_bytes(_incompressible(padding, name, version))
        packed = pack_plugin(source, self.root / "out")
        ContentAddressedDirectory(self.store).put(packed.path)
        predicate = ReleasePredicate.model_validate(
            {"plugin": name, "version": version, "sourceCommit": "0" * 40, "builder": "tests"}
        )
        signature = sign_with_key(packed.sha256, packed.path.name, predicate, session_key()[0])
        manifest = release(
            name,
            version,
            artifact={
                "uri": f"cas:sha256:{packed.sha256}",
                "sha256": packed.sha256,
                "size": packed.path.stat().st_size,
                "signature": f"{packed.path.name}.sigstore.json",
            },
            evidence={},
            **overrides,
        )
        folder = f"releases/{name}/{version}"
        files: dict[str, str | bytes | None] = {
            f"{folder}/release.yaml": yaml_text(manifest),
            f"{folder}/{packed.path.name}.sigstore.json": signature,
        }
        if deploy:
            files[f"environments/{ENV}/plugins/{name}.yaml"] = yaml_text(
                {
                    "apiVersion": API,
                    "kind": "PluginState",
                    "plugin": name,
                    "version": version,
                    "digest": packed.sha256,
                }
            )
        self.repo.commit(files, f"release {name} {version}")
        return packed.sha256

    def export(self, output: Path, **options: Any) -> ExportResult:
        """Export prod to `output` (signed with the exporter key) through the Python API."""
        values: dict[str, Any] = {
            "repo": self.repo.path,
            "environment": ENV,
            "output": output,
            "key": self.key,
            "passphrase": PASSPHRASE,
            "now": datetime.now(UTC),
            "stores": (self.store,),
        }
        values.update(options)
        return export_bundle(ExportRequest(**values))


def _incompressible(size: int, *seed: str) -> bytes:
    block = hashlib.sha256("/".join(seed).encode()).digest()
    out = bytearray()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block * 32
    return bytes(out[:size])


_EXPORTER: tuple[bytes, bytes] | None = None


def exporter_key() -> tuple[bytes, bytes]:
    """The exporter's key pair (private PEM encrypted with PASSPHRASE, public PEM)."""
    global _EXPORTER
    if _EXPORTER is None:
        _EXPORTER = generate_keypair(PASSPHRASE)
    return _EXPORTER


def site_policy(bundle_signer: bytes | None = None) -> dict[str, Any]:
    """Repo B's signing policy: trusts the release key, and `bundle_signer` for bundles."""
    signer = bundle_signer or exporter_key()[1]
    policy = signing_policy()
    policy["keys"].append({"id": public_key_id(signer), "publicKey": signer.decode()})
    policy["bundles"] = {"keys": [public_key_id(signer)]}
    return policy


@dataclass
class Site:
    """Repo B (the isolated site) and its plugin store, in another directory."""

    root: Path
    repo: Repo = field(init=False)
    store: Path = field(init=False)

    def __post_init__(self) -> None:
        path = self.root / "repo-b"
        init_repo(path)
        self.repo = Repo(path)
        self.repo.commit({"policies/signing.yaml": yaml_text(site_policy())}, "site trust")
        self.store = self.root / "store-b"

    def request(self, bundle: Path, **options: Any) -> ImportRequest:
        values: dict[str, Any] = {
            "bundle": bundle,
            "repo": self.repo.path,
            "store": self.store,
            "now": datetime.now(UTC),
        }
        values.update(options)
        return ImportRequest(**values)

    def argv(self, bundle: Path, *extra: str) -> list[str]:
        """`powerx plugin import` arguments for this site."""
        return [
            "plugin", "import", "--offline", str(bundle), "--repo", str(self.repo.path),
            "--store", str(self.store), "--operator", "admin", *extra,
        ]  # fmt: skip

    def fingerprint(self) -> tuple[str, dict[str, str]]:
        """HEAD and every file of the store outside the importer's scratch folder."""
        files: dict[str, str] = {}
        if self.store.exists():
            for path in sorted(self.store.rglob("*")):
                relative = path.relative_to(self.store).as_posix()
                if relative.startswith("incoming") or relative == ".lock":
                    continue
                if path.is_symlink():
                    files[relative] = "-> " + str(path.readlink())
                elif path.is_file():
                    files[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
        return git(self.repo.path, "rev-parse", "HEAD"), files

    def active(self, name: str) -> str | None:
        link = self.store / "active" / name
        return link.resolve().name if link.is_symlink() else None


def rewrite_bundle(
    source: Path, target: Path, *, change: Any = None, insert: list[tarfile.TarInfo] | None = None
) -> None:
    """Copy a bundle entry by entry; `change(name, data)` may return new bytes for an entry,
    and `insert` entries go right after the signature."""
    with tarfile.open(source) as old, tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as new:
        for member in old.getmembers():
            handle = old.extractfile(member)
            data = handle.read() if handle else b""
            if change is not None:
                data = change(member.name, data)
            member.size = len(data)
            new.addfile(member, io.BytesIO(data))
            if member.name == "bundle.json.sigstore.json":
                for extra in insert or []:
                    new.addfile(extra, io.BytesIO(b"x" * extra.size) if extra.isreg() else None)
