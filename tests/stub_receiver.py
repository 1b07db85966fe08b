"""A tiny remote server for the live tests, run by uvicorn in its own process.

It serves actor documents (``GET /users/{name}``, key from STUB_KEY_FILE) and
accepts POSTs to any inbox. Each POST is appended to STUB_LOG as one JSON line
``{"event": "received", "id": ..., "type": ...}``; the first time an activity
id is seen it also logs ``{"event": "processed", ...}`` (stored once by id, like
a real inbox). When STUB_STALL_SECONDS is set, the first delivery of each id
then stalls that long before answering (a peer that hangs its reply).
Run: ``STUB_LOG=... python -m uvicorn tests.stub_receiver:app --port N``.
"""

import asyncio
import json
import os
import threading
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_lock = threading.Lock()
_seen: set[str] = set()


def _log(entry: dict[str, Any]) -> None:
    with _lock, Path(os.environ["STUB_LOG"]).open("a", encoding="utf-8") as log:
        log.write(json.dumps(entry) + "\n")
        log.flush()


def _first_time(activity_id: str) -> bool:
    with _lock:
        if activity_id in _seen:
            return False
        _seen.add(activity_id)
        return True


async def receive(request: Request) -> Response:
    """Log the activity; dedupe by id; stall on a first delivery when asked to."""
    try:
        body = json.loads(await request.body())
    except ValueError:
        return Response(status_code=400)
    activity_id = str(body.get("id", ""))
    entry = {"id": activity_id, "type": body.get("type"), "path": request.url.path}
    _log({"event": "received", **entry})
    first = _first_time(activity_id)
    if first:
        _log({"event": "processed", **entry})
    stall = float(os.environ.get("STUB_STALL_SECONDS", "0") or 0)
    if first and stall:
        _log({"event": "stalling", **entry})
        await asyncio.sleep(stall)
    return Response(status_code=202)


def actor(request: Request) -> Response:
    """An actor document whose key is the one in STUB_KEY_FILE."""
    name = request.path_params["name"]
    base = f"{request.url.scheme}://{request.url.netloc}"
    uri = f"{base}/users/{name}"
    pem = Path(os.environ["STUB_KEY_FILE"]).read_text() if os.environ.get("STUB_KEY_FILE") else ""
    document = {
        "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
        "id": uri,
        "type": "Person",
        "preferredUsername": name,
        "inbox": f"{uri}/inbox",
        "endpoints": {"sharedInbox": f"{base}/inbox"},
        "publicKey": {"id": f"{uri}#main-key", "owner": uri, "publicKeyPem": pem},
    }
    return JSONResponse(document, media_type="application/activity+json")


def health(_request: Request) -> Response:
    """Ready."""
    return Response("ok")


app = Starlette(
    routes=[
        Route("/health", health),
        Route("/users/{name}", actor, methods=["GET"]),
        Route("/{path:path}", receive, methods=["POST"]),
    ]
)
