"""The evidence view: one file of a release's folder, as text, and nothing outside it.

`/release/{plugin}/{version}/evidence?path=...` (a query parameter: a path segment ending
in `.json` would be taken for the JSON spelling of the view). The path is resolved by the
one rule for evidence paths (`layout.evidence_path`); anything outside the folder, absent,
a folder or a symbolic link is a 404. Binary files and files over `MAX_EVIDENCE_BYTES`
are named, not shown.
"""

from __future__ import annotations

import posixpath

from pipeline import layout
from pipeline.errors import InputError, Location
from pipeline.snapshot import Snapshot
from pipeline.web.release import find_release, release_url
from pipeline.web.views import Data, NotFoundError, Params, Source, View

MAX_EVIDENCE_BYTES = 2_000_000
"""A file of the release folder larger than this is not shown inline."""


def evidence_data(source: Source, params: Params) -> Data:
    """One file of the release folder, as text; any path outside the folder is a 404."""
    plugin, version = params.text("plugin") or "", params.text("version") or ""
    wanted = params.values.get("path", "")
    snapshot = Snapshot(source.git, source.head)
    find_release(snapshot, plugin, version)
    folder = layout.release_dir(plugin, version)
    outside = NotFoundError(
        f"{wanted!r} is not a file of the release folder {folder}/",
        hint=f"the evidence view shows only files under {folder}/ "
        f"(see {release_url(plugin, version)})",
    )
    try:
        path = layout.evidence_path(folder, wanted, manifest=Location(folder))
    except InputError:
        raise outside from None
    if not wanted or "\0" in wanted or not path.startswith(folder + "/"):
        raise outside
    if source.git.file_id(source.head, path) is None:  # absent, a folder or a symbolic link
        raise outside
    relative = path[len(folder) + 1 :]
    data: Data = {
        "plugin": plugin,
        "version": version,
        "path": relative,
        "repo_path": path,
        "release": release_url(plugin, version),
        "text": None,
        "binary": False,
        "too_large": None,
        "name": posixpath.basename(path),
    }
    try:
        raw = snapshot.read(path, max_bytes=MAX_EVIDENCE_BYTES)
    except InputError as error:
        data["too_large"] = error.message
        return data
    assert raw is not None
    if b"\0" in raw[:8192]:
        data["binary"] = True
        data["size"] = len(raw)
        return data
    data["text"] = raw.decode("utf-8", "replace")
    data["size"] = len(raw)
    return data


VIEWS = [
    View(
        "release-evidence",
        "/release/{plugin}/{version}/evidence",
        evidence_data,
        "evidence.html",
        "Evidence",
        False,
    ),
]
