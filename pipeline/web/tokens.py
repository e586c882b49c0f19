"""The console's per-user tokens: a JSON file outside git holding only their hashes.

A token is 32 random bytes (shown once, as `pxc_` + URL-safe base64); the file keeps its
SHA-256, the login it stands for, when it was made and when it expires. The file is
changed under a lock (`.<name>.lock` beside it), written atomically with mode 0600, and
read again whenever it changes, so a token revoked by `powerx console token revoke`
stops working at the console's next request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline.errors import InputError
from pipeline.fsutil import atomic_write, file_lock, fs_errors, make_dirs
from pipeline.models.approvals import LOGIN_PATTERN

TOKENS_ENV = "POWERX_CONSOLE_TOKENS"
"""Where the token file is, when not at its default place."""
PREFIX = "pxc_"
MAX_TOKEN_FILE = 4 * 1024 * 1024


def default_tokens_path() -> Path:
    """$POWERX_CONSOLE_TOKENS, else $XDG_CONFIG_HOME/powerx/console-tokens.json."""
    if os.environ.get(TOKENS_ENV):
        return Path(os.environ[TOKENS_ENV])
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "powerx" / "console-tokens.json"


def token_hash(token: str) -> str:
    """The SHA-256 (hex) the file keeps instead of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class TokenRecord:
    """One token as the file keeps it: never the token itself."""

    id: str
    login: str
    sha256: str
    created: str
    expires: str | None = None

    def expired(self, now: datetime) -> bool:
        """True once the token's lifetime is over."""
        return self.expires is not None and datetime.fromisoformat(self.expires) <= now

    def public(self) -> dict[str, Any]:
        """What `token list` shows: everything but the hash."""
        return {
            "id": self.id,
            "login": self.login,
            "created": self.created,
            "expires": self.expires,
        }


class TokenStore:
    """The token file at `path` (absent: no tokens)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None
        self._records: list[TokenRecord] = []

    def records(self) -> list[TokenRecord]:
        """Every token record, read again when the file changed since the last read."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._seen, self._records = None, []
            return []
        mark = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if mark != self._seen:
            self._records = self._read()
            self._seen = mark
        return list(self._records)

    def _read(self) -> list[TokenRecord]:
        with fs_errors("read", self.path):
            raw = self.path.read_bytes()[:MAX_TOKEN_FILE]
        try:
            data = json.loads(raw)
            return [TokenRecord(**item) for item in data["tokens"]]
        except (ValueError, KeyError, TypeError):
            raise InputError(
                f"{self.path}: not a console token file",
                hint="create tokens with `powerx console token create`; do not edit the file",
            ) from None

    @contextmanager
    def _editing(self) -> Iterator[list[TokenRecord]]:
        """The records, read afresh under the file's lock (one edit at a time, across
        processes), for the block to change and `_write`."""
        lock = make_dirs(self.path.parent) / f".{self.path.name}.lock"
        with file_lock(lock, mode=0o600):
            self._seen = None
            yield self.records()

    def _write(self, records: list[TokenRecord]) -> None:
        data = {"tokens": [asdict(record) for record in records]}
        atomic_write(self.path, json.dumps(data, indent=2).encode() + b"\n", mode=0o600)

    def create(self, login: str, lifetime: float | None, now: datetime) -> tuple[TokenRecord, str]:
        """A new token for `login` (its record, and the token, to be shown once)."""
        if not re.match(LOGIN_PATTERN, login):
            raise InputError(
                f"{login!r} is not a login",
                hint="use the login of policies/teams.yaml (letters, digits and '-')",
            )
        token = PREFIX + secrets.token_urlsafe(32)
        expires = (
            None
            if lifetime is None
            else (now + timedelta(seconds=lifetime)).isoformat(timespec="seconds")
        )
        record = TokenRecord(
            id=secrets.token_hex(6),
            login=login,
            sha256=token_hash(token),
            created=now.isoformat(timespec="seconds"),
            expires=expires,
        )
        with self._editing() as records:
            self._write([*records, record])
        return record, token

    def revoke(self, name: str) -> list[TokenRecord]:
        """Remove the token with id `name`, or every token of login `name`; the removed."""
        with self._editing() as records:
            gone = [r for r in records if name in (r.id, r.login)]
            if not gone:
                raise InputError(
                    f"no console token has the id or login {name!r} in {self.path}",
                    hint="see `powerx console token list`",
                )
            self._write([r for r in records if r not in gone])
        return gone

    def find(self, token: str) -> TokenRecord | None:
        """The record of `token` (expired ones too), compared in constant time."""
        digest = token_hash(token)
        found = None
        for record in self.records():
            if hmac.compare_digest(record.sha256, digest):
                found = record
        return found

    def valid(self, token_id: str, now: datetime) -> bool:
        """True while the token with this id exists and has not expired."""
        return any(r.id == token_id and not r.expired(now) for r in self.records())


def now_utc() -> datetime:
    """The current time, UTC."""
    return datetime.now(UTC)
