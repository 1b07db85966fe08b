"""API: a person's hours everywhere (local and other instances) and their attestation.

GET /api/v1/me/hours lists every association, local or remote, with minutes by
month and the proof status of remote ones. The attestation comes as a JSON
bundle (each signed summary exactly as received, and the keys that signed
them) and as a PDF for people.
"""

from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from federation import attestations
from federation.attestations import iso
from instance import i18n, person_hours
from instance.attestation_pdf import AttestationData, attestation_pdf
from instance.config import Config
from instance.person_hours import CombinedHours, HoursLine, MonthRange
from schema.db import Database
from schema.tables import User
from schema.tables._base import utcnow
from web.api.actions import api_user
from web.services import services

BUNDLE_TYPE = "application/json"
PDF_TYPE = "application/pdf"


def months_from(request: Request) -> MonthRange:
    """The range of ?from=YYYY-MM&to=YYYY-MM (open ends when missing); raise Invalid."""
    params = request.query_params
    return person_hours.read_month_range(params.get("from"), params.get("to"))


def line_json(line: HoursLine) -> dict[str, Any]:
    """One association of the combined hours."""
    return {
        "name": line.name,
        "slug": line.slug or None,
        "instance": line.instance,
        "remote": line.remote,
        "minutes": line.minutes,
        "proof": line.proof,
        "updated": iso(line.updated) if line.updated is not None else None,
        "months": [{"month": month, "minutes": minutes} for month, minutes in line.months],
    }


def hours_json(combined: CombinedHours) -> dict[str, Any]:
    """The API shape of a person's combined hours."""
    return {
        "total_minutes": combined.total_minutes,
        "associations": [line_json(line) for line in combined.lines],
    }


def hours_endpoint(request: Request) -> Response:
    """GET the caller's counted minutes per association (here and elsewhere) and month."""
    user = api_user(request)
    months = months_from(request)
    found = services(request)
    with found.db.read() as session:
        combined = person_hours.combined_hours(
            session, user=user, domain=found.config.domain, months=months
        )
    return JSONResponse(hours_json(combined))


def _file_stem(user: User, months: MonthRange) -> str:
    parts = [user.username, "hours", months.first, months.last]
    return "-".join(part for part in parts if part)


def bundle_response(
    db: Database, config: Config, user: User, months: MonthRange, *, download: bool
) -> Response:
    """The attestation bundle of a person as JSON (a download for the browser)."""
    with db.read() as session:
        text = attestations.bundle_text(
            session, config=config, user=user, months=months, issued=utcnow()
        )
    headers = {"Cache-Control": "no-store"}
    if download:
        headers["Content-Disposition"] = f'attachment; filename="{_file_stem(user, months)}.json"'
    return Response(text, media_type=BUNDLE_TYPE, headers=headers)


def attestation_data(
    db: Database, config: Config, user: User, months: MonthRange, issued: datetime
) -> AttestationData:
    """What the PDF attestation states."""
    with db.read() as session:
        combined = person_hours.combined_hours(
            session, user=user, domain=config.domain, months=months
        )
        rows = person_hours.received_summaries(session, user=user, months=months)
    return AttestationData(
        person=user.display_name or user.username,
        handle=f"{user.username}@{config.domain}",
        combined=combined,
        signatures=person_hours.signatures(rows),
        issued=issued,
        instance=config.domain,
        verify_url=config.base_url.rstrip("/") + "/verify",
    )


def pdf_response(request: Request, user: User, months: MonthRange) -> Response:
    """The attestation PDF (in ?lang= when given, else the page's language)."""
    found = services(request)
    data = attestation_data(found.db, found.config, user, months, utcnow())
    wanted = request.query_params.get("lang", "")
    language = wanted if wanted in i18n.LANGUAGES else i18n.current_language.get()
    with i18n.use_language(language):
        content = attestation_pdf(data)
    name = _file_stem(user, months)
    headers = {
        "Content-Disposition": f'attachment; filename="{name}.pdf"',
        "Cache-Control": "no-store",
    }
    return Response(content, media_type=PDF_TYPE, headers=headers)


def attestation_json_endpoint(request: Request) -> Response:
    """GET the caller's attestation bundle: signed summaries and the keys that signed them."""
    user = api_user(request)
    months = months_from(request)
    found = services(request)
    return bundle_response(found.db, found.config, user, months, download=False)


def attestation_pdf_endpoint(request: Request) -> Response:
    """GET the caller's attestation as a PDF."""
    user = api_user(request)
    return pdf_response(request, user, months_from(request))


routes: list[BaseRoute] = [
    Route("/api/v1/me/hours", hours_endpoint, methods=["GET"]),
    Route("/api/v1/me/attestation.json", attestation_json_endpoint, methods=["GET"]),
    Route("/api/v1/me/attestation.pdf", attestation_pdf_endpoint, methods=["GET"]),
]
