"""Turn the bytes of a file into a validated model, or into errors that name file:line:column."""

from __future__ import annotations

import types
import typing
from typing import Any, TypeVar, Union

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from pipeline.errors import CombinedInputError, InputError
from pipeline.models.base import API_VERSION, NAME_PATTERN, SHA256_PATTERN, Document
from pipeline.models.semver import SEMVER_PATTERN
from pipeline.names import did_you_mean
from pipeline.urls import credential_problem, redact_url
from pipeline.yamlio import KeyPath, YamlDocument, parse_yaml

D = TypeVar("D", bound=Document)

MAX_REPORTED_ERRORS = 20

_PATTERN_MEANINGS = {
    SEMVER_PATTERN: "must be a semantic version such as 1.4.0",
    NAME_PATTERN: "must be lower-case letters, digits and '-' (at most 63, no leading '-')",
    SHA256_PATTERN: "must be a sha256 digest: 64 lower-case hex digits",
}


def parse_document(raw: bytes, path: str, model: type[D]) -> D:
    """Parse YAML bytes and validate them as `model`, raising InputError on any problem."""
    return validate_document(parse_yaml(raw, path), model)


def validate_document(doc: YamlDocument, model: type[D]) -> D:
    """Validate parsed YAML as `model`; every error names its file, line and column."""
    data = doc.data
    if not isinstance(data, dict):
        raise InputError(
            f"expected a mapping at the top of the file, found {type(data).__name__}",
            location=doc.locate(),
        )
    _check_header(doc, model)
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = [_input_error(doc, model, detail) for detail in error.errors()]
        if len(problems) == 1:
            raise problems[0] from None
        raise CombinedInputError(problems[:MAX_REPORTED_ERRORS]) from None


def expected_kind(model: type[Document]) -> str:
    """The `kind` value a model accepts."""
    annotation = model.model_fields["kind"].annotation
    return str(typing.get_args(annotation)[0])


def _check_header(doc: YamlDocument, model: type[Document]) -> None:
    kind = expected_kind(model)
    api_version, found_kind = doc.data.get("apiVersion"), doc.data.get("kind")
    if api_version != API_VERSION:
        raise InputError(
            f"apiVersion must be {API_VERSION!r}, found {api_version!r}",
            location=doc.locate(("apiVersion",)),
            hint=f"start the file with 'apiVersion: {API_VERSION}' and 'kind: {kind}'",
        )
    if found_kind != kind:
        raise InputError(
            f"expected kind {kind!r} in this file, found {found_kind!r}",
            location=doc.locate(("kind",)),
            hint=f"set 'kind: {kind}', or move the file to where a {found_kind} belongs",
        )


def _input_error(doc: YamlDocument, model: type[BaseModel], detail: ErrorDetails) -> InputError:
    loc: KeyPath = tuple(detail["loc"])
    field = ".".join(str(part) for part in loc) or "(top level)"
    hint = None
    if detail["type"] == "extra_forbidden":
        known = sorted(_field_names_at(model, loc[:-1]))
        guess = did_you_mean(str(loc[-1]), known, cutoff=0.6)
        message = f"unknown field {field!r}"
        hint = f"did you mean {guess!r}?" if guess else f"known fields: {', '.join(known)}"
    elif detail["type"] == "missing":
        message = f"missing required field {field!r}"
    else:
        found = _short(detail.get("input"))
        reason = _PATTERN_MEANINGS.get(str((detail.get("ctx") or {}).get("pattern")), detail["msg"])
        message = f"{field}: {reason.removeprefix('Value error, ')} (found {found})"
        if detail["type"] == "string_type" and isinstance(detail.get("input"), int | float):
            hint = f"YAML reads {found} as a number: quote it ('{found}')"
    return InputError(message, location=doc.locate(loc), hint=hint)


def _short(value: Any) -> str:
    if isinstance(value, str) and credential_problem(value) is not None:
        value = redact_url(value)  # a URL with a secret in it is never echoed
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _field_names_at(model: type[BaseModel], loc: KeyPath) -> set[str]:
    """Names (aliases where set) accepted by the model reached by walking `loc` from `model`."""
    current: Any = model
    for part in loc:
        current = _step(current, part)
        if current is None:
            return set()
    current = _unwrap_model(current)
    if current is None:
        return set()
    return {info.alias or name for name, info in current.model_fields.items()}


def _step(annotation: Any, part: str | int) -> Any:
    model = _unwrap_model(annotation)
    if model is not None and isinstance(part, str):
        for name, info in model.model_fields.items():
            if part in (name, info.alias):
                return info.annotation
        return None
    for arg in _args(annotation):
        origin = typing.get_origin(arg)
        if origin is list and isinstance(part, int):
            return typing.get_args(arg)[0]
        if origin is dict and isinstance(part, str):
            return typing.get_args(arg)[1]
    return None


def _args(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        return [arg for item in typing.get_args(annotation) for arg in _args(item)]
    if origin is typing.Annotated:
        return _args(typing.get_args(annotation)[0])
    return [annotation]


def _unwrap_model(annotation: Any) -> type[BaseModel] | None:
    for arg in _args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None
