"""Pages for managers who edit actions: entry for a group and the validation queue."""

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from instance import action_mails, actions
from instance.action_rules import Caller, caller_in, check_can_record
from instance.errors import Forbidden, Invalid
from instance.i18n import _, ngettext
from schema.tables import Association, User
from web.api.actions import association_for, today_for
from web.auth import current_user, login_required
from web.flash import flash
from web.forms import FormState, form_view
from web.pages.action_forms import form_context, form_data, fresh_state, load_choices
from web.pages.action_rows import action_rows
from web.pages.action_support import redirect
from web.pending_mail import notify_pending
from web.services import services
from web.templating import render


def _id_list(raw: list[Any], field: str, message: str) -> list[int]:
    values = [value for value in raw if isinstance(value, str) and value.strip()]
    if not values:
        raise Invalid({field: message})
    if not all(value.strip().isdigit() and len(value.strip()) < 12 for value in values):
        raise Invalid({field: _("Choose from the list.")})
    return [int(value) for value in values]


def manager_of(request: Request) -> tuple[Association, Caller, User]:
    """The association of the path, for a manager who may edit its actions; raise Forbidden."""
    user = current_user(request)
    assert user is not None
    with services(request).db.read() as session:
        association, caller = association_for(session, request.path_params["slug"], user)
    if not caller.may_edit_all:
        raise Forbidden(_("Only managers who may edit actions can do this."))
    return association, caller, user


@form_view
@login_required
def group(request: Request, form: FormData | None) -> Response:
    """Record the same action for several volunteers at once (a group at an event)."""
    association, caller, user = manager_of(request)
    found, day = services(request), today_for(request)
    with found.db.read() as session:
        check_can_record(association, caller)
        choices = load_choices(session, association, manager=True)
    state = FormState.from_form(form)
    picked = {str(v) for v in form.getlist("volunteer_ids")} if form is not None else set()
    if form is None:
        state = fresh_state(association, choices, None, day, caller)
    else:
        try:
            errors: dict[str, str] = {}
            ids, data = [], {}
            for step in ("ids", "data"):
                try:
                    if step == "ids":
                        ids = _id_list(
                            form.getlist("volunteer_ids"),
                            "volunteer_ids",
                            _("Choose at least one volunteer."),
                        )
                    else:
                        data = form_data(state, association, choices, manager=False)
                except Invalid as error:
                    errors.update(error.errors)
            if errors:
                raise Invalid(errors)
            with found.db.write() as session:
                fresh = session.get(Association, association.id)
                assert fresh is not None
                created = actions.create_group_actions(
                    session,
                    association=fresh,
                    user=user,
                    data=data,
                    volunteer_ids=ids,
                    today=day,
                    lenient=True,
                )
            notify_pending(request, created)
            count = len(created)
            flash(
                request,
                ngettext(
                    "The action was saved for {count} volunteer.",
                    "The action was saved for {count} volunteers.",
                    count,
                ).format(count=count),
            )
            return redirect(f"/associations/{association.slug}/actions")
        except Invalid as error:
            state.fail(error)
    context = form_context(
        association,
        choices,
        state,
        heading=_("Record an action for a group"),
        target=f"/associations/{association.slug}/actions/group",
        cancel=f"/associations/{association.slug}/actions",
        last=None,
        repeat_url="",
        manager=False,
        group=True,
        picked=picked,
    )
    return render(request, "actions/form.html", context, status=422 if state.errors else 200)


def _decide(
    request: Request, association: Association, user: User, form: FormData, state: FormState
) -> int:
    found = services(request)
    ids: Any = []
    try:
        ids = _id_list(form.getlist("ids"), "ids", _("Choose at least one action."))
    except Invalid as error:
        if form.get("decision") != "refuse":
            raise
        state.fail(error)
    with found.db.write() as session:
        fresh = session.get(Association, association.id)
        assert fresh is not None
        if form.get("decision") == "refuse":
            decided = actions.refuse_actions(
                session, association=fresh, user=user, ids=ids or None, reason=state.get("reason")
            )
        else:
            decided = actions.validate_actions(session, association=fresh, user=user, ids=ids)
        mails = action_mails.decision_mails(
            session, actions=decided, base_url=found.config.base_url, decided_by=user
        )
    found.mailer.send(*mails)
    return len(decided)


@form_view
@login_required
def pending(request: Request, form: FormData | None) -> Response:
    """The actions waiting for validation: validate or refuse the ones ticked."""
    association, _caller, user = manager_of(request)
    state = FormState.from_form(form)
    picked = {str(v) for v in form.getlist("ids")} if form is not None else set()
    if form is not None:
        try:
            count = _decide(request, association, user, form, state)
            refused = form.get("decision") == "refuse"
            message = (
                ngettext("{count} action was refused.", "{count} actions were refused.", count)
                if refused
                else ngettext(
                    "{count} action was validated.", "{count} actions were validated.", count
                )
            )
            flash(request, message.format(count=count))
            return redirect(f"/associations/{association.slug}/actions/pending")
        except Invalid as error:
            state.fail(error)
    cursor = request.query_params.get("cursor") or None
    with services(request).db.read() as session:
        page = actions.validation_queue(
            session, association=association, user=user, cursor=cursor, limit=50
        )
        caller = caller_in(session, association, user)
        rows = action_rows(session, page.items, {association.id or 0: (association, caller)})
    context = {
        "association": association,
        "rows": rows,
        "next": page.next,
        "form": state,
        "picked": picked,
    }
    return render(request, "actions/pending.html", context, status=422 if state.errors else 200)


routes = [
    Route("/associations/{slug}/actions/group", group, methods=["GET", "POST"]),
    Route("/associations/{slug}/actions/pending", pending, methods=["GET", "POST"]),
]
