"""The agent's licence check: a plugin whose licence needs an entitlement runs only while one
covers the host's tenant, the version and now (`pipeline.bundle.entitlements` decides).

Entitlements are read from the repo checkout the environment folder belongs to
(`<repo>/environments/<env>/` -> `<repo>/entitlements/`), or from the folder the caller
names. An environment folder outside a repo layout (an import's scratch copy, already
checked at import) is not licence-checked unless a folder is named.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pipeline.bundle.entitlements import (
    Licensed,
    folder_entitlements,
    licence_needs_entitlement,
    licence_problem,
    renewal_hint,
)
from pipeline.errors import PowerXError
from pipeline.layout import ENVIRONMENTS


def licence_root_for(environment_dir: Path) -> Path | None:
    """The repo checkout an environment folder sits in (None: it is not in one)."""
    folder = Path(environment_dir).absolute()
    if folder.parent.name != ENVIRONMENTS:
        return None
    return folder.parent.parent


def unlicensed_reason(root: Path, wanted: Licensed, *, now: datetime) -> str | None:
    """Why `wanted` may not be active at `now` (None: its licence needs nothing, or is
    covered), with what to do."""
    if not licence_needs_entitlement(wanted.licence):
        return None
    try:
        candidates = folder_entitlements(root, wanted.plugin, wanted.tenant)
    except PowerXError as error:
        return f"{wanted.ref}: cannot read its entitlement: {error.message}"
    problem = licence_problem(wanted, candidates, now=now)
    if problem is None:
        return None
    return f"{problem}; deactivated (files and data kept); {renewal_hint(wanted)}"
