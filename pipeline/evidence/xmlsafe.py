"""Streaming XML reading that refuses DTDs, so no entity can expand or be fetched.

Reports are read with expat directly: a `<!DOCTYPE>` (and so any entity declaration,
internal or external) is refused at once, and the caller gets start/end events with the
line and column of each element instead of a tree, so memory stays flat however large
the report is.
"""

from __future__ import annotations

from typing import Protocol
from xml.parsers import expat

from pipeline.errors import InputError, Location

MAX_XML_DEPTH = 256
"""Deepest element nesting we accept; real reports nest a handful of levels."""


class XmlHandler(Protocol):
    """Receives the elements of a document in order."""

    def start(self, tag: str, attrs: dict[str, str], where: Location) -> None:
        """An element opens at `where`, with its attributes."""

    def end(self, tag: str) -> None:
        """The innermost open element closes."""


def parse_xml(text: str, path: str, handler: XmlHandler) -> None:
    """Feed every element of `text` to `handler`; any XML problem is an `InputError`."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    depth = 0

    def here() -> Location:
        return Location(path, parser.CurrentLineNumber, parser.CurrentColumnNumber + 1)

    def refuse_dtd(*_: object) -> None:
        raise InputError(
            "XML with a DOCTYPE is refused: reports may not declare DTDs or entities",
            location=here(),
            hint="remove the <!DOCTYPE ...> declaration; test and coverage tools never need one",
        )

    def start(tag: str, attrs: dict[str, str]) -> None:
        nonlocal depth
        depth += 1
        if depth > MAX_XML_DEPTH:
            raise InputError(
                f"XML nests deeper than {MAX_XML_DEPTH} elements",
                location=here(),
                hint="this is not a report a real tool writes",
            )
        handler.start(tag, attrs, here())

    def end(tag: str) -> None:
        nonlocal depth
        depth -= 1
        handler.end(tag)

    parser.StartDoctypeDeclHandler = refuse_dtd
    parser.EntityDeclHandler = refuse_dtd
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(text, True)
    except expat.ExpatError as error:
        raise InputError(
            f"invalid XML: {expat.ErrorString(error.code)}",
            location=Location(path, error.lineno, error.offset + 1),
            hint="the report is damaged or truncated: produce it again",
        ) from None
