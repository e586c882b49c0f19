"""Semantic versions (semver.org 2.0.0) and version ranges.

A range is a comma-separated list of comparators that must all hold, as in
`">=2.4,<3"`. Each comparator is one of `>=`, `>`, `<=`, `<`, `=`/`==`, `!=`,
`^` (compatible: same major, or same minor for 0.x) and `~` (same minor), followed by
a version that may leave out minor and patch (`2.4` means `2.4.0`). `*` matches all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

SEMVER_PATTERN = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
_SEMVER = re.compile(SEMVER_PATTERN)
_PARTIAL = re.compile(r"^(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(?:\.(0|[1-9]\d*))?(-[0-9A-Za-z.-]+)?$")
_COMPARATOR = re.compile(r"^\s*(>=|<=|==|!=|>|<|=|\^|~)?\s*(\S+)\s*$")


@total_ordering
@dataclass(frozen=True)
class Version:
    """A parsed semantic version; ordering follows semver.org section 11."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: str = ""

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse a full version such as `1.2.3-rc.1+build.5`; ValueError if it is not one."""
        match = _SEMVER.match(text)
        if match is None:
            raise ValueError(f"{text!r} is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.4.0)")
        major, minor, patch, pre, build = match.groups()
        prerelease = tuple(pre.split(".")) if pre else ()
        return cls(int(major), int(minor), int(patch), prerelease, build or "")

    def _key(self) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
        identifiers = tuple(
            (0, int(part)) if part.isdigit() else (1, part) for part in self.prerelease
        )
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, identifiers)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        if self.build:
            text += "+" + self.build
        return text


def is_semver(text: str) -> bool:
    """Whether `text` is a full semantic version."""
    return _SEMVER.match(text) is not None


@dataclass(frozen=True)
class Comparator:
    """One bound of a range, such as `>= 2.4.0`."""

    operator: str
    version: Version

    def matches(self, version: Version) -> bool:
        """Whether `version` satisfies this bound."""
        if self.operator == ">=":
            return version >= self.version
        if self.operator == ">":
            return version > self.version
        if self.operator == "<=":
            return version <= self.version
        if self.operator == "<":
            return version < self.version
        if self.operator == "!=":
            return version != self.version
        return version == self.version

    def __str__(self) -> str:
        return f"{self.operator}{self.version}"


@dataclass(frozen=True)
class VersionRange:
    """A conjunction of comparators; the empty conjunction (`*`) matches every version."""

    text: str
    comparators: tuple[Comparator, ...]

    @classmethod
    def parse(cls, text: str) -> VersionRange:
        """Parse a range such as `>=2.4,<3`; ValueError naming the bad part otherwise."""
        stripped = text.strip()
        if not stripped:
            raise ValueError("a version range may not be empty (use '*' to allow any version)")
        if stripped == "*":
            return cls(text, ())
        comparators: list[Comparator] = []
        for part in stripped.split(","):
            comparators.extend(_parse_comparator(part))
        return cls(text, tuple(comparators))

    def contains(self, version: Version) -> bool:
        """Whether `version` lies in the range. Pre-releases match only bounds that name one."""
        if version.prerelease and not any(
            c.version.prerelease
            and (c.version.major, c.version.minor, c.version.patch)
            == (version.major, version.minor, version.patch)
            for c in self.comparators
        ):
            return False
        return all(comparator.matches(version) for comparator in self.comparators)

    def is_satisfiable(self) -> bool:
        """Whether some version could lie in the range (e.g. `>=3,<2` cannot)."""
        lower: tuple[Version, bool] | None = None
        upper: tuple[Version, bool] | None = None
        for comparator in self.comparators:
            bound, op = comparator.version, comparator.operator
            if op in (">=", ">", "=", "=="):
                inclusive = op != ">"
                if lower is None or bound > lower[0] or (bound == lower[0] and not inclusive):
                    lower = (bound, inclusive)
            if op in ("<=", "<", "=", "=="):
                inclusive = op != "<"
                if upper is None or bound < upper[0] or (bound == upper[0] and not inclusive):
                    upper = (bound, inclusive)
        if lower is None or upper is None:
            return True
        if lower[0] < upper[0]:
            return True
        return lower[0] == upper[0] and lower[1] and upper[1]

    def __str__(self) -> str:
        return self.text


def _parse_comparator(part: str) -> list[Comparator]:
    match = _COMPARATOR.match(part)
    if match is None:
        raise ValueError(f"empty comparator in range (stray comma?) near {part!r}")
    operator, version_text = match.group(1) or "=", match.group(2)
    partial = _PARTIAL.match(version_text)
    if partial is None:
        raise ValueError(
            f"{version_text!r} is not a version (expected e.g. 2, 2.4 or 2.4.1) in {part.strip()!r}"
        )
    major_t, minor_t, patch_t, pre = partial.groups()
    major, minor, patch = int(major_t), int(minor_t or 0), int(patch_t or 0)
    prerelease = tuple(pre[1:].split(".")) if pre else ()
    version = Version(major, minor, patch, prerelease)
    if operator == "^":
        if major > 0 or minor_t is None:
            upper = Version(major + 1, 0, 0)
        elif minor > 0 or patch_t is None:
            upper = Version(0, minor + 1, 0)
        else:
            upper = Version(0, 0, patch + 1)
        return [Comparator(">=", version), Comparator("<", upper)]
    if operator == "~":
        upper = Version(major + 1, 0, 0) if minor_t is None else Version(major, minor + 1, 0)
        return [Comparator(">=", version), Comparator("<", upper)]
    if operator in ("=", "==") and (minor_t is None or patch_t is None):
        upper = Version(major + 1, 0, 0) if minor_t is None else Version(major, minor + 1, 0)
        return [Comparator(">=", version), Comparator("<", upper)]
    return [Comparator("==" if operator == "=" else operator, version)]
