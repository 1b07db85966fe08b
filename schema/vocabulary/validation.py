"""A small JSON Schema validator for the subset our vocabulary schemas use.

Supported keywords: ``type`` (one or a list), ``const``, ``enum``, ``required``,
``properties``, ``items``, ``minItems``, ``maxItems``, ``minLength``,
``maxLength``, ``pattern``, ``minimum``, ``maximum`` and local ``$ref``
(``#/$defs/name``). Unknown properties are allowed (read tolerantly). Floats are
never integers here: signed documents must stay JCS-safe.
"""

import re
from functools import lru_cache
from typing import Any

from schema.vocabulary import load_schema

MAX_ERRORS = 20
TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


class SchemaError(ValueError):
    """A document does not match its schema; ``errors`` lists where and why."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@lru_cache(maxsize=64)
def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(text)


def _resolve(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        reference = node["$ref"]
        if not isinstance(reference, str) or not reference.startswith("#/$defs/"):
            raise KeyError(f"unsupported $ref {reference!r}")
        node = root["$defs"][reference.removeprefix("#/$defs/")]
    return node


def _type_ok(node: dict[str, Any], value: Any) -> bool:
    wanted = node.get("type")
    if wanted is None:
        return True
    names = wanted if isinstance(wanted, list) else [wanted]
    return any(TYPES[name](value) for name in names)


def _scalar_errors(node: dict[str, Any], value: Any, path: str) -> list[str]:
    errors = []
    if "const" in node and value != node["const"]:
        errors.append(f"{path}: must be {node['const']!r}")
    if "enum" in node and value not in node["enum"]:
        errors.append(f"{path}: must be one of {node['enum']!r}")
    if isinstance(value, str):
        if len(value) < node.get("minLength", 0):
            errors.append(f"{path}: too short")
        if len(value) > node.get("maxLength", len(value)):
            errors.append(f"{path}: too long")
        if "pattern" in node and not _pattern(node["pattern"]).search(value):
            errors.append(f"{path}: does not match {node['pattern']}")
    if TYPES["number"](value):
        if "minimum" in node and value < node["minimum"]:
            errors.append(f"{path}: below {node['minimum']}")
        if "maximum" in node and value > node["maximum"]:
            errors.append(f"{path}: above {node['maximum']}")
    return errors


def _errors(root: dict[str, Any], node: dict[str, Any], value: Any, path: str) -> list[str]:
    node = _resolve(root, node)
    if not _type_ok(node, value):
        return [f"{path}: must be of type {node['type']}"]
    errors = _scalar_errors(node, value, path)
    if isinstance(value, dict):
        errors += [
            f"{path}: {name} is missing" for name in node.get("required", ()) if name not in value
        ]
        for name, child in node.get("properties", {}).items():
            if name in value:
                errors += _errors(root, child, value[name], f"{path}.{name}")
    if isinstance(value, list):
        if len(value) < node.get("minItems", 0):
            errors.append(f"{path}: needs at least {node['minItems']} items")
        if len(value) > node.get("maxItems", len(value)):
            errors.append(f"{path}: has more than {node['maxItems']} items")
        elif "items" in node:
            for index, item in enumerate(value):
                errors += _errors(root, node["items"], item, f"{path}[{index}]")
                if len(errors) >= MAX_ERRORS:
                    break
    return errors[:MAX_ERRORS]


def errors_of(schema: dict[str, Any], document: Any) -> list[str]:
    """Where and why a document does not match a schema (empty when it does)."""
    return _errors(schema, schema, document, "$")


def validate(name: str, document: Any) -> None:
    """Check a document against one of our schemas by name; SchemaError says why not."""
    errors = errors_of(_loaded(name), document)
    if errors:
        raise SchemaError(errors)


def validate_network_report(document: Any) -> None:
    """Check a NetworkReport object against its schema; SchemaError says why not.

    Besides the schema: each reference key appears once in minutesByCategory.
    """
    validate("network-report", document)
    assert isinstance(document, dict)
    keys = [item["key"] for item in document.get("minutesByCategory", [])]
    if len(keys) != len(set(keys)):
        raise SchemaError(["$.minutesByCategory: a key appears twice"])


@lru_cache(maxsize=8)
def _loaded(name: str) -> dict[str, Any]:
    return load_schema(name)
