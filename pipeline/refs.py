"""The one `plugin@version` parser (what every command and module that reads one calls)."""

from __future__ import annotations


def parse_release_ref(text: str, *, version_optional: bool = False) -> tuple[str, str]:
    """`plugin@version` -> (plugin, version); with `version_optional`, `plugin` -> (plugin, "").

    ValueError when the plugin is empty, the version is missing (unless optional) or empty
    after an `@`, or there is more than one `@`.
    """
    plugin, sep, version = text.strip().partition("@")
    if not plugin or "@" in version or (sep and not version):
        raise ValueError(f"not plugin@version: {text!r}")
    if not version and not version_optional:
        raise ValueError(f"not plugin@version: {text!r}")
    return plugin, version
