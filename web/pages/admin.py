"""Pages: instance administration (statistics, people, associations, site content)."""

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from instance import admin, site
from instance.errors import Forbidden, Invalid
from instance.i18n import _, use_language
from instance.mail import Mail
from schema.tables import User
from schema.tables._base import utcnow
from schema.tables.site import SITE_PAGES
from web.auth import current_user, login_redirect
from web.flash import flash
from web.forms import FormState, form_view, post_view
from web.services import services
from web.templating import render

LOCAL_FORMAT = "%Y-%m-%d %H:%M"
INPUT_FORMAT = "%Y-%m-%dT%H:%M"


def admin_required(view: Callable[..., Response]) -> Callable[..., Response]:
    """Decorate a page: anonymous visitors log in first, other people get 403."""

    @wraps(view)
    def wrapper(request: Request, *args: Any, **kwargs: Any) -> Response:
        user = current_user(request)
        if user is None:
            return login_redirect(request)
        if not user.is_admin:
            raise Forbidden(_("This page is for the administrators of this instance."))
        return view(request, *args, **kwargs)

    return wrapper


def _admin(request: Request) -> User:
    user = current_user(request)
    assert user is not None and user.is_admin
    return user


def _page_param(value: str | None) -> int:
    return int(value) if value and value.isdigit() and len(value) < 7 else 1


def _list_state(request: Request, form: FormData | None = None) -> tuple[str, int]:
    """The search and page asked for, from the query string or the button's form."""
    source: Any = form if form is not None else request.query_params
    search = source.get("q", "")
    search = search if isinstance(search, str) else ""
    page = source.get("page", "")
    return search.strip()[: admin.SEARCH_MAX], _page_param(page if isinstance(page, str) else "")


def _back(path: str, search: str, page: int) -> RedirectResponse:
    query: dict[str, str | int] = {"q": search} if search else {}
    if page > 1:
        query["page"] = page
    return RedirectResponse(path + (f"?{urlencode(query)}" if query else ""), status_code=303)


@admin_required
def dashboard(request: Request) -> Response:
    """Instance statistics and links to the other admin pages."""
    with services(request).db.read() as session:
        stats = admin.statistics(session)
    return render(request, "admin/index.html", {"stats": stats})


def _users_page(
    request: Request, search: str, page: int, error: str = "", status: int = 200
) -> Response:
    with services(request).db.read() as session:
        found = admin.search_users(session, search=search, page=page)
    context = {"listing": found, "search": search, "error": error}
    return render(request, "admin/users.html", context, status=status)


@admin_required
def users(request: Request) -> Response:
    """Accounts, with a search on user name, email and display name."""
    search, page = _list_state(request)
    return _users_page(request, search, page)


def _user_action(
    request: Request, form: FormData, change: Callable[[Any, int], User], message: str
) -> Response:
    search, page = _list_state(request, form)
    try:
        with services(request).db.write() as session:
            user = change(session, request.path_params["user_id"])
    except Invalid as error:
        text = error.errors.get("__all__", error.message)
        return _users_page(request, search, page, error=text, status=422)
    flash(request, message % {"name": user.username})
    if user.id == _admin(request).id and not user.is_admin:
        return RedirectResponse("/", status_code=303)
    return _back("/admin/users", search, page)


@post_view
@admin_required
def suspend_user(request: Request, form: FormData) -> Response:
    """Suspend an account: its sessions and API tokens stop working at once."""
    me = _admin(request)
    return _user_action(
        request,
        form,
        lambda s, uid: admin.set_user_suspended(s, admin=me, user_id=uid, suspended=True),
        _("The account %(name)s is suspended."),
    )


@post_view
@admin_required
def unsuspend_user(request: Request, form: FormData) -> Response:
    """Lift an account's suspension."""
    me = _admin(request)
    return _user_action(
        request,
        form,
        lambda s, uid: admin.set_user_suspended(s, admin=me, user_id=uid, suspended=False),
        _("The account %(name)s is active again."),
    )


@post_view
@admin_required
def make_admin(request: Request, form: FormData) -> Response:
    """Make an account an administrator of the instance."""
    return _user_action(
        request,
        form,
        lambda s, uid: admin.set_user_admin(s, user_id=uid, admin=True),
        _("%(name)s is now an administrator."),
    )


@post_view
@admin_required
def unmake_admin(request: Request, form: FormData) -> Response:
    """Take the administrator role back (never from the last administrator)."""
    return _user_action(
        request,
        form,
        lambda s, uid: admin.set_user_admin(s, user_id=uid, admin=False),
        _("%(name)s is no longer an administrator."),
    )


@admin_required
def associations(request: Request) -> Response:
    """Every association, hidden, archived and suspended ones too."""
    search, page = _list_state(request)
    with services(request).db.read() as session:
        found = admin.search_associations(session, search=search, page=page)
    return render(request, "admin/associations.html", {"listing": found, "search": search})


def _association_action(request: Request, form: FormData, suspended: bool) -> Response:
    search, page = _list_state(request, form)
    with services(request).db.write() as session:
        association = admin.set_association_suspended(
            session, association_id=request.path_params["association_id"], suspended=suspended
        )
    if suspended:
        flash(request, _("The association %(name)s is suspended.") % {"name": association.name})
    else:
        flash(request, _("The association %(name)s is active again.") % {"name": association.name})
    return _back("/admin/associations", search, page)


@post_view
@admin_required
def suspend_association(request: Request, form: FormData) -> Response:
    """Suspend an association: it leaves the directory."""
    return _association_action(request, form, True)


@post_view
@admin_required
def unsuspend_association(request: Request, form: FormData) -> Response:
    """Lift an association's suspension."""
    return _association_action(request, form, False)


@form_view
@admin_required
def settings(request: Request, form: FormData | None) -> Response:
    """Site name and the texts of the legal pages."""
    found = services(request)
    with found.db.read() as session:
        current = {key: site.get_setting(session, key) for key in site.SETTING_KEYS}
    current["site_name"] = current["site_name"] or found.config.site_name
    state = FormState.from_form(form, **current)
    if form is not None:
        values = {key: state.get(key) for key in site.SETTING_KEYS}
        try:
            with found.db.write() as session:
                site.update_settings(session, values=values)
        except Invalid as error:
            state.fail(error)
        else:
            flash(request, _("The settings are saved."))
            return RedirectResponse("/admin/settings", status_code=303)
    status = 422 if state.errors else 200
    context = {"form": state, "pages": SITE_PAGES}
    return render(request, "admin/settings.html", context, status=status)


def _local_time(request: Request) -> Callable[[datetime | None], str]:
    zone = services(request).config.zone

    def local(value: datetime | None) -> str:
        return value.astimezone(zone).strftime(LOCAL_FORMAT) if value else ""

    return local


def _create_announcement(request: Request, state: FormState) -> None:
    zone = services(request).config.zone
    errors: dict[str, str] = {}
    times: dict[str, datetime | None] = {}
    for name in ("starts_at", "ends_at"):
        try:
            times[name] = site.parse_local_datetime(state.get(name), zone, field=name)
        except Invalid as error:
            errors.update(error.errors)
    if not errors and times["starts_at"] is None:
        errors["starts_at"] = _("Enter when the announcement starts.")
    if errors:
        raise Invalid(errors)
    with services(request).db.write() as session:
        site.create_announcement(
            session,
            author=_admin(request),
            title=state.get("title"),
            body=state.get("body"),
            audience=state.get("audience"),
            starts_at=times["starts_at"],
            ends_at=times["ends_at"],
        )


@form_view
@admin_required
def announcements(request: Request, form: FormData | None) -> Response:
    """Publish announcements shown at the top of every page, and list them."""
    local = _local_time(request)
    state = FormState.from_form(
        form,
        audience="all",
        starts_at=utcnow().astimezone(services(request).config.zone).strftime(INPUT_FORMAT),
    )
    if form is not None:
        try:
            _create_announcement(request, state)
        except Invalid as error:
            state.fail(error)
        else:
            flash(request, _("The announcement is published."))
            return RedirectResponse("/admin/announcements", status_code=303)
    with services(request).db.read() as session:
        listing = site.list_announcements(session)
    context = {"form": state, "announcements_list": listing, "local": local}
    return render(request, "admin/announcements.html", context, status=422 if state.errors else 200)


@post_view
@admin_required
def delete_announcement(request: Request, form: FormData) -> Response:
    """Remove an announcement."""
    with services(request).db.write() as session:
        site.delete_announcement(session, announcement_id=request.path_params["announcement_id"])
    flash(request, _("The announcement is deleted."))
    return RedirectResponse("/admin/announcements", status_code=303)


def _invitation_mail(request: Request, email: str, token: str) -> Mail:
    found = services(request)
    with found.db.read() as session:
        site_name = site.get_setting(session, "site_name", found.config.site_name)
    link = f"{found.config.base_url}/signup?invitation={token}"
    with use_language(found.config.default_language):
        subject = _("You are invited to join %(site)s") % {"site": site_name}
        body = _(
            "Hello,\n\nYou are invited to create an account on %(site)s, where associations "
            "record and value volunteer work.\n\nTo create your account, open this link "
            "within %(days)s days:\n%(link)s\n\nIf you did not expect this email, you can "
            "ignore it."
        ) % {"site": site_name, "days": admin.INVITATION_DAYS, "link": link}
    return Mail(to=email, subject=subject, body=body)


def _send_invitation(request: Request, state: FormState) -> None:
    found = services(request)
    if found.config.registration != "invitation":
        raise Invalid({"__all__": _("Invitations are used only when sign-up is by invitation.")})
    with found.db.write() as session:
        invitation, token = admin.invite_to_instance(
            session, admin=_admin(request), email=state.get("email")
        )
    if found.mailer.send(_invitation_mail(request, invitation.email, token)):
        flash(request, _("The invitation is sent to %(email)s.") % {"email": invitation.email})
    else:
        flash(request, _("The invitation is saved, but the email could not be sent."), "error")


@form_view
@admin_required
def invitations(request: Request, form: FormData | None) -> Response:
    """Invite people by email when sign-up is by invitation, and list pending invitations."""
    state = FormState.from_form(form, email="")
    if form is not None:
        try:
            _send_invitation(request, state)
        except Invalid as error:
            state.fail(error)
        else:
            return RedirectResponse("/admin/invitations", status_code=303)
    found = services(request)
    with found.db.read() as session:
        pending = admin.pending_invitations(session)
    context = {
        "form": state,
        "pending": pending,
        "local": _local_time(request),
        "registration": found.config.registration,
    }
    return render(request, "admin/invitations.html", context, status=422 if state.errors else 200)


@post_view
@admin_required
def cancel_invitation(request: Request, form: FormData) -> Response:
    """Cancel an invitation not used yet."""
    with services(request).db.write() as session:
        admin.cancel_invitation(session, invitation_id=request.path_params["invitation_id"])
    flash(request, _("The invitation is cancelled."))
    return RedirectResponse("/admin/invitations", status_code=303)


routes: list[BaseRoute] = [
    Route("/admin", dashboard, methods=["GET"]),
    Route("/admin/users", users, methods=["GET"]),
    Route("/admin/users/{user_id:int}/suspend", suspend_user, methods=["POST"]),
    Route("/admin/users/{user_id:int}/unsuspend", unsuspend_user, methods=["POST"]),
    Route("/admin/users/{user_id:int}/admin", make_admin, methods=["POST"]),
    Route("/admin/users/{user_id:int}/unadmin", unmake_admin, methods=["POST"]),
    Route("/admin/associations", associations, methods=["GET"]),
    Route(
        "/admin/associations/{association_id:int}/suspend", suspend_association, methods=["POST"]
    ),
    Route(
        "/admin/associations/{association_id:int}/unsuspend",
        unsuspend_association,
        methods=["POST"],
    ),
    Route("/admin/settings", settings, methods=["GET", "POST"]),
    Route("/admin/announcements", announcements, methods=["GET", "POST"]),
    Route(
        "/admin/announcements/{announcement_id:int}/delete", delete_announcement, methods=["POST"]
    ),
    Route("/admin/invitations", invitations, methods=["GET", "POST"]),
    Route("/admin/invitations/{invitation_id:int}/cancel", cancel_invitation, methods=["POST"]),
]
