"""The Benefed vocabulary for people to read: GET /ns/benefed.jsonld and the JSON Schemas.

Documents never need these (their terms are inlined); they are served so that
implementers can read the context and check their objects against the schemas.
"""

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from schema import vocabulary

CACHE = "public, max-age=86400"


def _json(document: Any, media_type: str) -> Response:
    body = json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")
    headers = {"Cache-Control": CACHE, "Access-Control-Allow-Origin": "*"}
    return Response(body, media_type=media_type, headers=headers)


def context(request: Request) -> Response:
    """The JSON-LD context of the Benefed vocabulary."""
    return _json(vocabulary.context_document(), "application/ld+json")


def hours_summary_schema(request: Request) -> Response:
    """The JSON Schema of an HoursSummary."""
    return _json(vocabulary.load_schema("hours-summary"), "application/schema+json")


def network_report_schema(request: Request) -> Response:
    """The JSON Schema of a NetworkReport."""
    return _json(vocabulary.load_schema("network-report"), "application/schema+json")


routes = [
    Route("/ns/benefed.jsonld", context, methods=["GET", "HEAD"]),
    Route("/ns/hours-summary.schema.json", hours_summary_schema, methods=["GET", "HEAD"]),
    Route("/ns/network-report.schema.json", network_report_schema, methods=["GET", "HEAD"]),
]
