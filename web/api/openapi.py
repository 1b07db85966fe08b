"""The OpenAPI document of the JSON API, built from the route table itself.

Every route under /api/v1 is listed with its methods, path parameters and the
summary and description from its endpoint's docstring, so the document cannot
forget an endpoint. Errors share one RFC 9457 problem details schema.
"""

import inspect
import re
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

API_PREFIX = "/api/v1"
PARAMETER = re.compile(r"{([^}:]+)(?::[^}]+)?}")
SUCCESS = {"POST": "201", "DELETE": "204"}

PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "a message per field at fault",
        },
    },
    "required": ["title", "status"],
}


def _version() -> str:
    try:
        return version("benefed")
    except PackageNotFoundError:
        return "0"


def _operation(route: Route, method: str) -> dict[str, Any]:
    doc = inspect.getdoc(route.endpoint) or ""
    summary, _sep, description = doc.partition("\n")
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in PARAMETER.findall(route.path)
    ]
    success = SUCCESS.get(method, "200")
    if method == "POST" and route.path.endswith(("/accept", "/refuse", "/leave", "/validate")):
        success = "200"
    operation: dict[str, Any] = {
        "operationId": f"{method.lower()}_{route.name}",
        "summary": summary.strip() or route.name,
        "parameters": parameters,
        "responses": {
            success: {"description": "success"},
            "default": {
                "description": "an error, as problem details",
                "content": {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                },
            },
        },
    }
    if description.strip():
        operation["description"] = description.strip()
    if method in {"POST", "PATCH", "PUT"}:
        operation["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    if route.path == f"{API_PREFIX}/auth/token" and method == "POST":
        operation["security"] = []
    return operation


def openapi_document(routes: list[BaseRoute], base_url: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document for every API route in the table."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not isinstance(route, Route) or not route.path.startswith(API_PREFIX):
            continue
        path = PARAMETER.sub(lambda match: "{" + match.group(1) + "}", route.path)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            paths.setdefault(path, {})[method.lower()] = _operation(route, method)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Benefed API",
            "version": _version(),
            "description": "Record and value volunteer work. Lists are {items, next}; "
            "errors are RFC 9457 problem details; durations are integer minutes.",
            "license": {"name": "AGPL-3.0-or-later", "identifier": "AGPL-3.0-or-later"},
        },
        "servers": [{"url": base_url}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {"Problem": PROBLEM},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def openapi(request: Request) -> Response:
    """The OpenAPI document of this API."""
    document = openapi_document(list(request.app.routes), str(request.base_url).rstrip("/"))
    return JSONResponse(document)


routes = [Route(f"{API_PREFIX}/openapi.json", openapi, methods=["GET"], name="openapi")]
