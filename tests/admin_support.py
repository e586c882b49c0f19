"""A release repo for the `px-admin` tests: teams and admin roles, tenants with comments,
and one plugin released with a real package (its plugin.yaml declares permissions) in a
real content-addressed artifact store."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conftest import CliResult, Repo, RunCli, git
from factories import API, plugin_state, release, yaml_text

from pipeline.cli.admin import cli
from pipeline.gitrepo import read_trailers
from pipeline.packaging import pack_plugin
from pipeline.scaffold import init_repo
from pipeline.store import ContentAddressedDirectory

TEAMS = """\
apiVersion: powerx.io/v1alpha1
kind: Teams
teams:
  ops:
    members:
      - login: ada
  testers:
    members:
      - login: tom
"""

CONSOLE = """\
apiVersion: powerx.io/v1alpha1
kind: ConsoleAccess
roles:
  - team: ops
    role: admin
  - team: testers
    role: admin
    environments: [test]
"""

PROD = """\
# Production: every paying tenant.
apiVersion: powerx.io/v1alpha1
kind: Environment
name: prod
position: 2   # index in policies/promotion.yaml
tenants:
  - id: acme   # the first customer
    name: Acme Corporation
  - id: globex
    name: Globex Corporation
groups:
  # Tenants that take new versions first.
  canary: [globex]
"""

TEST = """\
# The sandbox.
apiVersion: powerx.io/v1alpha1
kind: Environment
name: test
position: 0
tenants:
  - id: acme
    name: Acme (sandbox)
groups: {}
"""

DECLARED = ("tenant-data:read", "network")


@dataclass
class Site:
    """The repo, its artifact store, and how to run px-admin against it."""

    root: Path
    repo: Repo = field(init=False)
    store: Path = field(init=False)

    def __post_init__(self) -> None:
        path = self.root / "site"
        init_repo(path)
        self.repo = Repo(path)
        self.store = self.root / "store"
        files: dict[str, str | bytes | None] = {
            "policies/teams.yaml": TEAMS,
            "policies/console.yaml": CONSOLE,
            "environments/prod/environment.yaml": PROD,
            "environments/test/environment.yaml": TEST,
        }
        files.update(self.release("hello", "1.0.0", DECLARED, ("test", "prod")))
        self.repo.commit(files, "tenants, teams, and hello 1.0.0")

    def release(
        self, name: str, version: str, permissions: tuple[str, ...], envs: tuple[str, ...]
    ) -> dict[str, str | bytes | None]:
        """Pack and store name@version (declaring `permissions`); its release and states."""
        source = self.root / "src" / f"{name}-{version}"
        (source / "dist").mkdir(parents=True, exist_ok=True)
        manifest = {
            "apiVersion": API,
            "kind": "Plugin",
            "name": name,
            "version": version,
            "description": f"{name} for the admin tests",
            "compatibility": {"powerx": ">=2.4,<3"},
            "license": "Apache-2.0",
            "permissions": list(permissions),
            "entrypoint": "main.py",
            "healthCheck": {"command": ["true"], "timeoutSeconds": 10},
            "build": {"command": ["true"]},
        }
        (source / "plugin.yaml").write_text(yaml_text(manifest))
        (source / "dist" / "main.py").write_text(f"print('{name} {version}')\n")
        packed = pack_plugin(source, self.root / "out")
        ContentAddressedDirectory(self.store).put(packed.path)
        artifact = {
            "uri": f"cas:sha256:{packed.sha256}",
            "sha256": packed.sha256,
            "size": packed.path.stat().st_size,
        }
        files: dict[str, str | bytes | None] = {
            f"releases/{name}/{version}/release.yaml": yaml_text(
                release(name, version, artifact=artifact, evidence={})
            )
        }
        for env in envs:
            files[f"environments/{env}/plugins/{name}.yaml"] = yaml_text(
                plugin_state(name, version, digest=packed.sha256)
            )
        return files

    def admin(self, run_cli: RunCli, *argv: str, operator: str = "ada") -> CliResult:
        """Run `px-admin ARGV --repo SITE --operator OPERATOR` (a change command)."""
        return run_cli(cli, *argv, "--repo", str(self.repo.path), "--operator", operator)

    def read(self, path: str, rev: str = "main") -> str:
        return self.repo.git("show", f"{rev}:{path}")

    def trailers(self, rev: str = "main") -> dict[str, str]:
        return read_trailers(self.repo.git("log", "-1", "--format=%B", rev))

    def bare_remote(self) -> Path:
        """A bare remote `origin` holding main."""
        bare = self.root / "remote.git"
        git(self.root, "init", "-q", "--bare", "-b", "main", str(bare))
        self.repo.git("remote", "add", "origin", str(bare))
        self.repo.git("push", "-q", "origin", "main")
        return bare


def json_of(result: CliResult) -> Any:
    import json

    assert result.code == 0, result.err
    return json.loads(result.out)
