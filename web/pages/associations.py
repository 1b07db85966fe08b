"""Pages: the directory, an association's page, creating one, its settings, the dashboard."""

from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from federation import notes
from federation.handles import local_handle
from instance import associations, logos, memberships
from instance.action_rules import Caller
from instance.errors import Forbidden, Invalid, NotFound
from instance.i18n import N_, _, ngettext
from instance.permissions import has_permission
from schema.tables import Association, Membership, User
from web.auth import current_user, login_required
from web.flash import flash
from web.forms import FormState, checked, form_view, post_view
from web.pages.action_support import manage_links
from web.pages.follow_requests import pending_requests
from web.services import services
from web.templating import render

JOIN_POLICY_LABELS = {
    "open": N_("Open: anyone can join"),
    "moderated": N_("Moderated: a manager accepts each request"),
    "invitation": N_("By invitation only"),
}
ROLE_LABELS = {"volunteer": N_("Volunteer"), "manager": N_("Manager"), "owner": N_("Owner")}
LATEST_NOTES = 3
STATUS_LABELS = {
    "active": N_("Member"),
    "pending": N_("Request waiting"),
    "refused": N_("Refused"),
    "left": N_("Left"),
}


def page_number(request: Request) -> int:
    """The ?page= number (1 when missing or wrong)."""
    raw = request.query_params.get("page", "1")
    return max(int(raw), 1) if raw.isdigit() and len(raw) < 7 else 1


def load(request: Request) -> tuple[Association, Membership | None, User | None]:
    """The association of the URL, the person's membership and the person; 404 if hidden."""
    user = current_user(request)
    with services(request).db.read() as session:
        association, membership = associations.get_visible(
            session, request.path_params["slug"], user
        )
    return association, membership, user


def redirect(url: str) -> RedirectResponse:
    """A 303 redirect (after a form)."""
    return RedirectResponse(url, status_code=303)


def labels(mapping: dict[str, str]) -> list[tuple[str, str]]:
    """Translated (value, label) pairs for a select."""
    return [(value, _(text)) for value, text in mapping.items()]


def directory(request: Request) -> Response:
    """Public list of associations, alphabetical, with a name search."""
    user = current_user(request)
    q = request.query_params.get("q", "")[:200]
    page = page_number(request)
    with services(request).db.read() as session:
        rows, total = associations.list_directory(session, user=user, q=q, page=page)
    per_page = associations.DIRECTORY_PAGE_SIZE
    context = {
        "associations": rows,
        "q": q,
        "page": page,
        "total": total,
        "has_next": page * per_page < total,
        "can_create": can_create(request, user),
    }
    return render(request, "associations/directory.html", context)


def can_create(request: Request, user: User | None) -> bool:
    """Whether the person may create an association on this instance."""
    if user is None:
        return False
    return user.is_admin or services(request).config.association_creation_open


def detail(request: Request) -> Response:
    """An association's page: what it is, its public notes, how to join and follow it."""
    association, membership, user = load(request)
    can_settings = has_permission(user, membership, "manage_settings")
    with services(request).db.read() as session:
        count = associations.members_count(session, association)
        latest = notes.recent_notes(session, association, limit=LATEST_NOTES)
        followers = notes.followers_count(session, association)
        waiting = len(pending_requests(session, association)) if can_settings else 0
    context = {
        "association": association,
        "membership": membership,
        "members_count": count,
        "can_list": memberships.can_list_members(user, membership),
        "can_settings": can_settings,
        "is_member": membership is not None and membership.status == "active",
        "is_pending": membership is not None and membership.status == "pending",
        "role_label": _(ROLE_LABELS[membership.role]) if membership else "",
        "notes": latest,
        "followers_count": followers,
        "handle": fediverse_handle(request, association),
        "manage_links": manager_links(association, user, membership, waiting),
    }
    return render(request, "associations/detail.html", context)


def fediverse_handle(request: Request, association: Association) -> str:
    """The association's address on the fediverse (slug@domain), or "" when it has none."""
    config = services(request).config
    hidden = association.is_hidden or association.is_suspended or association.is_archived
    if not config.federation.enabled or hidden:
        return ""
    return local_handle(config.domain, association.slug)


def manager_links(
    association: Association, user: User | None, membership: Membership | None, waiting: int
) -> list[tuple[str, str]]:
    """The management pages this person may open, from the association's page."""
    base = f"/associations/{association.slug}"
    links = manage_links(association, Caller(user, membership))
    if memberships.can_list_members(user, membership):
        links.insert(0, (f"{base}/members", _("Members")))
    if has_permission(user, membership, "manage_settings"):
        requests = _("Follow requests")
        if waiting:
            requests = ngettext(
                "Follow requests (%(num)d waiting)", "Follow requests (%(num)d waiting)", waiting
            ) % {"num": waiting}
        links += [
            (f"{base}/notes/new", _("Write a public note")),
            (f"{base}/follow-requests", requests),
            (f"{base}/settings", _("Settings")),
        ]
    return links


@form_view
@login_required
def create(request: Request, form: FormData | None) -> Response:
    """Create an association; its creator becomes its owner."""
    user = current_user(request)
    assert user is not None
    if not can_create(request, user):
        raise Forbidden(_("Creating associations is closed on this instance."))
    state = FormState.from_form(form, join_policy="open")
    if form is not None:
        try:
            with services(request).db.write() as session:
                association = associations.create_association(
                    session,
                    owner=user,
                    name=state.get("name"),
                    description=state.get("description"),
                    website=state.get("website"),
                    join_policy=state.get("join_policy"),
                    is_hidden=checked(form, "hidden"),
                    is_network=checked(form, "network"),
                )
            flash(request, _("The association was created. You are its owner."))
            return redirect(f"/associations/{association.slug}")
        except Invalid as error:
            state.fail(error)
    context = {"form": state, "policies": labels(JOIN_POLICY_LABELS)}
    return render(request, "associations/new.html", context, status=422 if state.errors else 200)


def _settings_state(association: Association) -> FormState:
    return FormState.from_form(
        None,
        name=association.name,
        description=association.description,
        website=association.website,
        join_policy=association.join_policy,
        hidden="on" if association.is_hidden else "",
        approve_follows="on" if association.approve_follows else "",
        monthly_note="on" if association.monthly_note else "",
    )


def _uploaded_logo(form: FormData) -> bytes | None:
    upload = form.get("logo")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    return upload.file.read(logos.MAX_BYTES + 1)


def _save_settings(request: Request, association: Association, form: FormData) -> None:
    user = current_user(request)
    assert user is not None
    data_dir = services(request).config.data_dir
    data = _uploaded_logo(form)
    new_logo = logos.save_logo(data_dir, data) if data is not None else None
    old_logo = ""
    try:
        with services(request).db.write() as session:
            fresh = associations.get_by_slug(session, association.slug)
            associations.update_settings(
                session,
                association=fresh,
                by=user,
                name=str(form.get("name", "")),
                description=str(form.get("description", "")),
                website=str(form.get("website", "")),
                join_policy=str(form.get("join_policy", "")),
                is_hidden=checked(form, "hidden"),
                approve_follows=checked(form, "approve_follows"),
                monthly_note=checked(form, "monthly_note"),
            )
            if new_logo is not None or checked(form, "remove_logo"):
                old_logo = associations.set_logo(
                    session, association=fresh, by=user, logo=new_logo or ""
                )
    except BaseException:
        if new_logo:
            logos.delete_logo(data_dir, new_logo)
        raise
    logos.delete_logo(data_dir, old_logo)


@form_view
@login_required
def settings(request: Request, form: FormData | None) -> Response:
    """Change the association's name, description, logo and rules."""
    association, membership, user = load(request)
    associations.require_permission(user, membership, "manage_settings")
    state = _settings_state(association)
    if form is not None:
        state = FormState.from_form(form)
        try:
            _save_settings(request, association, form)
            flash(request, _("The settings were saved."))
            return redirect(f"/associations/{association.slug}/settings")
        except Invalid as error:
            state.fail(error)
    context: dict[str, Any] = {
        "association": association,
        "form": state,
        "policies": labels(JOIN_POLICY_LABELS),
        "is_owner": associations.is_owner(user, membership),
    }
    return render(
        request, "associations/settings.html", context, status=422 if state.errors else 200
    )


@post_view
@login_required
def archive(request: Request, form: FormData) -> Response:
    """Archive the association (no more joins), or bring it back; owners only."""
    association, _membership, user = load(request)
    assert user is not None
    wanted = form.get("archived")
    archived = not association.is_archived if wanted not in {"0", "1"} else wanted == "1"
    with services(request).db.write() as session:
        fresh = associations.get_by_slug(session, association.slug)
        associations.set_archived(session, association=fresh, by=user, archived=archived)
    flash(
        request,
        _("The association is archived.") if archived else _("The association is active again."),
    )
    return redirect(f"/associations/{association.slug}")


@form_view
@login_required
def delete(request: Request, form: FormData | None) -> Response:
    """Delete the association for good, after typing its name; owners only."""
    association, membership, user = load(request)
    assert user is not None
    associations.require_owner(user, membership)
    state = FormState.from_form(form)
    if form is not None:
        try:
            with services(request).db.write() as session:
                fresh = associations.get_by_slug(session, association.slug)
                logo = associations.delete_association(
                    session, association=fresh, by=user, confirmation=state.get("confirmation")
                )
            logos.delete_logo(services(request).config.data_dir, logo)
            flash(request, _("The association was deleted."))
            return redirect("/dashboard")
        except Invalid as error:
            state.fail(error)
    context = {"association": association, "form": state}
    return render(request, "associations/delete.html", context, status=422 if state.errors else 200)


@login_required
def dashboard(request: Request) -> Response:
    """My associations: one card per membership, with waiting requests for managers."""
    user = current_user(request)
    assert user is not None
    cards = []
    with services(request).db.read() as session:
        for membership, association in memberships.memberships_of_user(session, user):
            manages = memberships.can_manage_members(user, membership)
            pending = memberships.pending_count(session, association) if manages else 0
            cards.append(
                {
                    "association": association,
                    "membership": membership,
                    "role": _(ROLE_LABELS[membership.role]),
                    "status": _(STATUS_LABELS[membership.status]),
                    "can_list": memberships.can_list_members(user, membership),
                    "manages": manages,
                    "pending": pending,
                }
            )
    context = {"cards": cards, "can_create": can_create(request, user)}
    return render(request, "associations/dashboard.html", context)


def logo(request: Request) -> Response:
    """Serve a stored logo with its image type."""
    name = request.path_params["name"]
    path = logos.logo_path(services(request).config.data_dir, name)
    if path is None:
        raise NotFound(_("No such image."))
    return FileResponse(
        path,
        media_type=logos.content_type(name),
        headers={"Cache-Control": "public, max-age=86400"},
    )


routes = [
    Route("/associations", directory, methods=["GET"]),
    Route("/associations/new", create, methods=["GET", "POST"]),
    Route("/associations/{slug}", detail, methods=["GET"]),
    Route("/associations/{slug}/settings", settings, methods=["GET", "POST"]),
    Route("/associations/{slug}/archive", archive, methods=["POST"]),
    Route("/associations/{slug}/delete", delete, methods=["GET", "POST"]),
    Route("/dashboard", dashboard, methods=["GET"]),
    Route("/media/logos/{name}", logo, methods=["GET"]),
]
