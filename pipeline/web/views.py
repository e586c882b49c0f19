"""The view registry: each view is a name, a URL, a data function and a template.

A data function takes a `Source` (the release repo, read at its current head) and the
request's `Params` and returns plain data (JSON-ready: str, int, bool, None, lists, dicts).
It raises `InputError` for a bad parameter (400) and `NotFoundError` for what does not exist (404).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.errors import InputError
from pipeline.gitrepo import Commit, GitRepo
from pipeline.models import access

if TYPE_CHECKING:
    from pipeline.promotion.audit_index import AuditIndex

Data = dict[str, Any]


class NotFoundError(InputError):
    """What a URL names does not exist (HTTP 404)."""


@dataclass(frozen=True)
class Source:
    """What a view reads: the release repo and the commit its head is at for this request,
    the local host's plugin store (`powerx serve --plugin-store`), and the console's
    audit index (kept across requests; None: the audit trail is read from the commits)."""

    git: GitRepo
    head: Commit
    store: Path | None = None
    audit: AuditIndex | None = None
    install_roots: tuple[Path, ...] = ()
    """The folders a plugin may be installed from (`powerx serve --allow-install-from`);
    none: installing from a local directory is refused."""
    approval_keys: Mapping[str, Any] = field(default_factory=dict)
    """Approval keys the console signs with (`powerx serve --key`): key id ->
    private key; an approval is signed only with the key of the authenticated user."""


class Params:
    """A request's query and path parameters, read as typed values (InputError when bad)."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = dict(values)

    def text(self, name: str) -> str | None:
        """The parameter's value, or None when it is absent or empty."""
        value = self.values.get(name, "").strip()
        return value or None

    def number(self, name: str, default: int, *, low: int, high: int) -> int:
        """A whole number in [low, high] (`default` when absent)."""
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise InputError(
                f"{name}={raw!r} is not a whole number", hint=f"give {name} from {low} to {high}"
            ) from None
        if not low <= value <= high:
            raise InputError(f"{name}={value} is out of range", hint=f"give {low} to {high}")
        return value

    def date(self, name: str, *, end_of_day: bool = False) -> datetime | None:
        """A UTC time: YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]; a bare date with `end_of_day`
        means the start of the next day (so the whole day is included)."""
        raw = self.text(name)
        if raw is None:
            return None
        for pattern in ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"):
            try:
                value = datetime.strptime(raw, pattern).replace(tzinfo=UTC)
            except ValueError:
                continue
            if end_of_day and pattern == "%Y-%m-%d":
                value += timedelta(days=1)
            return value
        raise InputError(
            f"{name}={raw!r} is not a date",
            hint=f"give {name} as YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS (UTC)",
        )


@dataclass(frozen=True)
class View:
    """One view: `url` answers its `template` as HTML, or `data` as JSON (Accept or `.json`)."""

    name: str
    url: str
    """A Starlette path, e.g. /audit or /audit/{commit}."""
    data: Callable[[Source, Params], Data]
    template: str
    title: str
    listed: bool = True
    """Shown on the index page (a view with a path parameter is reached through links)."""


ROLES = access.ROLES
"""The console's roles, each allowed what the ones before it are (policies/console.yaml)."""

LOCAL_SCOPE = "local"
"""The scope of an action on the local host's plugin store (not an environment of the repo)."""


@dataclass(frozen=True)
class Action:
    """A state-changing action: GET `url` shows what it will change, POST `url` does it.

    `preview` and `apply` take the request's parameters (query or form); `apply` also takes
    the operator (the authenticated user), who is the commit's PowerX-Operator. Both raise
    InputError (400/404) when the action cannot be done; `preview` writes nothing.
    """

    name: str
    url: str
    """e.g. /actions/promote"""
    title: str
    role: str
    """The least role (of ROLES) the operator needs in the action's scope."""
    scope: Callable[[Params], str]
    """The environment whose roles apply (LOCAL_SCOPE for the local host's store)."""
    preview: Callable[[Source, Params], Data]
    apply: Callable[[Source, Params, str], Data]
    inputs: tuple[str, ...] = ()
    """Parameters the action's form asks for (e.g. a rollback's reason); the others it
    carries over from the preview's URL as hidden fields."""
