"""Host ranges as intervals of release versions: which hosts a version runs on.

A plugin version's `compatibility.powerx` is a conjunction of comparators. Hosts are
release versions (no pre-release), so a range is exactly an interval of integer keys
(`version_key`) minus a few excluded keys: that is what the search index stores (an SQL
`BETWEEN`) and what an upgrade path compares (does the next version run on every host the
one before ran on?).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.models.semver import Version, VersionRange

_BITS = 20
_PART = (1 << _BITS) - 1
MAX_KEY = (1 << 62) - 1


def version_key(version: Version) -> int:
    """A release version as an integer that sorts as the version does (parts clamped)."""
    major = min(version.major, (1 << 22) - 1)
    return (major << (2 * _BITS)) | (min(version.minor, _PART) << _BITS) | min(version.patch, _PART)


def host_version(text: str) -> Version:
    """A host version given by a person: X.Y.Z, X.Y or X (missing parts are 0); ValueError."""
    parts = text.strip().split(".")
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"{text!r} is not a host version (give e.g. 2.5.0)")
    numbers = [int(p) for p in parts] + [0] * (3 - len(parts))
    return Version(numbers[0], numbers[1], numbers[2])


@dataclass(frozen=True)
class Interval:
    """Hosts lo..hi (inclusive keys), minus `excluded`; empty when lo > hi."""

    lo: int = 0
    hi: int = MAX_KEY
    excluded: frozenset[int] = frozenset()

    def contains(self, key: int) -> bool:
        """Whether the host with `key` lies in the interval."""
        return self.lo <= key <= self.hi and key not in self.excluded

    @property
    def empty(self) -> bool:
        """No host at all."""
        return self.lo > self.hi


def interval(text: str | None) -> Interval:
    """The hosts of a range (None: no range, every host); ValueError if it does not parse."""
    if text is None:
        return Interval()
    lo, hi, excluded = 0, MAX_KEY, set()
    for comparator in VersionRange.parse(text).comparators:
        op, bound = comparator.operator, comparator.version
        key = version_key(Version(bound.major, bound.minor, bound.patch))
        if bound.prerelease:  # X-pre lies just below X: for release hosts it is a bound at X
            if op in ("<", "<="):
                hi = min(hi, key - 1)
            elif op in (">", ">="):
                lo = max(lo, key)
            elif op in ("==", "="):
                lo, hi = max(lo, key + 1), min(hi, key)
            continue
        if op == ">=":
            lo = max(lo, key)
        elif op == ">":
            lo = max(lo, key + 1)
        elif op == "<=":
            hi = min(hi, key)
        elif op == "<":
            hi = min(hi, key - 1)
        elif op == "!=":
            excluded.add(key)
        else:
            lo, hi = max(lo, key), min(hi, key)
    return Interval(lo, hi, frozenset(k for k in excluded if lo <= k <= hi))


def covers(outer: str | None, inner: str | None) -> bool:
    """Whether every host of range `inner` lies in range `outer` (an unparsable range
    covers nothing and is covered by nothing)."""
    try:
        big, small = interval(outer), interval(inner)
    except ValueError:
        return False
    if small.empty:
        return True
    if small.lo < big.lo or small.hi > big.hi:
        return False
    return all(not small.contains(key) for key in big.excluded)
