"""hello-world: the smallest PowerX plugin, greeting each tenant by name."""

from __future__ import annotations

__version__ = "1.1.0"

GREETINGS = {
    "en": "Hello",
    "de": "Hallo",
    "es": "Hola",
    "fr": "Bonjour",
}
"""The greeting word per language; unknown languages fall back to English."""


def greet(name: str, *, language: str = "en", excited: bool = True) -> str:
    """Greet one tenant, e.g. `greet("Acme")` gives `"Hello, Acme!"`."""
    cleaned = " ".join(name.split())
    if not cleaned:
        raise ValueError("name must not be empty")
    word = GREETINGS.get(language.lower(), GREETINGS["en"])
    return f"{word}, {cleaned}{'!' if excited else '.'}"


def banner(names: list[str], *, language: str = "en", width: int = 40) -> str:
    """A framed block with one greeting per tenant, for the plugin's status page."""
    if width < 10:
        raise ValueError("width must be at least 10")
    lines = [greet(name, language=language) for name in names] or ["(no tenants yet)"]
    inner = width - 4
    body = [f"| {line[:inner].ljust(inner)} |" for line in lines]
    rule = "+" + "-" * (width - 2) + "+"
    return "\n".join([rule, *body, rule])
