"""`plugin.yaml`: what a plugin is, what it may do, and how to build, start and check it.

It lives at the top of a plugin's source folder and travels, unchanged, at the top of the
plugin's package (`<name>-<version>.pxp`). Every path in it is relative to the plugin folder
(or, for `entrypoint`, to the built `dist/` folder) and may not leave it.

Permissions a plugin may ask for (`PERMISSIONS`):

| permission          | grants                                                        |
|---------------------|---------------------------------------------------------------|
| `network`           | outbound network connections                                  |
| `filesystem:read`   | reading files outside the plugin's own folder                 |
| `filesystem:write`  | writing files outside the plugin's own data folder            |
| `tenant-data:read`  | reading the tenant's business data through the PowerX API     |
| `tenant-data:write` | changing the tenant's business data through the PowerX API    |
| `secrets:read`      | reading the secrets an operator configured for this plugin    |
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from pipeline.models.base import Document, Name, SemVer, Strict, VersionRangeText
from pipeline.names import did_you_mean

PERMISSIONS: dict[str, str] = {
    "network": "outbound network connections",
    "filesystem:read": "reading files outside the plugin's own folder",
    "filesystem:write": "writing files outside the plugin's own data folder",
    "tenant-data:read": "reading the tenant's business data through the PowerX API",
    "tenant-data:write": "changing the tenant's business data through the PowerX API",
    "secrets:read": "reading the secrets an operator configured for this plugin",
}
"""Every permission a plugin may request, with what it grants."""

MANIFEST_FILE = "plugin.yaml"
DIST_DIR = "dist"
CHECKSUMS_FILE = "checksums.txt"
SBOM_FILE = "sbom.cdx.json"
RESERVED_NAMES = frozenset({MANIFEST_FILE, CHECKSUMS_FILE, SBOM_FILE})
"""Files at the top of a package that the packer writes itself."""

LICENSE_PATTERN = r"^[()]*[A-Za-z0-9.+-]+[()]*( (AND|OR|WITH) [()]*[A-Za-z0-9.+-]+[()]*)*$"
"""An SPDX licence id or expression (the same rule as in release.yaml)."""

_DRIVE = re.compile(r"^[A-Za-z]:")


def _check_relative(text: str) -> str:
    """A relative, '/'-separated path that stays inside its folder, normalised."""
    if "\\" in text:
        raise ValueError("use '/' to separate folders, not '\\'")
    path = PurePosixPath(text)
    if path.is_absolute() or _DRIVE.match(text):
        raise ValueError("must be a relative path inside the plugin folder, not an absolute one")
    if ".." in path.parts:
        raise ValueError("must stay inside the plugin folder: '..' is not allowed")
    if not path.parts:
        raise ValueError("must name a file or folder inside the plugin folder")
    return path.as_posix()


RelativePath = Annotated[
    str,
    AfterValidator(_check_relative),
    Field(
        min_length=1,
        description="a relative path with '/' separators; no leading '/', no '..'",
    ),
]


def _check_permission(text: str) -> str:
    if text in PERMISSIONS:
        return text
    guess = did_you_mean(text, PERMISSIONS, cutoff=0.6)
    known = ", ".join(PERMISSIONS)
    advice = f"did you mean {guess!r}?" if guess else f"known permissions: {known}"
    raise ValueError(f"unknown permission {text!r}; {advice}")


Permission = Annotated[
    str,
    AfterValidator(_check_permission),
    Field(
        description="one of: " + ", ".join(PERMISSIONS),
        json_schema_extra={"enum": list(PERMISSIONS)},
    ),
]

Argument = Annotated[str, Field(min_length=1)]
Argv = Annotated[
    list[Argument],
    Field(min_length=1, description="a program and its arguments, run without a shell"),
]


class HttpCheck(Strict):
    """An HTTP GET on the local host that must answer 2xx.

    With a `serve` block the port is left out: the host probes the `PORT` it gave the plugin.
    """

    path: str = Field(pattern=r"^/\S*$", description="the URL path, e.g. /healthz")
    port: int | None = Field(
        default=None, ge=1, le=65535, description="a fixed port; leave out with 'serve'"
    )


class HealthCheck(Strict):
    """How the host tells that the plugin is up: exactly one of `command` and `http`."""

    command: Argv | None = Field(default=None, description="exits 0 when healthy")
    http: HttpCheck | None = None
    timeout_seconds: int = Field(default=10, ge=1, le=3600, alias="timeoutSeconds")

    @model_validator(mode="after")
    def _exactly_one(self) -> HealthCheck:
        if (self.command is None) == (self.http is None):
            raise ValueError("give exactly one of 'command' and 'http'")
        return self


def _check_program(argv: list[str]) -> list[str]:
    """A program named by a path must stay inside the plugin's dist/ folder."""
    program = argv[0]
    if "/" in program or "\\" in program:
        try:
            _check_relative(program)
        except ValueError as error:
            raise ValueError(f"the program {program!r} {error}") from None
    return argv


class ServeSpec(Strict):
    """How the host starts the plugin as a long-running process (the runtime contract).

    The command runs without a shell in the version's `dist/` folder (on `PYTHONPATH` too),
    with `PORT` (a free loopback port to listen on), `POWERX_TENANT`, `POWERX_API` (the host
    API's base URL) and `POWERX_TOKEN` (this instance's token for the host API). The plugin
    serves its UI at `/` and its API under `/api/`.
    """

    command: Annotated[Argv, AfterValidator(_check_program)] = Field(
        description="a program and its arguments, run without a shell in dist/; "
        "a program given as a path is relative to dist/"
    )
    ready_seconds: int = Field(
        default=10,
        ge=1,
        le=300,
        alias="readySeconds",
        description="how long the plugin may take to start answering before it counts as failed",
    )


class BuildSpec(Strict):
    """How to build the plugin: a command run in the plugin folder, and where it writes."""

    command: Argv
    output: RelativePath = Field(
        default="build", description="the folder the command fills; it becomes dist/"
    )

    @field_validator("output")
    @classmethod
    def _not_dist(cls, output: str) -> str:
        if PurePosixPath(output).parts[0] == DIST_DIR:
            raise ValueError(f"must not be {DIST_DIR}/ or inside it: build/ is copied to dist/")
        return output


class PluginManifest(Document):
    """A plugin: identity, host compatibility, permissions, entry point, health and build."""

    kind: Literal["Plugin"]
    name: Name
    version: SemVer
    description: str = Field(min_length=1, max_length=500)
    compatibility: dict[str, VersionRangeText] = Field(
        description="host ranges this plugin runs on; must name 'powerx'"
    )
    dependencies: dict[Name, VersionRangeText] = Field(
        default_factory=dict, description="other plugins and the versions this one needs"
    )
    permissions: list[Permission] = Field(default_factory=list)
    license: str = Field(
        pattern=LICENSE_PATTERN, description="an SPDX licence id or expression, e.g. Apache-2.0"
    )
    entrypoint: RelativePath = Field(description="the file the host starts, relative to dist/")
    health_check: HealthCheck = Field(alias="healthCheck")
    build: BuildSpec
    serve: ServeSpec | None = Field(
        default=None, description="how the host runs the plugin; absent: nothing to run"
    )
    notes: RelativePath | None = Field(default=None, description="release notes, e.g. NOTES.md")
    changelog: RelativePath | None = Field(default=None, description="e.g. CHANGELOG.md")

    @field_validator("permissions")
    @classmethod
    def _unique_permissions(cls, permissions: list[str]) -> list[str]:
        if len(set(permissions)) != len(permissions):
            raise ValueError("each permission may be listed once")
        return permissions

    @field_validator("notes", "changelog")
    @classmethod
    def _not_reserved(cls, path: str | None) -> str | None:
        if path is not None and (
            path in RESERVED_NAMES or PurePosixPath(path).parts[0] == DIST_DIR
        ):
            raise ValueError(f"must not be {', '.join(sorted(RESERVED_NAMES))} or inside dist/")
        return path

    @model_validator(mode="after")
    def _consistent(self) -> PluginManifest:
        if "powerx" not in self.compatibility:
            raise ValueError(
                "compatibility must give a range for the host, e.g. powerx: '>=2.4,<3'"
            )
        if self.name in self.dependencies:
            raise ValueError(f"plugin {self.name!r} cannot depend on itself")
        if self.notes is not None and self.notes == self.changelog:
            raise ValueError("notes and changelog must be different files")
        http = self.health_check.http
        if http is not None and self.serve is None and http.port is None:
            raise ValueError("healthCheck.http needs a port unless the plugin has a 'serve' block")
        if http is not None and self.serve is not None and http.port is not None:
            raise ValueError(
                "leave out healthCheck.http.port: the host probes the PORT it gives 'serve'"
            )
        return self

    @property
    def ref(self) -> str:
        """`name@version`, the way people name a plugin version."""
        return f"{self.name}@{self.version}"

    @property
    def package_name(self) -> str:
        """The file name of this version's package: `<name>-<version>.pxp`."""
        return f"{self.name}-{self.version}.pxp"

    @property
    def extra_files(self) -> tuple[str, ...]:
        """The declared release notes and changelog, in that order."""
        return tuple(path for path in (self.notes, self.changelog) if path is not None)
