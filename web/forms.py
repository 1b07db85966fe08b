"""Form and JSON endpoints: read the body once, check it, then work in a thread.

Pages and API endpoints are written as plain functions (database work is
synchronous); these decorators do the asynchronous part (reading the body, CSRF)
and then run the function in the thread pool.
"""

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from instance.errors import Invalid
from web import csrf
from web.problems import problem
from web.view_runner import run_view

MAX_JSON_DEPTH = 32


@dataclass
class FormState:
    """What a form shows: the values typed and a message per field at fault."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def get(self, name: str, default: str = "") -> str:
        """The value typed for a field."""
        return self.values.get(name, default)

    @classmethod
    def from_form(cls, form: FormData | None, **defaults: Any) -> "FormState":
        """The state of a submitted form (or of a fresh one, with defaults)."""
        values = {key: "" if value is None else str(value) for key, value in defaults.items()}
        if form is not None:
            for key in form.keys():
                if key == csrf.FIELD:
                    continue
                items = [v for v in form.getlist(key) if isinstance(v, str)]
                values[key] = ",".join(items) if len(items) > 1 else (items[0] if items else "")
        return cls(values=values)

    def fail(self, error: Invalid) -> "FormState":
        """Record the field messages of an Invalid error."""
        self.errors.update(error.errors)
        return self


def checked(form: FormData, name: str) -> bool:
    """True when a checkbox was ticked."""
    return form.get(name) in {"on", "true", "1", "yes"}


#: What a wrapped view returns: a response, or (``on_loop`` views) an awaitable of one.
Answer = Response | Awaitable[Response]


def form_view(view: Callable[[Request, FormData | None], Answer]) -> Callable[..., Any]:
    """Wrap a page that shows a form on GET and handles it on POST (CSRF checked)."""

    @wraps(view)
    async def endpoint(request: Request) -> Response:
        form = None
        if request.method == "POST":
            form = await request.form(max_files=2, max_fields=200)
            csrf.check(request, form)
        return await run_view(view, request, form)

    return endpoint


def post_view(view: Callable[[Request, FormData], Answer]) -> Callable[..., Any]:
    """Wrap a POST-only button or form (CSRF checked)."""

    @wraps(view)
    async def endpoint(request: Request) -> Response:
        form = await request.form(max_files=2, max_fields=200)
        csrf.check(request, form)
        return await run_view(view, request, form)

    return endpoint


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_JSON_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


async def read_json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; raise HTTPException(400/415) otherwise."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if not body:
        return {}
    if content_type and content_type != "application/json" and not content_type.endswith("+json"):
        raise HTTPException(415, "Send a JSON body with Content-Type: application/json.")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise HTTPException(400, "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise HTTPException(400, "The body must be a JSON object.")
    if _depth(data) > MAX_JSON_DEPTH:
        raise HTTPException(400, "The JSON body is nested too deeply.")
    return data


def json_view(view: Callable[[Request, dict[str, Any]], Answer]) -> Callable[..., Any]:
    """Wrap an API endpoint that takes a JSON object body."""

    @wraps(view)
    async def endpoint(request: Request) -> Response:
        try:
            data = await read_json_object(request)
        except HTTPException as error:
            return problem(error.status_code, str(error.detail))
        return await run_view(view, request, data)

    return endpoint
