"""Typed, cached reads of a release repo at one revision."""

from __future__ import annotations

import dataclasses
import weakref
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pipeline import layout
from pipeline.errors import InputError, Location
from pipeline.gitrepo import Commit, GitRepo, entry_id
from pipeline.models import POLICY_KINDS, Document, PolicySet, validate_document
from pipeline.models.environment import Environment, PluginState
from pipeline.models.policy import POLICY_FIELDS
from pipeline.models.release import Release
from pipeline.models.semver import Version
from pipeline.yamlio import MAX_YAML_BYTES, YamlDocument, parse_yaml

D = TypeVar("D", bound=Document)

ParseCache = dict[tuple[str, str, type], "Loaded[Any]"]
"""Validated files by (blob id, path, model): shared by the snapshots of one check, so a
file that is the same at base and head is parsed once."""

_ANY_PATH = ""
"""The path of a cache entry that stands for a blob at any path: a file that validated at
one path validates at every other (only the path in its messages differs)."""

SHARED_CACHE_LIMIT = 65_536
"""Files a repo's shared parse cache holds before it starts afresh."""

_shared_caches: weakref.WeakKeyDictionary[GitRepo, ParseCache] = weakref.WeakKeyDictionary()


def shared_cache(git: GitRepo) -> ParseCache:
    """The parse cache of every snapshot of `git` that is given none.

    Entries are keyed by blob id, so they hold at any revision: a run that reads one
    revision after another (a promotion deciding again after each commit) parses each
    file once.
    """
    cache = _shared_caches.get(git)
    if cache is None or len(cache) >= SHARED_CACHE_LIMIT:
        cache = _shared_caches[git] = {}
    return cache


_blob_results: weakref.WeakKeyDictionary[GitRepo, dict[tuple[Any, ...], Any]] = (
    weakref.WeakKeyDictionary()
)


def blob_results(git: GitRepo) -> dict[tuple[Any, ...], Any]:
    """What was worked out from blobs of `git` (evidence summaries, signature checks).

    Keys start with the blob id and name everything else the result depends on, so an
    entry holds at any revision: deciding again after a commit redoes none of it.
    """
    cache = _blob_results.get(git)
    if cache is None or len(cache) >= SHARED_CACHE_LIMIT:
        cache = _blob_results[git] = {}
    return cache


@dataclass(frozen=True)
class Loaded(Generic[D]):
    """A validated file together with its parsed YAML (for line numbers)."""

    model: D
    doc: YamlDocument

    def locate(self, *key_path: str | int) -> Location:
        """file:line:column of a field of this file."""
        return self.doc.locate(key_path)


class Snapshot:
    """The release repo as it is at one commit; reads go straight to git objects."""

    def __init__(self, git: GitRepo, commit: Commit, cache: ParseCache | None = None) -> None:
        self.git = git
        self.commit = commit
        self._cache: ParseCache = cache if cache is not None else shared_cache(git)

    @property
    def short_id(self) -> str:
        """The abbreviated commit id."""
        return str(self.commit.short_id)

    def read(self, path: str, *, max_bytes: int = MAX_YAML_BYTES) -> bytes | None:
        """Raw bytes of a file, None if absent."""
        return self.git.read(self.commit, path, max_bytes=max_bytes)

    def blob_id(self, path: str) -> str | None:
        """The object id of a file (equal ids mean equal contents), None if absent."""
        return entry_id(self.commit, path)

    def load(self, path: str, model: type[D]) -> Loaded[D] | None:
        """A file validated as `model`, None if absent; InputError if it is not valid."""
        found = self.git.read_blob(self.commit, path, max_bytes=MAX_YAML_BYTES)
        if found is None:
            return None
        key = (found[0], path, model)
        if key not in self._cache:
            same = self._cache.get((found[0], _ANY_PATH, model))
            if same is not None:  # the same bytes, valid elsewhere: valid here, unparsed
                loaded: Loaded[D] = Loaded(same.model, dataclasses.replace(same.doc, path=path))
            else:
                doc = parse_yaml(found[1], path)
                loaded = Loaded(validate_document(doc, model), doc)
                self._cache[(found[0], _ANY_PATH, model)] = loaded
            self._cache[key] = loaded
        return self._cache[key]

    def release(self, plugin: str, version: str) -> Loaded[Release] | None:
        """The manifest of plugin@version."""
        return self.load(layout.release_path(plugin, version), Release)

    def plugin_state(self, env: str, plugin: str) -> Loaded[PluginState] | None:
        """The desired state of a plugin in an environment."""
        return self.load(layout.plugin_state_path(env, plugin), PluginState)

    def environment(self, env: str) -> Loaded[Environment] | None:
        """An environment's manifest."""
        return self.load(layout.environment_path(env), Environment)

    def versions(self, plugin: str) -> list[Version]:
        """Released versions of a plugin (folders under releases/<plugin>/), newest first."""
        found = []
        for name, is_dir in self.git.list_dir(self.commit, f"{layout.RELEASES}/{plugin}"):
            if is_dir:
                try:
                    found.append(Version.parse(name))
                except ValueError:
                    continue
        return sorted(found, reverse=True)

    def policy_files(self) -> list[str]:
        """Paths of the policy files at this revision."""
        return sorted(
            f"{layout.POLICIES}/{name}"
            for name, is_dir in self.git.list_dir(self.commit, layout.POLICIES)
            if not is_dir and name.endswith((".yaml", ".yml"))
        )

    def load_policy(self, path: str) -> Loaded[Document]:
        """A policy file, validated as the kind it declares."""
        found = self.git.read_blob(self.commit, path, max_bytes=MAX_YAML_BYTES)
        if found is None:
            raise InputError("policy file not found", location=Location(path))
        key = (found[0], path, Document)
        if key not in self._cache:
            self._cache[key] = self._parse_policy(found[1], path)
        return self._cache[key]

    @staticmethod
    def _parse_policy(raw: bytes, path: str) -> Loaded[Document]:
        doc = parse_yaml(raw, path)
        kind = doc.data.get("kind") if isinstance(doc.data, dict) else None
        model = POLICY_KINDS.get(str(kind))
        if model is None:
            raise InputError(
                f"unknown policy kind {kind!r}",
                location=doc.locate(("kind",)),
                hint=f"policy files declare one of: {', '.join(sorted(POLICY_KINDS))}",
            )
        return Loaded(validate_document(doc, model), doc)

    def policies(self) -> PolicySet:
        """Every policy at this revision; a kind without a file keeps its seed default."""
        values: dict[str, object] = {}
        sources: dict[str, str] = {}
        for path in self.policy_files():
            loaded = self.load_policy(path)
            kind = str(loaded.doc.data["kind"])
            if kind in sources:
                raise InputError(
                    f"a second {kind} (the first is {sources[kind]})",
                    location=loaded.locate("kind"),
                    hint="keep one file per policy kind",
                )
            sources[kind] = path
            values[POLICY_FIELDS[kind]] = loaded.model
        return PolicySet.model_validate({**values, "sources": sources})
