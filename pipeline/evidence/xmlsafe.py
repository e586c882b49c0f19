"""Streaming XML reading that refuses DTD content, so no entity can expand or be fetched.

Reports are read with expat directly, and the caller gets start/end events with the line
and column of each element instead of a tree, so memory stays flat however large the
report is. A bare document type line in the prolog, `<!DOCTYPE name SYSTEM "uri">` (or
`PUBLIC "id" "uri"`), as c8 writes at the top of its Cobertura report, is blanked out
before parsing: nothing is fetched, and the report reads as if it had none. Any other
`<!DOCTYPE>` (an internal subset, entity or attribute declarations) reaches expat and is
refused at once; an entity reference other than the five predefined ones is an error.
"""

from __future__ import annotations

import re
from typing import Protocol
from xml.parsers import expat

from pipeline.errors import InputError, Location

MAX_XML_DEPTH = 256
"""Deepest element nesting we accept; real reports nest a handful of levels."""

_LITERAL = r"""(?:"[^"]*"|'[^']*')"""
_BARE_DOCTYPE = re.compile(
    rf"<!DOCTYPE\s+[^\s\[>'\"]+"
    rf"(?:\s+(?:SYSTEM\s+{_LITERAL}|PUBLIC\s+{_LITERAL}\s+{_LITERAL}))?\s*>"
)
"""A document type line without an internal subset: names a DTD, declares nothing."""
_PROLOG_ITEM = re.compile(r"\ufeff|\s+|<\?.*?\?>|<!--.*?-->", re.DOTALL)
"""What may precede the document type: whitespace, the XML declaration, PIs, comments."""


def _blank_bare_doctype(text: str) -> str:
    """`text` with a bare `<!DOCTYPE ...>` of its prolog replaced by spaces (lines kept)."""
    position = 0
    while item := _PROLOG_ITEM.match(text, position):
        if item.end() == position:
            break
        position = item.end()
    doctype = _BARE_DOCTYPE.match(text, position)
    if doctype is None:
        return text
    blank = re.sub(r"[^\n]", " ", doctype.group())
    return text[:position] + blank + text[doctype.end() :]


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
            "XML with DTD content is refused: a report may not declare entities or DTD rules",
            location=here(),
            hint='only a bare <!DOCTYPE name SYSTEM "..."> line is accepted (it is never read);'
            " produce the report again with the tool",
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
        parser.Parse(_blank_bare_doctype(text), True)
    except expat.ExpatError as error:
        raise InputError(
            f"invalid XML: {expat.ErrorString(error.code)}",
            location=Location(path, error.lineno, error.offset + 1),
            hint="the report is damaged or truncated: produce it again",
        ) from None
