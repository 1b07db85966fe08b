"""Pages: record an action in three taps, correct or delete it, repeat the last one.

The same form serves people with an account and access links (web/pages/access.py):
an ``Actor`` says who records and where their pages are.
"""

from datetime import date
from typing import Any

from sqlmodel import Session
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from instance import actions, memberships
from instance.action_rules import (
    Caller,
    caller_in,
    check_can_change,
    check_can_record,
    distance_text,
)
from instance.associations import can_see
from instance.errors import Invalid, NotFound
from instance.i18n import _
from schema.tables import Action, Association, Category
from web.api.actions import association_for, plain_place, today_for
from web.auth import current_user, login_redirect, login_required
from web.flash import flash
from web.forms import FormState, form_view, post_view
from web.pages.action_forms import (
    Choices,
    action_state,
    describe,
    form_context,
    form_data,
    fresh_state,
    load_choices,
    posted_choices,
)
from web.pages.action_support import Actor, last_action, redirect, status_label
from web.pending_mail import notify_pending
from web.services import services
from web.templating import render
from web.view_runner import on_loop


def record_page(
    request: Request,
    form: FormData | None,
    actor: Actor,
    association: Association,
    caller: Caller | None = None,
    failed: FormState | None = None,
) -> Response:
    """Show or handle the form recording one action.

    `caller`: when already known; `failed`: a posted form already refused (shown again).
    """
    found, day = services(request), today_for(request)
    state = failed or FormState.from_form(form)
    if form is not None and failed is None:
        try:
            return _record(request, state, actor, association, caller)
        except Invalid as error:
            state.fail(error)
    with found.db.read() as session:
        caller = caller_in(session, association, actor.user, actor.link)
        if not can_see(association, actor.user, caller.membership):
            raise NotFound(_("No such association."))
        check_can_record(association, caller)
        manager = actor.link is None and caller.may_edit_all
        choices = load_choices(session, association, manager=manager)
        last = last_action(session, caller.membership)
    if form is None:
        state = fresh_state(association, choices, last, day, caller)
    context = form_context(
        association,
        choices,
        state,
        heading=_("Record an action"),
        target=actor.url(association, "new"),
        cancel=actor.url(association, "list"),
        last=last,
        repeat_url=actor.url(association, "repeat"),
        manager=manager,
    )
    return render(request, "actions/form.html", context, status=422 if state.errors else 200)


def _record(
    request: Request,
    state: FormState,
    actor: Actor,
    association: Association,
    caller: Caller | None,
) -> Response:
    """Record the posted action; raise Invalid to show the form again."""
    with services(request).db.read() as session:
        prepared = _prepare(session, request, state, actor, association, caller)
    return _save(request, prepared, actor, association)


def _prepare(
    session: Session,
    request: Request,
    state: FormState,
    actor: Actor,
    association: Association,
    caller: Caller | None,
) -> actions.Prepared:
    """Check the posted action in a read (raise Invalid); what only the form shows is not loaded."""
    # The association may have been read a moment ago, in another session: the write
    # notices if its rules changed since.
    if caller is None or actor.link is not None:
        caller = caller_in(session, association, actor.user, actor.link)
    if not can_see(association, actor.user, caller.membership):
        raise NotFound(_("No such association."))
    manager = actor.link is None and caller.may_edit_all
    offered = posted_choices(session, association, state)
    data = form_data(state, association, offered, manager=manager)
    # The key web/static/offline.js gives each sending of the form (sent again if kept offline).
    data["client_ref"] = (state.get("offline_ref") or "").strip()
    return actions.prepare_action(
        session,
        association=association,
        user=actor.user,
        membership=caller.membership,
        data=data,
        today=today_for(request),
        source=actor.source,
        lenient=True,
    )


def _save(
    request: Request, prepared: actions.Prepared, actor: Actor, association: Association
) -> Response:
    """Write a checked action (a short write: see instance/action_recording.py)."""
    created, _new = actions.record_once(services(request).db, prepared)
    notify_pending(request, [created])
    flash(request, _("Saved: {what}.").format(what=describe(created, prepared.category_name)))
    return redirect(actor.url(association, "list"))


def _changeable(
    session: Session, actor: Actor, action_id: int
) -> tuple[Action, Association, Caller]:
    action, association, caller = actions.find_action(
        session, action_id=action_id, user=actor.user, membership=actor.link
    )
    if actor.link is not None and not caller.owns(action):
        raise NotFound(_("No such action."))
    check_can_change(association, caller, action)
    return action, association, caller


def edit_page(request: Request, form: FormData | None, actor: Actor, action_id: int) -> Response:
    """Show or handle the form correcting one action."""
    found, day = services(request), today_for(request)
    with found.db.read() as session:
        action, association, caller = _changeable(session, actor, action_id)
        manager = actor.link is None and caller.may_edit_all
        choices = load_choices(session, association, manager=manager, action=action)
    state = action_state(association, action) if form is None else FormState.from_form(form)
    if form is not None:
        try:
            data = form_data(state, association, choices, manager=manager)
            with found.db.write() as session:
                row, _association, _caller = _changeable(session, actor, action_id)
                actions.update_action(
                    session,
                    action=row,
                    user=actor.user,
                    membership=actor.link,
                    data=data,
                    today=day,
                    lenient=True,
                )
            notify_pending(request, [row])
            flash(request, _("The action was changed."))
            return redirect(actor.url(association, "list"))
        except Invalid as error:
            state.fail(error)
    context = form_context(
        association,
        choices,
        state,
        heading=_("Change an action"),
        target=actor.url(association, "edit", action_id),
        cancel=actor.url(association, "list"),
        last=None,
        repeat_url="",
        manager=manager,
        action=action,
        status=status_label(action.status),
    )
    return render(request, "actions/form.html", context, status=422 if state.errors else 200)


def delete_page(request: Request, form: FormData | None, actor: Actor, action_id: int) -> Response:
    """Ask for confirmation, then delete one action."""
    found = services(request)
    with found.db.read() as session:
        action, association, _caller = _changeable(session, actor, action_id)
        category = session.get(Category, action.category_id)
    if form is not None:
        with found.db.write() as session:
            row, _association, _caller = _changeable(session, actor, action_id)
            actions.delete_action(session, action=row, user=actor.user, membership=actor.link)
        flash(request, _("The action was deleted."))
        return redirect(actor.url(association, "list"))
    context = {
        "association": association,
        "action": action,
        "category": category.name if category else "",
        "target": actor.url(association, "delete", action_id),
        "cancel": actor.url(association, "list"),
    }
    return render(request, "actions/delete.html", context)


def repeat_last(request: Request, actor: Actor, association: Association) -> Response:
    """Record the last action again, dated today."""
    found, day = services(request), today_for(request)
    try:
        with found.db.write() as session:
            fresh = session.get(Association, association.id)
            assert fresh is not None
            caller = caller_in(session, fresh, actor.user, actor.link)
            check_can_record(fresh, caller)
            last = last_action(session, caller.membership)
            if last is None:
                flash(request, _("You have no action to repeat yet."), "error")
                return redirect(actor.url(association, "new"))
            created = actions.create_action(
                session,
                association=fresh,
                user=actor.user,
                membership=actor.link,
                data=repeat_data(fresh, last, day),
                today=day,
                source=actor.source,
            )
            choices = Choices(
                [c for c in [session.get(Category, created.category_id)] if c], [], [], []
            )
    except Invalid as error:
        message = " ".join(error.errors.values())
        flash(
            request, _("Your last action could not be repeated: {why}").format(why=message), "error"
        )
        return redirect(actor.url(association, "new"))
    notify_pending(request, [created])
    flash(request, _("Saved again for today: {what}.").format(what=describe(created, choices)))
    return redirect(actor.url(association, "list"))


def repeat_data(association: Association, last: Action, day: date) -> dict[str, Any]:
    """The fields of a past action, dated today (only those the association uses)."""
    data: dict[str, Any] = {
        "date": day.isoformat(),
        "minutes": last.minutes,
        "category_id": last.category_id,
        "project_id": last.project_id,
        "level_id": last.level_id,
        "title": last.title,
        "description": last.description,
    }
    if association.uses_distance:
        data["distance_km"] = distance_text(last.distance_hundredths)
    if association.travel_time_policy != "none":
        data["travel_minutes"] = last.travel_minutes
    return data


def _user_actor(request: Request) -> Actor:
    return Actor(current_user(request))


def _association(request: Request) -> Association:
    with services(request).db.read() as session:
        association, _caller = association_for(
            session, request.path_params["slug"], current_user(request)
        )
    return association


@form_view
@on_loop
def new(request: Request, form: FormData | None) -> Response:
    """Record an action in an association (signed-in people; others go to the login page).

    A posted action is checked in the same read as the person and the association.
    """
    state = FormState.from_form(form) if form is not None else None
    prepared = None
    with services(request).db.read() as session:
        user = current_user(request, session)
        if user is None:
            return login_redirect(request)
        actor, slug = Actor(user), request.path_params["slug"]
        if state is None:
            association, caller = association_for(session, slug, user)
        else:
            association, caller = plain_place(session, slug, user)
            try:
                prepared = _prepare(session, request, state, actor, association, caller)
            except Invalid as error:
                state.fail(error)
                # The page is shown again: from the association as the ORM reads it.
                association, caller = association_for(session, slug, user)
    if prepared is not None:
        return _save(request, prepared, actor, association)
    return record_page(request, form, actor, association, caller, state)


@form_view
@login_required
def edit(request: Request, form: FormData | None) -> Response:
    """Correct an action (its volunteer, or a manager who may edit actions)."""
    return edit_page(request, form, _user_actor(request), request.path_params["action_id"])


@form_view
@login_required
def delete(request: Request, form: FormData | None) -> Response:
    """Delete an action, after confirmation."""
    return delete_page(request, form, _user_actor(request), request.path_params["action_id"])


@post_view
@login_required
def repeat(request: Request, form: FormData) -> Response:
    """Repeat my last action in this association, dated today."""
    return repeat_last(request, _user_actor(request), _association(request))


@login_required
def choose(request: Request) -> Response:
    """Record an action: straight to the form with one association, else choose first."""
    user = current_user(request)
    assert user is not None
    with services(request).db.read() as session:
        rows = [
            association
            for membership, association in memberships.memberships_of_user(session, user)
            if membership.status == "active" and not association.is_archived
        ]
    if len(rows) == 1:
        return redirect(f"/associations/{rows[0].slug}/actions/new")
    return render(request, "actions/choose.html", {"associations": rows})


routes = [
    Route("/actions/new", choose, methods=["GET"]),
    Route("/associations/{slug}/actions/new", new, methods=["GET", "POST"]),
    Route("/associations/{slug}/actions/repeat", repeat, methods=["POST"]),
    Route("/actions/{action_id:int}/edit", edit, methods=["GET", "POST"]),
    Route("/actions/{action_id:int}/delete", delete, methods=["GET", "POST"]),
]
