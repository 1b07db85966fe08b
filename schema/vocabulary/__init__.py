"""The Benefed vocabulary: its JSON-LD context and a JSON Schema per type.

The namespace IRI never depends on the serving host; every document we write
inlines the terms (``CONTEXT``), so no context is ever fetched. Each instance
also serves a copy of the context and of the schemas for people to read
(``/ns/benefed.jsonld``, ``/ns/hours-summary.schema.json``,
``/ns/network-report.schema.json``).
"""

import json
from functools import cache
from pathlib import Path
from typing import Any

NAMESPACE = "https://w3id.org/benefed/ns#"
CONTEXT_URL = "https://w3id.org/benefed/ns"
AS2_CONTEXT = "https://www.w3.org/ns/activitystreams"
DATA_INTEGRITY_CONTEXT = "https://w3id.org/security/data-integrity/v2"
HOURS_SUMMARY = "HoursSummary"
NETWORK_REPORT = "NetworkReport"
SCHEMAS = {
    "hours-summary": "hours_summary.schema.json",
    "network-report": "network_report.schema.json",
}

_HERE = Path(__file__).parent


def _read(name: str) -> Any:
    return json.loads((_HERE / name).read_text(encoding="utf-8"))


@cache
def context_document() -> dict[str, Any]:
    """The JSON-LD context document, as served ({"@context": {...}})."""
    found = _read("benefed.jsonld")
    assert isinstance(found, dict)
    return found


def context_terms() -> dict[str, Any]:
    """The inline context: every term of the vocabulary (a fresh copy)."""
    return json.loads(json.dumps(context_document()["@context"]))


def summary_context() -> list[Any]:
    """The @context of an HoursSummary: ActivityStreams, Data Integrity, our terms inline."""
    return [AS2_CONTEXT, DATA_INTEGRITY_CONTEXT, context_terms()]


CONTEXT: dict[str, Any] = context_terms()


@cache
def _schema(name: str) -> str:
    if name not in SCHEMAS:
        raise KeyError(f"no schema named {name!r}")
    return (_HERE / SCHEMAS[name]).read_text(encoding="utf-8")


def load_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of one type by name ("hours-summary"), a fresh copy; KeyError if none."""
    found = json.loads(_schema(name))
    assert isinstance(found, dict)
    return found
