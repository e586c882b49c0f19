"""A real OCI registry for the tests: Debian's `docker-registry` (distribution 2.8).

`registry` runs it anonymously over plain http on a free loopback port; `auth_registry`
with htpasswd users (bcrypt, made by apache2-utils' `htpasswd -B`) behind TLS whose
certificate comes from a CA made here (`ca_file`). Readiness is a poll of `/v2/`. Both
are module-scoped: tests use their own repository names. Distribution 2.8 has no referrers
API, so it exercises the tag-schema fallback; `tests/registry_proxy.py` speaks the
referrers API and the bearer-token flow in front of it.
"""

from __future__ import annotations

import random
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus import free_port
from tlsfiles import Tls, make_tls
from waiting import terminate, wait_until

REGISTRY_BIN = "/usr/bin/docker-registry"
USER, PASSWORD = "publisher", "s3cret-Pa55word"
_SETPRIV = shutil.which("setpriv")
_DIE_WITH_PARENT = [_SETPRIV, "--pdeathsig", "KILL"] if _SETPRIV else []


class Registry:
    """One `docker-registry serve` process with its own storage and config."""

    def __init__(self, folder: Path, *, tls: Tls | None = None, htpasswd: bool = False) -> None:
        if not Path(REGISTRY_BIN).is_file():
            pytest.fail(f"{REGISTRY_BIN} is missing: run make setup (Debian's docker-registry)")
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.tls = tls
        self.port = free_port()
        self.authority = f"127.0.0.1:{self.port}"
        self.base = f"{'https' if tls else 'http'}://{self.authority}"
        self.storage = folder / "storage"
        lines = [
            "version: 0.1",
            "log: {level: error, accesslog: {disabled: true}}",
            f"storage: {{filesystem: {{rootdirectory: {self.storage}}}, delete: {{enabled: true}}}}",
            "http:",
            f"  addr: {self.authority}",
            "  secret: powerx-tests",
        ]
        if tls is not None:
            lines.append(f"  tls: {{certificate: {tls.certificate}, key: {tls.key}}}")
        if htpasswd:
            users = folder / "htpasswd"
            subprocess.run(
                ["htpasswd", "-B", "-i", "-c", str(users), USER],
                input=PASSWORD.encode(),
                check=True,
                capture_output=True,
            )
            lines.append(f"auth: {{htpasswd: {{realm: powerx-tests, path: {users}}}}}")
        self.config = folder / "config.yml"
        self.config.write_text("\n".join(lines) + "\n")
        self.log = folder / "registry.log"
        self._process: subprocess.Popen[bytes] | None = None

    def location(self, repository: str) -> str:
        """`oci://127.0.0.1:PORT/<repository>`."""
        return f"oci://{self.authority}/{repository}"

    def start(self) -> None:
        """Start the process; return once `/v2/` answers (200, or 401 with auth)."""
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [*_DIE_WITH_PARENT, REGISTRY_BIN, "serve", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        verify = ssl.create_default_context(cafile=str(self.tls.ca_file) if self.tls else None)
        wait_until(lambda: self._answers(verify), f"docker-registry on {self.authority}")

    def _answers(self, verify: ssl.SSLContext) -> bool:
        if self._process is not None and self._process.poll() is not None:
            pytest.fail(f"docker-registry exited: {self.log.read_text()[-2000:]}")
        try:
            status = httpx.get(f"{self.base}/v2/", verify=verify, timeout=2).status_code
        except httpx.HTTPError:
            return False
        return status in (200, 401)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL."""
        process, self._process = self._process, None
        terminate(process)


def _running(registry: Registry) -> Iterator[Registry]:
    registry.start()
    try:
        yield registry
    finally:
        registry.stop()


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """docker-registry without auth, plain http on a free loopback port."""
    yield from _running(Registry(tmp_path_factory.mktemp("registry")))


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """docker-registry with htpasswd users (USER, PASSWORD), TLS from a CA made here."""
    folder = tmp_path_factory.mktemp("auth-registry")
    yield from _running(Registry(folder, tls=make_tls(folder / "tls"), htpasswd=True))


def make_package(
    folder: Path, name: str = "hello", version: str = "1.0.0", padding: int = 0
) -> Path:
    """A real `.pxp` (packed by `pack_plugin`), with `padding` incompressible bytes inside."""
    from bundle_support import PASS, plugin_manifest
    from factories import yaml_text

    from pipeline.packaging import pack_plugin

    source = folder / "src" / f"{name}-{version}"
    (source / "dist").mkdir(parents=True, exist_ok=True)
    (source / "plugin.yaml").write_text(yaml_text(plugin_manifest(name, version, PASS)))
    (source / "dist" / "main.py").write_text(f"print('{name} {version}')\n")
    if padding:
        noise = random.Random(f"{name}-{version}").randbytes(padding)  # gzip cannot shrink it
        (source / "dist" / "data.bin").write_bytes(noise)
    return pack_plugin(source, folder / "out").path


def signed_package(folder: Path, name: str = "hello", version: str = "1.0.0") -> Path:
    """`make_package`, signed with the test key (`ARTIFACT.sigstore.json` beside it)."""
    from factories import session_key

    from pipeline.fsutil import file_sha256
    from pipeline.models.signing import ReleasePredicate
    from pipeline.signing.sign import sign_with_key

    package = make_package(folder, name, version)
    predicate = ReleasePredicate.model_validate(
        {"plugin": name, "version": version, "sourceCommit": "a" * 40, "builder": "tests"}
    )
    bundle = sign_with_key(file_sha256(package), package.name, predicate, session_key()[0])
    package.with_name(package.name + ".sigstore.json").write_bytes(bundle)
    return package
