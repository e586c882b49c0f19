"""Where each file of a release repo lives, and what a changed path means.

releases/<plugin>/<version>/release.yaml     a release manifest (+ its evidence beside it)
releases/<plugin>/listing.yaml               its Marketplace listing (+ listing/ screenshots)
environments/<env>/environment.yaml          an environment, its tenants and groups
environments/<env>/plugins/<plugin>.yaml     desired state of a plugin in that environment
policies/*.yaml                              the gates, one kind per file
entitlements/<plugin>[/<tenant>/<kind>].yaml licences (pipeline.bundle.entitlements)
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Literal

from pipeline.errors import InputError, Location

RELEASES = "releases"
ENVIRONMENTS = "environments"
POLICIES = "policies"
ENTITLEMENTS = "entitlements"
RELEASE_FILE = "release.yaml"
ENVIRONMENT_FILE = "environment.yaml"

_NAME = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_LISTING = re.compile(rf"^{RELEASES}/({_NAME})/listing(?:\.yaml|/.+)$")
_RELEASE_DIR = re.compile(rf"^{RELEASES}/({_NAME})/([^/]+)/(.+)$")
_ENVIRONMENT = re.compile(rf"^{ENVIRONMENTS}/({_NAME})/{ENVIRONMENT_FILE}$")
_PLUGIN_STATE = re.compile(rf"^{ENVIRONMENTS}/({_NAME})/plugins/({_NAME})\.yaml$")
_POLICY = re.compile(rf"^{POLICIES}/[^/]+\.ya?ml$")

PathKind = Literal[
    "release",
    "release-file",
    "listing",
    "environment",
    "plugin-state",
    "policy",
    "other",
    "unknown",
]


@dataclass(frozen=True)
class RepoPath:
    """What a path in a release repo is, with the names its location carries."""

    kind: PathKind
    path: str
    plugin: str | None = None
    version: str | None = None
    environment: str | None = None


def classify(path: str) -> RepoPath:
    """The role of a repo-relative path; `unknown`: in our folders, but not expected there."""
    if match := _LISTING.match(path):
        return RepoPath("listing", path, plugin=match.group(1))
    if match := _RELEASE_DIR.match(path):
        plugin, version, rest = match.groups()
        kind: PathKind = "release" if rest == RELEASE_FILE else "release-file"
        return RepoPath(kind, path, plugin=plugin, version=version)
    if match := _ENVIRONMENT.match(path):
        return RepoPath("environment", path, environment=match.group(1))
    if match := _PLUGIN_STATE.match(path):
        return RepoPath("plugin-state", path, environment=match.group(1), plugin=match.group(2))
    if _POLICY.match(path):
        return RepoPath("policy", path)
    top = path.split("/", 1)[0]
    if top in (RELEASES, ENVIRONMENTS, POLICIES) and not path.lower().endswith(".md"):
        return RepoPath("unknown", path)
    return RepoPath("other", path)


def release_dir(plugin: str, version: str) -> str:
    """The folder of one release."""
    return f"{RELEASES}/{plugin}/{version}"


def release_path(plugin: str, version: str) -> str:
    """The manifest of one release."""
    return f"{release_dir(plugin, version)}/{RELEASE_FILE}"


def lock_tag(plugin: str, version: str) -> str:
    """The annotated tag that locks an approved version: `<plugin>/v<version>`."""
    return f"refs/tags/{plugin}/v{version}"


def environment_path(env: str) -> str:
    """The manifest of one environment."""
    return f"{ENVIRONMENTS}/{env}/{ENVIRONMENT_FILE}"


def plugin_state_path(env: str, plugin: str) -> str:
    """The desired state of one plugin in one environment."""
    return f"{ENVIRONMENTS}/{env}/plugins/{plugin}.yaml"


def evidence_path(release_folder: str, reference: str, *, manifest: Location) -> str:
    """Resolve an evidence path written in a manifest, refusing any that leave the repo."""
    if reference.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", reference) or "\\" in reference:
        raise InputError(
            f"evidence path {reference!r} is absolute",
            location=manifest,
            hint="write evidence paths relative to the release folder, e.g. evidence/junit.xml",
        )
    joined = posixpath.normpath(posixpath.join(release_folder, reference))
    if joined == ".." or joined.startswith("../"):
        raise InputError(
            f"evidence path {reference!r} escapes the repository",
            location=manifest,
            hint="keep evidence inside the repo, next to release.yaml",
        )
    return joined
