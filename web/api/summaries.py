"""API: figures of an association, a person's own hours, and the accounting view."""

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from instance import accounting, summaries
from instance.action_rules import distance_text
from instance.errors import Forbidden, Invalid
from instance.i18n import _
from instance.periods import Period, resolve_period
from instance.summaries import Figures, Group, Summary
from instance.valuation import euros, method_text
from web.api.actions import api_user, association_for, plain_place, today_for
from web.services import services
from web.view_runner import on_loop


def period_from(request: Request) -> Period:
    """The period of ?preset= or ?from=&to= (this year by default); raise Invalid."""
    params = request.query_params
    return resolve_period(
        today=today_for(request),
        preset=params.get("preset") or None,
        start=params.get("from") or None,
        end=params.get("to") or None,
    )


def group_by_from(request: Request) -> str | None:
    """The ?group_by= of a summary; raise Invalid."""
    group_by = request.query_params.get("group_by") or None
    if group_by is not None and group_by not in summaries.GROUPINGS:
        raise Invalid({"group_by": _("Choose month, category, project, level or volunteer.")})
    return group_by


def figures_json(found: Figures) -> dict[str, Any]:
    """The headline figures of a summary."""
    return {
        "total_minutes": found.minutes,
        "actions": found.actions,
        "volunteers": found.volunteers,
        "valued_amount": found.valued_amount,
        "pending_minutes": found.pending_minutes,
        "pending_actions": found.pending_actions,
        "travel_minutes": found.travel_minutes,
        "distance_km": distance_text(found.distance_hundredths),
    }


def group_json(group: Group) -> dict[str, Any]:
    """One group of a summary."""
    found: dict[str, Any] = {
        "key": group.key,
        "label": group.label,
        "minutes": group.figures.minutes,
        "actions": group.figures.actions,
        "valued_amount": group.figures.valued_amount,
        "travel_minutes": group.figures.travel_minutes,
        "distance_km": distance_text(group.figures.distance_hundredths),
    }
    if group.figures.volunteers is not None:
        found["volunteers"] = group.figures.volunteers
    return found


def summary_json(summary: Summary) -> dict[str, Any]:
    """The API shape of a summary."""
    return {
        **figures_json(summary.total),
        "from": summary.period.start.isoformat(),
        "to": summary.period.end.isoformat(),
        "group_by": summary.group_by,
        "groups": [group_json(group) for group in summary.groups],
        "valuation": {
            "method": summary.method,
            "rates": [
                {
                    "level_id": rate.level_id,
                    "level": rate.level,
                    "effective_from": rate.effective_from.isoformat()
                    if rate.effective_from
                    else None,
                    "hourly_rate": euros(rate.hourly_rate_cents),
                }
                for rate in summary.rates
            ],
        },
    }


@on_loop
def summary_endpoint(request: Request) -> Response:
    """GET the association's figures over a period (managers who see every action)."""
    with services(request).db.read() as session:
        user = api_user(request, session)
        association, caller = plain_place(session, request.path_params["slug"], user)
        if not caller.may_view_all:
            raise Forbidden(_("Only managers may see the association's figures."))
        summary = summaries.association_summary(
            session,
            association=association,
            caller=caller,
            period=period_from(request),
            group_by=group_by_from(request),
        )
        return JSONResponse(summary_json(summary))


def my_summary_endpoint(request: Request) -> Response:
    """GET the caller's own figures in one association over a period."""
    user = api_user(request)
    with services(request).db.read() as session:
        association, caller = association_for(session, request.path_params["slug"], user)
        member = caller.membership
        if (member is None or member.status != "active") and not user.is_admin:
            raise Forbidden(_("You are not a member of this association."))
        summary = summaries.compute_summary(
            session,
            association=association,
            period=period_from(request),
            group_by=group_by_from(request),
            # An instance admin who is not a member has no time of their own here.
            membership_id=member.id if member is not None and member.id else 0,
        )
        return JSONResponse(summary_json(summary))


def accounting_endpoint(request: Request) -> Response:
    """GET a year's volunteer time as accounts 864 / 875 (managers who see every action)."""
    user = api_user(request)
    raw = request.query_params.get("year") or str(today_for(request).year)
    if not raw.isdigit() or len(raw) != 4:
        raise Invalid({"year": _("Enter a year like 2024.")})
    with services(request).db.read() as session:
        association, caller = association_for(session, request.path_params["slug"], user)
        if not caller.may_view_all:
            raise Forbidden(_("Only managers may see the association's figures."))
        rows = accounting.accounting_rows(session, association=association, year=int(raw))
        method = method_text(association)
    debit = sum(row.valued_cents for row in rows if row.side == "debit")
    total_minutes = sum(row.minutes for row in rows if row.side == "debit")
    return JSONResponse(
        {
            "year": int(raw),
            "rows": [
                {
                    "account": row.account,
                    "account_label": row.account_label,
                    "side": row.side,
                    "category_id": row.category_id,
                    "category": row.category,
                    "minutes": row.minutes,
                    "hours": row.hours,
                    "valued_amount": euros(row.valued_cents),
                }
                for row in rows
            ],
            "total_minutes": total_minutes,
            "valued_amount": euros(debit),
            # The year's hours over a full-time job's (accounting.FULL_TIME_YEAR_HOURS).
            "full_time_equivalent": accounting.full_time_equivalent(total_minutes),
            "method": method,
        }
    )


routes: list[BaseRoute] = [
    Route("/api/v1/associations/{slug}/summary", summary_endpoint, methods=["GET"]),
    Route("/api/v1/associations/{slug}/summary/me", my_summary_endpoint, methods=["GET"]),
    Route("/api/v1/associations/{slug}/accounting", accounting_endpoint, methods=["GET"]),
]
