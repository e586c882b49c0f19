"""Reading a catalog page's sources fast: the listing and release records of one plugin.

A first sync reads every listing and release record of the repo. Where the file is valid
no line number is needed, so it is read by libyaml without positions
(`yamlfast.read_plain`) and validated as `Snapshot.load` validates it
(`validate_document`). Anything else (an unusual document, an invalid one) is read again by
`Snapshot.load`, which gives the same model or the same error, with its line and column.
"""

from __future__ import annotations

from typing import TypeVar

from pipeline import layout
from pipeline.errors import InputError
from pipeline.market import listing_path
from pipeline.models import Document, validate_document
from pipeline.models.listing import Listing
from pipeline.models.release import Release
from pipeline.snapshot import Snapshot
from pipeline.textio import decode_utf8
from pipeline.yamlfast import RoundTripNeededError, read_plain
from pipeline.yamlio import MAX_DEPTH, MAX_NODES, MAX_YAML_BYTES, YamlDocument

D = TypeVar("D", bound=Document)


def read_model(snapshot: Snapshot, path: str, model: type[D]) -> D | None:
    """The file at `path` validated as `model`, None if absent; InputError (from
    `Snapshot.load`, with the line) if it is not valid."""
    found = snapshot.git.read_blob(snapshot.commit, path, max_bytes=MAX_YAML_BYTES)
    if found is None:
        return None
    try:
        text = decode_utf8(found[1], path, max_bytes=MAX_YAML_BYTES)
        data = read_plain(text, max_nodes=MAX_NODES, max_depth=MAX_DEPTH)
        return validate_document(YamlDocument(path, data, {}, text), model)
    except (InputError, RoundTripNeededError):
        pass
    loaded = snapshot.load(path, model)
    return loaded.model if loaded is not None else None


def read_listing(snapshot: Snapshot, plugin: str) -> Listing | None:
    """`releases/<plugin>/listing.yaml` (as `records.load_listing` reads it)."""
    return read_model(snapshot, listing_path(plugin), Listing)


def read_release(snapshot: Snapshot, plugin: str, version: str) -> Release | None:
    """The release record of plugin@version (as `Snapshot.release` reads it)."""
    return read_model(snapshot, layout.release_path(plugin, version), Release)
