"""API: import actions from a CSV or XLSX body (managers who may edit every action).

The same rules as the import page (instance/action_import.py): every row checked
first, all written or none; problems come back by line in the problem details.
"""

from dataclasses import asdict

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from instance.action_import import ImportRefused, prepare_import, read_sheet, record_import
from instance.action_rules import check_can_record
from instance.errors import Forbidden
from instance.i18n import _
from web.api.actions import api_user, association_for, today_for
from web.pending_mail import notify_pending
from web.problems import problem
from web.services import services

#: Bodies taken as a file (anything else is answered 415).
FILE_TYPES = {
    "text/csv",
    "text/plain",
    "application/octet-stream",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


async def import_endpoint(request: Request) -> Response:
    """POST a CSV or XLSX file of actions: all imported (201) or none (422, problems by line).

    The body is the file itself (Content-Type text/csv or the XLSX type), its first
    line the columns' names: date, volunteer, category, minutes or hours (needed);
    end_date, title, description, project, level, travel_minutes, distance_km.
    Answers {"imported": n, "ids": [...], "ignored_columns": [...]} (the columns
    left aside); a refusal lists {"line", "column", "message"} under "problems".
    """
    body = await request.body()
    return await run_in_threadpool(_import, request, body)


def _import(request: Request, body: bytes) -> Response:
    found = services(request)
    user = api_user(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        with found.db.read() as session:
            association, caller = association_for(session, request.path_params["slug"], user)
            if not caller.may_edit_all:
                raise Forbidden(_("Only managers who may edit actions can do this."))
            check_can_record(association, caller)
            if content_type not in FILE_TYPES:
                return problem(415, "Send the file itself, as text/csv or as an XLSX workbook.")
            prepared = prepare_import(
                session,
                association=association,
                user=user,
                sheet=(sheet := read_sheet(body)),
                today=today_for(request),
            )
        with found.db.write() as session:
            created = record_import(session, prepared)
    except ImportRefused as refused:
        listed = [asdict(found_problem) for found_problem in refused.problems]
        return problem(422, refused.message, problems=listed, total=refused.total)
    notify_pending(request, created)
    ids = [action.id for action in created]
    body = {"imported": len(ids), "ids": ids, "ignored_columns": sheet.ignored}
    return JSONResponse(body, status_code=201)


routes: list[BaseRoute] = [
    Route("/api/v1/associations/{slug}/actions/import", import_endpoint, methods=["POST"]),
]
