"""`oci://HOST[:PORT]/REPOSITORY[:TAG|@sha256:HEX]`: where an artifact lives in a registry.

The grammar is the distribution spec's: a repository is lower-case path components joined by
`/` (`[a-z0-9]+` separated by `.`, `_`, `__` or dashes), a tag is `[A-Za-z0-9_][A-Za-z0-9._-]`
up to 128 characters, a digest is `sha256:<64 lower-case hex>`. User info in the location is
refused (credentials come from the Docker config file or an environment variable, never from
a URL), and `display()` prints no secret. Registries are spoken to over https; plain http is
allowed only to a loopback host (`127.0.0.0/8`, `::1`, `localhost`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from pipeline.errors import InputError
from pipeline.models.digest import parse_sha256
from pipeline.urls import refuse_credentials
from pipeline.webserver import is_loopback

SCHEME = "oci://"
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]")
_FORM = "oci://HOST[:PORT]/REPOSITORY[:TAG|@sha256:HEX]"


@dataclass(frozen=True)
class OciReference:
    """A parsed `oci://` location; `tag` and `digest` (bare hex) are optional."""

    host: str
    port: int | None
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> OciReference:
        """Parse an `oci://` location (InputError naming the problem, never a secret)."""
        refuse_credentials(
            text,
            "the registry location",
            hint="give registry credentials in $DOCKER_CONFIG/config.json or in the"
            " environment variable named by --registry-credentials-env",
        )
        if not text.startswith(SCHEME):
            raise InputError(f"not an oci:// location: {text!r}", hint=f"expected {_FORM}")
        rest = text.removeprefix(SCHEME)
        authority, slash, path = rest.partition("/")
        if not slash or not path:
            raise InputError(f"{text!r} names no repository", hint=f"expected {_FORM}")
        host, port = _split_authority(authority, text)
        digest = tag = None
        if "@" in path:
            path, _, digest_text = path.partition("@")
            try:
                digest = parse_sha256(digest_text)
            except ValueError as error:
                raise InputError(f"bad digest in {text!r}: {error}") from None
        last = path.rsplit("/", 1)[-1]
        if ":" in last:
            path, _, tag = path.rpartition(":")
            if not _TAG.fullmatch(tag):
                raise InputError(
                    f"bad tag {tag!r} in {text!r}",
                    hint="a tag is letters, digits, '_', '.' and '-' (at most 128)",
                )
        if not _REPOSITORY.fullmatch(path):
            raise InputError(
                f"bad repository name {path!r} in {text!r}",
                hint="lower-case letters and digits, separated by '.', '_', '-' or '/'",
            )
        return cls(host=host, port=port, repository=path, tag=tag, digest=digest)

    @property
    def authority(self) -> str:
        """`host[:port]`, as the registry and the Docker config file name it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    @property
    def loopback(self) -> bool:
        """Whether the registry is on this machine (the only place plain http may be used)."""
        return is_loopback(self.host)

    def with_digest(self, digest: str) -> OciReference:
        """This repository, addressed by a digest (the tag dropped)."""
        return replace(self, tag=None, digest=parse_sha256(digest))

    def with_tag(self, tag: str) -> OciReference:
        """This repository, addressed by a tag (the digest dropped)."""
        if not _TAG.fullmatch(tag):
            raise InputError(f"bad tag {tag!r}", hint="letters, digits, '_', '.', '-' (<= 128)")
        return replace(self, tag=tag, digest=None)

    def repository_location(self) -> str:
        """`oci://host[:port]/repository` (no tag, no digest)."""
        return f"{SCHEME}{self.authority}/{self.repository}"

    def display(self) -> str:
        """The location as written: safe to print (a parsed location holds no credentials)."""
        text = self.repository_location()
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@sha256:{self.digest}"
        return text

    def __str__(self) -> str:
        return self.display()


def _split_authority(authority: str, text: str) -> tuple[str, int | None]:
    try:
        parts = urlsplit(f"//{authority}")
        port = parts.port
    except ValueError:
        raise InputError(f"bad registry port in {text!r}", hint=f"expected {_FORM}") from None
    host = authority.rsplit(":", 1)[0] if port is not None else authority
    if not host or not _HOST.fullmatch(host):
        raise InputError(f"bad registry host in {text!r}", hint=f"expected {_FORM}")
    return host.strip("[]").lower() if host.startswith("[") else host.lower(), port
