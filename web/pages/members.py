"""Pages: joining and leaving, the member list, roles, requests and invitations."""

from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from instance import accounts, associations, invitations, membership_mails, memberships
from instance.errors import Conflict, Forbidden, Invalid
from instance.i18n import _
from instance.mail import Mail
from instance.permissions import PERMISSIONS, has_permission, permission_flags
from schema.tables import Association, Membership, User
from web.auth import current_user, login_required
from web.flash import flash
from web.forms import FormState, checked, form_view, post_view
from web.pages.associations import (
    ROLE_LABELS,
    STATUS_LABELS,
    labels,
    load,
    page_number,
    redirect,
)
from web.services import services
from web.templating import render


def permission_labels() -> list[tuple[str, str]]:
    """The managers' permissions with their labels, in the current language."""
    return [
        ("view_actions", _("See every action of the association")),
        ("edit_actions", _("Validate, correct and delete actions")),
        ("manage_members", _("Manage members")),
        ("manage_settings", _("Change the association's settings")),
    ]


def send(request: Request, mails: list[Mail]) -> None:
    """Send mails once the transaction is committed."""
    services(request).mailer.send(*mails)


def members_url(association: Association) -> str:
    """The member list of an association."""
    return f"/associations/{association.slug}/members"


@post_view
@login_required
def join(request: Request, form: FormData) -> Response:
    """Join an open association, or ask to join a moderated one."""
    association, _membership, user = load(request)
    assert user is not None
    config = services(request).config
    mails: list[Mail] = []
    try:
        with services(request).db.write() as session:
            membership = memberships.join(
                session, association=association, user=user, message=str(form.get("message", ""))
            )
            if membership.status == "pending":
                mails = membership_mails.join_request_mails(
                    session,
                    association=association,
                    membership=membership,
                    requester=user,
                    base_url=config.base_url,
                )
    except (Conflict, Forbidden) as error:
        flash(request, error.message, "error")
        return redirect(f"/associations/{association.slug}")
    except Invalid as error:
        flash(request, "; ".join(error.errors.values()), "error")
        return redirect(f"/associations/{association.slug}")
    send(request, mails)
    if membership.status == "active":
        flash(request, _("Welcome! You are now a member of this association."))
    else:
        flash(request, _("Your request was sent. A manager will answer it."))
    return redirect(f"/associations/{association.slug}")


@form_view
@login_required
def leave(request: Request, form: FormData | None) -> Response:
    """Leave the association (or withdraw a request), after confirming."""
    association, membership, user = load(request)
    if membership is None or membership.status not in {"active", "pending"}:
        flash(request, _("You are not a member of this association."), "error")
        return redirect(f"/associations/{association.slug}")
    error = ""
    if form is not None:
        try:
            with services(request).db.write() as session:
                fresh = memberships.get_member(
                    session, association=association, member_id=membership.id or 0
                )
                memberships.leave(session, membership=fresh)
            flash(request, _("You left the association."))
            return redirect("/dashboard")
        except Conflict as refused:
            error = refused.message
    context = {"association": association, "membership": membership, "error": error}
    return render(request, "members/leave.html", context, status=409 if error else 200)


def _can_list_or_fail(user: User | None, membership: Membership | None) -> None:
    if not memberships.can_list_members(user, membership):
        raise Forbidden(_("You are not allowed to see the members of this association."))


def member_rows(rows: list[tuple[Membership, User | None]]) -> list[dict[str, object]]:
    """What the member table shows for each membership."""
    return [
        {
            "membership": membership,
            "name": memberships.member_name(membership, user),
            "username": user.username if user else "",
            "role": _(ROLE_LABELS.get(membership.role, membership.role)),
            "status": _(STATUS_LABELS.get(membership.status, membership.status)),
            "since": memberships.joined_at(membership) or membership.updated_at,
        }
        for membership, user in rows
    ]


@login_required
def member_list(request: Request) -> Response:
    """The members of an association, pending requests first."""
    association, membership, user = load(request)
    _can_list_or_fail(user, membership)
    status = request.query_params.get("status", "")
    role = request.query_params.get("role", "")
    status = status if status in STATUS_LABELS else ""
    role = role if role in ROLE_LABELS else ""
    page = page_number(request)
    with services(request).db.read() as session:
        rows, total = memberships.list_members(
            session, association=association, status=status, role=role, page=page
        )
        manages = memberships.can_manage_members(user, membership)
        pending_invitations = (
            invitations.list_pending(session, association=association) if manages else []
        )
    context = {
        "association": association,
        "members": member_rows(rows),
        "total": total,
        "page": page,
        "has_next": page * memberships.MEMBERS_PAGE_SIZE < total,
        "status": status,
        "role": role,
        "statuses": labels(STATUS_LABELS),
        "roles": labels(ROLE_LABELS),
        "manages": manages,
        "invitations": pending_invitations,
        "invite_form": FormState.from_form(None, role="volunteer"),
        "invite_roles": _role_choices(user, membership),
    }
    return render(request, "members/list.html", context)


def _role_choices(user: User | None, membership: Membership | None) -> list[tuple[str, str]]:
    choices = labels(ROLE_LABELS)
    if not associations.is_owner(user, membership):
        choices = [(value, text) for value, text in choices if value != "owner"]
    return choices


def _member_state(target: Membership) -> FormState:
    values = {"role": target.role}
    if target.role == "manager":
        values.update({name: "on" for name, on in permission_flags(target).items() if on})
    return FormState.from_form(None, **values)


@form_view
@login_required
def member_detail(request: Request, form: FormData | None) -> Response:
    """One member: change their role and permissions, or remove them."""
    association, mine, user = load(request)
    assert user is not None
    if not memberships.can_manage_members(user, mine):
        raise Forbidden(_("You are not allowed to manage the members of this association."))
    member_id = request.path_params["member_id"]
    with services(request).db.read() as session:
        target = memberships.get_member(session, association=association, member_id=member_id)
        target_user = session.get(User, target.user_id) if target.user_id else None
    state = _member_state(target)
    if form is not None:
        state = FormState.from_form(form)
        wanted = {name: checked(form, name) for name in PERMISSIONS}
        try:
            with services(request).db.write() as session:
                fresh = memberships.get_member(
                    session, association=association, member_id=member_id
                )
                memberships.set_role(
                    session, membership=fresh, role=state.get("role"), permissions=wanted, by=user
                )
            flash(request, _("The role was changed."))
            return redirect(members_url(association))
        except Invalid as error:
            state.fail(error)
        except (Conflict, Forbidden) as error:
            state.errors["__all__"] = error.message
    context = {
        "association": association,
        "target": target,
        "name": memberships.member_name(target, target_user),
        "status": _(STATUS_LABELS.get(target.status, target.status)),
        "form": state,
        "roles": _role_choices(user, mine),
        "permissions": [
            (name, text) for name, text in permission_labels() if has_permission(user, mine, name)
        ],
    }
    status = 422 if state.errors else 200
    return render(request, "members/detail.html", context, status=status)


def _decide(request: Request, accepted: bool) -> Response:
    association, _mine, user = load(request)
    assert user is not None
    config = services(request).config
    with services(request).db.write() as session:
        target = memberships.get_member(
            session, association=association, member_id=request.path_params["member_id"]
        )
        decide = memberships.accept if accepted else memberships.refuse
        decide(session, membership=target, by=user)
        person = session.get(User, target.user_id) if target.user_id else None
        mails = []
        if person is not None:
            mails.append(
                membership_mails.decision_mail(
                    association=association,
                    user=person,
                    accepted=accepted,
                    base_url=config.base_url,
                )
            )
    send(request, mails)
    name = memberships.member_name(target, person)
    if accepted:
        flash(request, _("{name} is now a member.").format(name=name))
    else:
        flash(request, _("The request of {name} was refused.").format(name=name))
    return redirect(members_url(association))


@post_view
@login_required
def accept(request: Request, form: FormData) -> Response:
    """Accept a request to join (the person gets an email)."""
    return _decide(request, True)


@post_view
@login_required
def refuse(request: Request, form: FormData) -> Response:
    """Refuse a request to join (the person gets an email)."""
    return _decide(request, False)


@post_view
@login_required
def remove(request: Request, form: FormData) -> Response:
    """Take a member out of the association; their past actions stay."""
    association, _mine, user = load(request)
    assert user is not None
    with services(request).db.write() as session:
        target = memberships.get_member(
            session, association=association, member_id=request.path_params["member_id"]
        )
        memberships.remove(session, membership=target, by=user)
    flash(request, _("The member was removed."))
    return redirect(members_url(association))


@post_view
@login_required
def invite(request: Request, form: FormData) -> Response:
    """Invite someone by email to join the association."""
    association, _mine, user = load(request)
    assert user is not None
    config = services(request).config
    try:
        with services(request).db.write() as session:
            invitation, token = invitations.create_invitation(
                session,
                association=association,
                by=user,
                email=str(form.get("email", "")),
                role=str(form.get("role", "volunteer")),
            )
            mail = membership_mails.invitation_mail(
                session,
                association=association,
                invitation=invitation,
                token=token,
                inviter=user,
                base_url=config.base_url,
                default_language=config.default_language,
            )
    except (Invalid, Conflict) as error:
        message = "; ".join(error.errors.values()) if isinstance(error, Invalid) else error.message
        flash(request, message, "error")
        return redirect(members_url(association))
    send(request, [mail])
    flash(request, _("The invitation was sent to {email}.").format(email=invitation.email))
    return redirect(members_url(association))


@post_view
@login_required
def cancel_invitation(request: Request, form: FormData) -> Response:
    """Withdraw an invitation not used yet."""
    association, _mine, user = load(request)
    assert user is not None
    with services(request).db.write() as session:
        invitation = invitations.get_invitation(
            session, association=association, invitation_id=request.path_params["invitation_id"]
        )
        invitations.cancel_invitation(session, invitation=invitation, by=user)
    flash(request, _("The invitation was cancelled."))
    return redirect(members_url(association))


@form_view
def invitation(request: Request, form: FormData | None) -> Response:
    """The page an invitation link opens: log in or sign up, then accept."""
    token = request.path_params["token"]
    user = current_user(request)
    with services(request).db.read() as session:
        found = invitations.find_by_token(session, token)
        association = session.get(Association, found.association_id)
        assert association is not None
    if form is not None and user is not None:
        try:
            with services(request).db.write() as session:
                invitations.accept_invitation(session, token=token, user=user)
        except Conflict as error:
            flash(request, error.message, "error")
            return redirect(f"/associations/{association.slug}")
        flash(request, _("Welcome! You are now a member of this association."))
        return redirect(f"/associations/{association.slug}")
    next_path = quote(f"/invitations/{token}", safe="")
    context = {
        "association": association,
        "invitation": found,
        "next": next_path,
        "email_differs": user is not None and user.email != accounts.normalise_email(found.email),
    }
    return render(request, "members/invitation.html", context)


routes = [
    Route("/associations/{slug}/join", join, methods=["POST"]),
    Route("/associations/{slug}/leave", leave, methods=["GET", "POST"]),
    Route("/associations/{slug}/members", member_list, methods=["GET"]),
    Route("/associations/{slug}/members/{member_id:int}", member_detail, methods=["GET", "POST"]),
    Route("/associations/{slug}/members/{member_id:int}/accept", accept, methods=["POST"]),
    Route("/associations/{slug}/members/{member_id:int}/refuse", refuse, methods=["POST"]),
    Route("/associations/{slug}/members/{member_id:int}/remove", remove, methods=["POST"]),
    Route("/associations/{slug}/invitations", invite, methods=["POST"]),
    Route(
        "/associations/{slug}/invitations/{invitation_id:int}/cancel",
        cancel_invitation,
        methods=["POST"],
    ),
    Route("/invitations/{token}", invitation, methods=["GET", "POST"]),
]
