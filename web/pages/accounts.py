"""Pages: sign-up, email confirmation, login, logout, password reset, my account."""

import json
from typing import Any
from urllib.parse import quote

from starlette.background import BackgroundTask
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from instance import account_data, account_mails, account_tokens, accounts, reminders, site
from instance.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, RateLimited
from instance.i18n import LANGUAGE_NAMES, _, current_language
from instance.mail import Mail
from schema.tables import User
from web import auth
from web.auth import current_user, login_required
from web.flash import flash
from web.forms import FormState, form_view, post_view
from web.pages.home import safe_next
from web.services import services
from web.templating import render

DEFAULT_NEXT = "/dashboard"


def redirect(url: str) -> RedirectResponse:
    """A 303 redirect (after a form)."""
    return RedirectResponse(url, status_code=303)


def client_address(request: Request) -> str:
    """The address the request came from (the limiter's second key)."""
    return request.client.host if request.client else "unknown"


def mail_settings(request: Request) -> dict[str, str]:
    """What account mails need: the base URL and the site's name as the operator set it."""
    found = services(request)
    with found.db.read() as session:
        name = site.get_setting(session, "site_name", found.config.site_name)
    return {"base_url": found.config.base_url, "site_name": name}


def send_later(response: Response, request: Request, *mails: Mail) -> Response:
    """Send the mails once the answer is out (same timing whether or not there are any)."""
    response.background = BackgroundTask(services(request).mailer.send, *mails)
    return response


def language_options(request: Request) -> list[tuple[str, str]]:
    """The languages offered, for a select."""
    return [(code, LANGUAGE_NAMES[code]) for code in services(request).config.languages]


def start_session(request: Request, user: User) -> None:
    """Log the person in and switch to their language."""
    auth.login(request, user)
    request.session["language"] = user.language


def _wanted_next(request: Request, form: FormData | None) -> str:
    raw = form.get("next") if form is not None else None
    if not isinstance(raw, str) or not raw:
        raw = request.query_params.get("next", "")
    return safe_next(raw, DEFAULT_NEXT)


# Sign-up and confirmation ------------------------------------------------------------


def _invitation(request: Request, token: str) -> tuple[str, str]:
    """The invited address and a notice ("" when sign-up is possible)."""
    mode = services(request).config.registration
    if mode == "closed":
        return "", _("Sign-up is closed on this instance.")
    if mode == "open":
        return "", ""
    if not token:
        return "", _("Sign-up is by invitation only on this instance.")
    try:
        with services(request).db.read() as session:
            return accounts.find_instance_invitation(session, token).email, ""
    except NotFound as error:
        return "", error.message


def _create_account(request: Request, state: FormState) -> tuple[User, str]:
    found = services(request)
    with found.db.write() as session:
        user = accounts.sign_up(
            session,
            registration=found.config.registration,
            username=state.get("username"),
            email=state.get("email"),
            password=state.get("password"),
            confirmation=state.get("confirmation"),
            display_name=state.get("display_name"),
            language=state.get("language"),
            invitation_token=state.get("invitation"),
        )
        token = ""
        if not user.email_confirmed:
            token = account_tokens.issue_email_token(session, user=user, purpose="confirm")
    return user, token


@form_view
def signup(request: Request, form: FormData | None) -> Response:
    """Create an account (open, by invitation, or closed, as the instance chooses)."""
    next_path = _wanted_next(request, form)
    if form is None and current_user(request) is not None:
        return redirect(next_path)
    token = request.query_params.get("invitation", "")
    state = FormState.from_form(
        form, language=current_language.get(), invitation=token, next=next_path
    )
    invited, notice = _invitation(request, state.get("invitation"))
    if invited:
        state.values["email"] = invited
    status = 403 if notice and form is not None else 200
    if form is not None and not notice:
        try:
            user, secret = _create_account(request, state)
        except Invalid as error:
            state.fail(error)
            status = 422
        except (Forbidden, NotFound) as error:
            notice, status = error.message, 403
        else:
            return _signed_up(request, user, secret, next_path)
    context = {"form": state, "notice": notice, "invited": invited}
    context["languages_options"] = language_options(request)
    return render(request, "accounts/signup.html", context, status=status)


def _signed_up(request: Request, user: User, token: str, next_path: str) -> Response:
    found = services(request)
    if not token:
        start_session(request, user)
        flash(request, _("Welcome! Your account is ready."))
        return redirect(next_path)
    mail = account_mails.confirmation_mail(
        user, token=token, next_path=next_path, **mail_settings(request)
    )
    if found.mailer.send(mail):
        flash(request, _("We sent an email to {email}.").format(email=user.email))
    else:
        flash(request, _("Your account is created, but the email could not be sent."), "error")
    return redirect("/signup/sent")


def signup_sent(request: Request) -> Response:
    """After sign-up: check your mailbox."""
    return render(request, "accounts/sent.html", {"purpose": "confirm"})


def confirm(request: Request) -> Response:
    """Follow the link of the confirmation mail."""
    next_path = safe_next(request.query_params.get("next"), DEFAULT_NEXT)
    try:
        with services(request).db.write() as session:
            user = account_tokens.confirm_email(session, token=request.path_params["token"])
    except NotFound as error:
        context = {"message": error.message, "again": "/confirm/resend"}
        return render(request, "accounts/link_invalid.html", context, status=404)
    me = current_user(request)
    if me is not None and me.id == user.id:
        flash(request, _("Your email address is confirmed."))
        return redirect(next_path)
    flash(request, _("Your email address is confirmed. You can log in now."))
    if next_path == DEFAULT_NEXT:
        return redirect("/login")
    return redirect("/login?next=" + quote(next_path, safe="/"))


def _mail_request(request: Request, state: FormState, purpose: str) -> list[Mail]:
    """Mails to send for a "send me a link" form; the same for known and unknown addresses."""
    found = services(request)
    email = accounts.check_email(state.get("email"))
    key = f"mail:{purpose}:{email}"
    if found.login_limiter.blocked(key):
        return []
    found.login_limiter.hit(key)
    with found.db.write() as session:
        link = account_tokens.request_link(session, email=email, purpose=purpose)
    if link is None:
        return []
    user, token = link
    make = account_mails.confirmation_mail if purpose == "confirm" else account_mails.reset_mail
    return [make(user, token=token, **mail_settings(request))]


def _link_form(request: Request, form: FormData | None, purpose: str) -> Response:
    template = "accounts/resend.html" if purpose == "confirm" else "accounts/reset_request.html"
    state = FormState.from_form(form)
    if form is not None:
        try:
            mails = _mail_request(request, state, purpose)
        except Invalid as error:
            state.fail(error)
        else:
            answer = render(request, "accounts/sent.html", {"purpose": purpose})
            return send_later(answer, request, *mails)
    return render(request, template, {"form": state}, status=422 if state.errors else 200)


@form_view
def resend(request: Request, form: FormData | None) -> Response:
    """Ask for a new confirmation link (never says whether the address is known)."""
    return _link_form(request, form, "confirm")


# Login and logout ----------------------------------------------------------------------


def _login_failed(request: Request, state: FormState, error: DomainError) -> Response:
    state.errors["__all__"] = error.message
    status = 422 if isinstance(error, accounts.BadCredentials) else error.status
    context = {"form": state, "not_confirmed": isinstance(error, accounts.NotConfirmed)}
    return render(request, "accounts/login.html", context, status=status)


@form_view
def login(request: Request, form: FormData | None) -> Response:
    """Log in with a user name or an email address, then go where the person was going."""
    next_path = _wanted_next(request, form)
    state = FormState.from_form(form, next=next_path)
    if form is None:
        if current_user(request) is not None:
            return redirect(next_path)
        return render(request, "accounts/login.html", {"form": state, "not_confirmed": False})
    found = services(request)
    password = state.get("password")
    try:
        with found.db.read() as session:
            user = accounts.check_credentials(
                session,
                login=state.get("login"),
                password=password,
                limiter=found.login_limiter,
                address=client_address(request),
            )
    except (accounts.BadCredentials, RateLimited, Forbidden) as error:
        return _login_failed(request, state, error)
    with found.db.write() as session:
        user = accounts.record_login(session, user=user, password=password)
    start_session(request, user)
    return redirect(next_path)


@post_view
def logout(request: Request, form: FormData) -> Response:
    """End the session."""
    auth.logout(request)
    return redirect("/")


# Password reset ------------------------------------------------------------------------


@form_view
def reset_request(request: Request, form: FormData | None) -> Response:
    """Ask for a link to choose a new password (same answer for every address)."""
    return _link_form(request, form, "reset")


def _invalid_link(request: Request, error: NotFound) -> Response:
    context = {"message": error.message, "again": "/password/reset"}
    return render(request, "accounts/link_invalid.html", context, status=404)


@form_view
def reset(request: Request, form: FormData | None) -> Response:
    """Choose a new password through the link of the mail."""
    found = services(request)
    token = request.path_params["token"]
    state = FormState.from_form(form)
    try:
        with found.db.read() as session:
            account_tokens.peek_email_token(session, token=token, purpose="reset")
        if form is not None:
            with found.db.write() as session:
                user = account_tokens.reset_password(
                    session,
                    token=token,
                    password=state.get("password"),
                    confirmation=state.get("confirmation"),
                )
            return _password_reset(request, user)
    except NotFound as error:
        return _invalid_link(request, error)
    except Invalid as error:
        state.fail(error)
    return render(
        request, "accounts/reset.html", {"form": state}, status=422 if state.errors else 200
    )


def _password_reset(request: Request, user: User) -> Response:
    found = services(request)
    for key in accounts.login_keys("", client_address(request), user):
        found.login_limiter.reset(key)
    mail = account_mails.password_changed_mail(user, **mail_settings(request))
    if user.is_suspended:
        flash(request, _("Your new password is saved."))
        return send_later(redirect("/login"), request, mail)
    start_session(request, user)
    flash(request, _("Your new password is saved. You are logged in."))
    return send_later(redirect(DEFAULT_NEXT), request, mail)


# My account ----------------------------------------------------------------------------


def _me(request: Request) -> User:
    user = current_user(request)
    assert user is not None
    return user


@form_view
@login_required
def account(request: Request, form: FormData | None) -> Response:
    """My account: profile, and links to password, export and deletion."""
    user = _me(request)
    state = FormState.from_form(
        form, display_name=user.display_name, language=user.language, reminders=user.reminders
    )
    if form is not None:
        if state.get("language") not in services(request).config.languages:
            state.errors["language"] = _("Choose a language from the list.")
        else:
            try:
                with services(request).db.write() as session:
                    user = accounts.update_profile(
                        session,
                        user=user,
                        display_name=state.get("display_name"),
                        language=state.get("language"),
                        reminders=state.get("reminders") or "",
                    )
            except Invalid as error:
                state.fail(error)
            else:
                request.session["language"] = user.language
                flash(request, _("Your profile is saved."))
                return redirect("/account")
    context = {"form": state, "me": user, "languages_options": language_options(request)}
    context["reminder_options"] = [(value, _(label)) for value, label in reminders.CHOICES.items()]
    context["domain"] = services(request).config.domain
    return render(request, "accounts/account.html", context, status=422 if state.errors else 200)


@form_view
@login_required
def password(request: Request, form: FormData | None) -> Response:
    """Change my password; my other sessions and API tokens end."""
    found = services(request)
    state = FormState.from_form(form)
    if form is not None:
        try:
            with found.db.write() as session:
                user = accounts.change_password(
                    session,
                    user=_me(request),
                    current=state.get("current"),
                    password=state.get("password"),
                    confirmation=state.get("confirmation"),
                    limiter=found.login_limiter,
                )
        except Invalid as error:
            state.fail(error)
        except RateLimited as error:
            state.errors["__all__"] = error.message
            return render(request, "accounts/password.html", {"form": state}, status=429)
        else:
            start_session(request, user)
            flash(request, _("Your new password is saved. Your other sessions are closed."))
            mail = account_mails.password_changed_mail(user, **mail_settings(request))
            return send_later(redirect("/account"), request, mail)
    return render(
        request, "accounts/password.html", {"form": state}, status=422 if state.errors else 200
    )


def export_response(data: dict[str, Any], username: str) -> Response:
    """The export as a JSON file to download."""
    body = json.dumps(data, ensure_ascii=False, indent=2)
    headers = {"Content-Disposition": f'attachment; filename="benefed-{username}.json"'}
    return Response(body, media_type="application/json", headers=headers)


@login_required
def export(request: Request) -> Response:
    """Download everything the instance keeps about me."""
    user = _me(request)
    with services(request).db.read() as session:
        data = account_data.export_user_data(session, user)
    return export_response(data, user.username)


@form_view
@login_required
def delete(request: Request, form: FormData | None) -> Response:
    """Delete my account, after typing my password."""
    found = services(request)
    user = _me(request)
    state = FormState.from_form(form)
    status = 200
    if form is not None:
        try:
            with found.db.write() as session:
                archived = account_data.delete_account(
                    session, user=user, password=state.get("password"), limiter=found.login_limiter
                )
        except Invalid as error:
            state.fail(error)
            status = 422
        except (Conflict, RateLimited) as error:
            state.errors["__all__"] = error.message
            status = error.status
        else:
            return _deleted(request, archived)
    with found.db.read() as session:
        plan = account_data.deletion_plan(session, user)
    context = {"form": state, "plan": plan}
    return render(request, "accounts/delete.html", context, status=status)


def _deleted(request: Request, archived: list[Any]) -> Response:
    auth.logout(request)
    flash(request, _("Your account is deleted. Goodbye!"))
    for association in archived:
        flash(request, _("{name} is archived.").format(name=association.name))
    return redirect("/")


routes = [
    Route("/signup", signup, methods=["GET", "POST"]),
    Route("/signup/sent", signup_sent, methods=["GET"]),
    Route("/confirm/resend", resend, methods=["GET", "POST"]),
    Route("/confirm/{token}", confirm, methods=["GET"]),
    Route("/login", login, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/password/reset", reset_request, methods=["GET", "POST"]),
    Route("/password/reset/{token}", reset, methods=["GET", "POST"]),
    Route("/account", account, methods=["GET", "POST"]),
    Route("/account/password", password, methods=["GET", "POST"]),
    Route("/account/export", export, methods=["GET"]),
    Route("/account/delete", delete, methods=["GET", "POST"]),
]
