"""Page: import actions from a spreadsheet (managers who may edit every action).

The rules (columns, formats, all or nothing) live in instance/action_import.py;
this page takes the file, shows every problem with its line, and writes nothing
unless every row passes.
"""

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from instance.action_import import (
    MAX_ROWS,
    ImportRefused,
    Problem,
    prepare_import,
    read_sheet,
    record_import,
)
from instance.action_rules import check_can_record
from instance.i18n import _, ngettext
from web.api.actions import today_for
from web.auth import login_required
from web.flash import flash
from web.forms import form_view
from web.pages.action_manage import manager_of
from web.pages.action_support import redirect
from web.pending_mail import notify_pending
from web.services import services
from web.templating import render

TEMPLATE_CSV = "date;volunteer;category;minutes;title;project;level;distance_km\r\n"


@form_view
@login_required
def import_page(request: Request, form: FormData | None) -> Response:
    """Show the import form, or import the file it sent (all rows or none)."""
    association, caller, user = manager_of(request)
    found = services(request)
    problems: list[Problem] = []
    total = 0
    if form is not None:
        upload = form.get("file")
        try:
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise ImportRefused([Problem(0, "", _("Choose a CSV or XLSX file."))])
            sheet = read_sheet(upload.file.read())
            with found.db.read() as session:
                check_can_record(association, caller)
                prepared = prepare_import(
                    session,
                    association=association,
                    user=user,
                    sheet=sheet,
                    today=today_for(request),
                )
            with found.db.write() as session:
                created = record_import(session, prepared)
        except ImportRefused as refused:
            problems, total = refused.problems, refused.total
        else:
            notify_pending(request, created)
            flash(
                request,
                ngettext(
                    "{count} action was imported.", "{count} actions were imported.", len(created)
                ).format(count=len(created)),
            )
            if sheet.ignored:  # a misspelt optional column would otherwise go unnoticed
                names = ", ".join(sheet.ignored)
                flash(request, _("Columns left aside: {names}.").format(names=names))
            return redirect(f"/associations/{association.slug}/actions")
    context = {
        "association": association,
        "problems": problems,
        "total": total,
        "max_rows": MAX_ROWS,
    }
    return render(request, "actions/import.html", context, status=422 if problems else 200)


@login_required
def template_csv(request: Request) -> Response:
    """An empty CSV with the columns the import reads (for a spreadsheet to fill in)."""
    association, _caller, _user = manager_of(request)
    return Response(
        "\ufeff" + TEMPLATE_CSV,
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{association.slug}-import.csv"'},
    )


routes = [
    Route("/associations/{slug}/actions/import", import_page, methods=["GET", "POST"]),
    Route("/associations/{slug}/actions/import/template.csv", template_csv, methods=["GET"]),
]
