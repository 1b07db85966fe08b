"""API: exports of actions and summaries as CSV, ODS, XLSX or JSON, streamed.

Rights, filters and row limits are checked before the answer starts, so every
refusal is a problem details answer. The rows are then read by the response's
own iterator, in its own read session, batch by batch.
"""

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from instance import actions, export_formats, exports, summaries
from instance.errors import Forbidden, NotFound
from instance.export_formats import Document
from instance.i18n import _
from web.api.actions import api_user, association_for
from web.api.summaries import group_by_from, period_from
from web.services import services

UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
RowsReader = Callable[[Session], Iterable[Sequence[Sequence[Any]]]]


def read_format(request: Request) -> str:
    """The format of the path (csv, ods, xlsx, json); NotFound otherwise."""
    fmt = str(request.path_params["fmt"]).lower()
    if fmt not in export_formats.FORMATS:
        raise NotFound(_("Exports are in csv, ods, xlsx or json."))
    return fmt


def file_name(*parts: object) -> str:
    """A download's name from its parts (slugs, names, dates), safe in a header, no extension."""
    return UNSAFE.sub("_", "-".join(str(part) for part in parts if part))


def streamed(
    request: Request,
    *,
    fmt: str,
    document: Document,
    filename: str,
    rows: RowsReader,
    links: Sequence[str] = (),
) -> StreamingResponse:
    """The export as a download, its rows read while it is sent."""
    database = services(request).db
    writer = export_formats.WRITERS[fmt]

    def body() -> Iterator[bytes]:
        with database.read() as session:
            yield from writer(document, rows(session))

    headers = {
        "Content-Disposition": f'attachment; filename="{filename}.{fmt}"',
        "Cache-Control": "no-store",
    }
    if links:
        headers["Link"] = ", ".join(f'<{link}>; rel="describedby"' for link in links)
    return StreamingResponse(body(), media_type=export_formats.MEDIA_TYPES[fmt], headers=headers)


def stream_actions(
    request: Request,
    *,
    fmt: str,
    selection: exports.Selection,
    filename: str,
    links: Sequence[str] = (),
) -> StreamingResponse:
    """Stream the selected actions (rights already checked); refuse oversized spreadsheets."""
    zone = services(request).config.zone
    with services(request).db.read() as session:
        if fmt in {"ods", "xlsx"}:
            export_formats.check_size(fmt, exports.count_actions(session, selection))
        document = exports.actions_document(session, selection=selection, zone=zone)

    def rows(session: Session) -> Iterator[list[tuple[Any, ...]]]:
        return exports.action_batches(session, selection, zone=zone)

    return streamed(request, fmt=fmt, document=document, filename=filename, rows=rows, links=links)


def association_export(request: Request) -> Response:
    """GET every action of an association as CSV, ODS, XLSX or JSON (managers).

    For holders of view_actions or edit_actions. Filters as the list of actions:
    from, to (inclusive days), volunteer, category, project, level, status. One
    header row, one row per action, oldest first; ODS stops at 100,000 actions and
    XLSX at 1,048,575 (422 beyond). The answer is streamed.
    """
    user = api_user(request)
    fmt = read_format(request)
    with services(request).db.read() as session:
        association, caller = association_for(session, request.path_params["slug"], user)
        if not caller.may_view_all:
            raise Forbidden(_("Only managers who may see every action can export them."))
        filters = actions.read_filters(request.query_params)
        selection = exports.association_selection(
            session, association=association, caller=caller, filters=filters
        )
    return stream_actions(
        request,
        fmt=fmt,
        selection=selection,
        filename=file_name(association.slug, "actions", filters.start, filters.end),
        links=[f"/api/v1/associations/{association.slug}/summary"],
    )


def own_export(request: Request) -> Response:
    """GET the caller's own actions, in every association, as CSV, ODS, XLSX or JSON.

    Filters: from, to (inclusive days) and status. Same columns as the
    association's export; the answer is streamed.
    """
    user = api_user(request)
    fmt = read_format(request)
    with services(request).db.read() as session:
        filters = actions.read_filters(request.query_params)
        selection = exports.own_selection(session, user=user, filters=filters)
        slugs = [found.slug for found in exports.valuations(session, selection.association_ids)]
    return stream_actions(
        request,
        fmt=fmt,
        selection=selection,
        filename=file_name(user.username, "actions", filters.start, filters.end),
        links=[f"/api/v1/associations/{slug}/summary/me" for slug in slugs],
    )


def summary_export(request: Request) -> Response:
    """GET the association's figures as CSV, ODS, XLSX or JSON (managers).

    Parameters as the summary: preset or from/to, and group_by (month, category,
    project, level, volunteer). One row per group, then the total row, with the
    valuation method in the JSON meta and the spreadsheets' Method sheet.
    """
    user = api_user(request)
    fmt = read_format(request)
    with services(request).db.read() as session:
        association, caller = association_for(session, request.path_params["slug"], user)
        if not caller.may_view_all:
            raise Forbidden(_("Only managers may see the association's figures."))
        period = period_from(request)
        summary = summaries.association_summary(
            session,
            association=association,
            caller=caller,
            period=period,
            group_by=group_by_from(request),
        )
        document = exports.summary_document(
            summary, association=association, zone=services(request).config.zone
        )
        rows = exports.summary_rows(summary)
    group = summary.group_by or "total"
    filename = file_name(association.slug, "summary", group, period.start, period.end)
    return streamed(
        request,
        fmt=fmt,
        document=document,
        filename=filename,
        rows=lambda _session: [rows],
        links=[f"/api/v1/associations/{association.slug}/summary"],
    )


routes: list[BaseRoute] = [
    Route("/api/v1/associations/{slug}/export.{fmt}", association_export, methods=["GET"]),
    Route("/api/v1/associations/{slug}/summary.{fmt}", summary_export, methods=["GET"]),
    Route("/api/v1/me/export/actions.{fmt}", own_export, methods=["GET"]),
]
