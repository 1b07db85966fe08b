"""Accounts: creating people, finding them, checking their passwords, their profile."""

import re
import unicodedata

from sqlalchemy import bindparam
from sqlmodel import Session, col, delete, func, select

from instance import passwords
from instance.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, RateLimited
from instance.i18n import LANGUAGES, _
from instance.names import check_name, claim_name
from instance.ratelimit import RateLimiter
from instance.reminders import check_reminders
from instance.secrets import token_hash
from schema.driver_statements import DriverStatement, labelled, plain_object
from schema.tables import ApiToken, Handle, Invitation, User
from schema.tables._base import utcnow

EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$|^[^@\s]{1,64}@localhost$")
DISPLAY_NAME_MAX = 100
LOGIN_MAX = 254
REGISTRATION_MODES = ("open", "invitation", "closed")


class BadCredentials(DomainError):
    """The login name or the password is wrong (never says which)."""

    status = 401


class NotConfirmed(Forbidden):
    """The password is right but the email address was never confirmed."""


class Suspended(Forbidden):
    """The password is right but an administrator suspended the account."""


def normalise_email(email: str) -> str:
    """Trimmed, lower-case email address."""
    return email.strip().lower()


def check_email(email: str, *, field: str = "email") -> str:
    """Return the normalised address or raise Invalid."""
    email = normalise_email(email)
    if not email:
        raise Invalid({field: _("Enter an email address.")})
    if len(email) > 254 or not EMAIL_PATTERN.match(email):
        raise Invalid({field: _("Enter a valid email address, like name@example.org.")})
    return email


def check_new_password(password: str, *, field: str = "password") -> str:
    """Return the password if long enough (and not absurdly long), else raise Invalid."""
    if len(password) < passwords.MIN_LENGTH:
        raise Invalid({field: _("Use at least 8 characters.")})
    if len(password) > passwords.MAX_LENGTH:
        raise Invalid({field: _("This password is too long.")})
    return password


def check_confirmation(password: str, confirmation: str, *, field: str = "confirmation") -> None:
    """Raise Invalid when the password typed twice differs."""
    if password != confirmation:
        raise Invalid({field: _("The two passwords are not the same.")})


def check_display_name(name: str, *, field: str = "display_name") -> str:
    """Return the trimmed display name or raise Invalid."""
    name = name.strip()
    if len(name) > DISPLAY_NAME_MAX:
        raise Invalid({field: _("Use at most 100 characters.")})
    if any(unicodedata.category(char) in {"Cc", "Cf"} for char in name):
        raise Invalid({field: _("Use letters, digits, spaces and punctuation only.")})
    return name


def check_language(language: str, *, field: str = "language") -> str:
    """Return the language code if offered, else raise Invalid."""
    if language not in LANGUAGES:
        raise Invalid({field: _("Choose a language from the list.")})
    return language


def _username_errors(session: Session, username: str) -> dict[str, str]:
    try:
        check_name(username, field="username")
    except Invalid as error:
        return error.errors
    if session.get(Handle, username) is not None:
        return {"username": _("This name is already taken.")}
    return {}


def _signup_errors(
    session: Session, *, username: str, email: str, password: str, display_name: str, language: str
) -> dict[str, str]:
    errors = _username_errors(session, username)
    for field, check, value in (
        ("email", check_email, email),
        ("password", check_new_password, password),
        ("display_name", check_display_name, display_name),
        ("language", check_language, language),
    ):
        try:
            check(value, field=field)
        except Invalid as error:
            errors.update(error.errors)
    if "email" not in errors and find_by_email(session, email) is not None:
        errors["email"] = _("An account already uses this email address.")
    return errors


def create_user(
    session: Session,
    *,
    username: str,
    email: str,
    password: str,
    display_name: str = "",
    language: str = "fr",
    is_admin: bool = False,
    email_confirmed: bool = False,
) -> User:
    """Create an account; raise Invalid naming every field at fault."""
    username = username.strip().lower()
    errors = _signup_errors(
        session,
        username=username,
        email=email,
        password=password,
        display_name=display_name,
        language=language,
    )
    if errors:
        raise Invalid(errors)
    try:
        claim_name(session, name=username, kind="user", field="username")
    except Conflict:
        raise Invalid({"username": _("This name is already taken.")}) from None
    user = User(
        username=username,
        email=normalise_email(email),
        password_hash=passwords.hash_password(password),
        display_name=display_name.strip(),
        language=language,
        is_admin=is_admin,
        email_confirmed=email_confirmed,
    )
    session.add(user)
    session.flush()
    return user


def find_instance_invitation(session: Session, token: str) -> Invitation:
    """The usable invitation to the instance for a token; raise NotFound otherwise."""
    invitation = session.exec(
        select(Invitation).where(Invitation.token_hash == token_hash(token))
    ).first()
    if invitation is None or invitation.association_id is not None or invitation.used_at:
        raise NotFound(_("This invitation does not exist or was already used."))
    if invitation.expires_at <= utcnow():
        raise NotFound(_("This invitation has expired. Ask the administrators for a new one."))
    return invitation


def sign_up(
    session: Session,
    *,
    registration: str,
    username: str,
    email: str,
    password: str,
    confirmation: str,
    display_name: str = "",
    language: str = "fr",
    invitation_token: str = "",
) -> User:
    """Create an account from the sign-up form, following the instance's registration rule.

    With an invitation the address is the invited one and counts as confirmed.
    """
    if registration not in REGISTRATION_MODES or registration == "closed":
        raise Forbidden(_("Sign-up is closed on this instance."))
    invitation = None
    if registration == "invitation":
        if not invitation_token:
            raise Forbidden(_("Sign-up is by invitation only on this instance."))
        invitation = find_instance_invitation(session, invitation_token)
        given = normalise_email(email)
        if given and given != invitation.email:
            raise Invalid({"email": _("Use the address the invitation was sent to.")})
        email = invitation.email
    mismatch: dict[str, str] = {}
    try:
        check_confirmation(password, confirmation)
    except Invalid as error:
        mismatch = error.errors
    try:
        user = create_user(
            session,
            username=username,
            email=email,
            password=password,
            display_name=display_name,
            language=language,
            email_confirmed=invitation is not None,
        )
    except Invalid as error:
        raise Invalid({**error.errors, **mismatch}) from None
    if mismatch:
        raise Invalid(mismatch)
    if invitation is not None:
        invitation.used_at = utcnow()
        session.add(invitation)
        session.flush()
    return user


def find_by_username(session: Session, username: str) -> User | None:
    """The account with this user name, if any."""
    return session.exec(select(User).where(User.username == username.strip().lower())).first()


def find_by_email(session: Session, email: str) -> User | None:
    """The account with this email address, if any."""
    return session.exec(select(User).where(User.email == normalise_email(email))).first()


def find_by_login(session: Session, login: str) -> User | None:
    """The account named by a user name or an email address."""
    if "@" in login:
        return find_by_email(session, login)
    return find_by_username(session, login)


def login_keys(login: str, address: str, user: User | None) -> list[str]:
    """Rate-limit keys of a login attempt: the account (or name tried) and the address."""
    account = f"user:{user.id}" if user is not None else f"login:{login.strip().lower()}"
    return [account[:300], f"address:{address}"]


def check_credentials(
    session: Session, *, login: str, password: str, limiter: RateLimiter, address: str
) -> User:
    """The account if the password is right; raise RateLimited, BadCredentials and the like.

    Over the limit the password is not even checked. An unknown name costs the
    same time as a known one (the dummy hash is checked instead).
    """
    login = login.strip()[:LOGIN_MAX]
    user = find_by_login(session, login) if login else None
    keys = login_keys(login, address, user)
    if any(limiter.blocked(key) for key in keys):
        raise RateLimited(
            _("Too many failed attempts. Wait a few minutes, or reset your password.")
        )
    right = passwords.check_password(
        user.password_hash if user is not None else passwords.dummy_hash(), password
    )
    if user is None or not right:
        for key in keys:
            limiter.hit(key)
        raise BadCredentials(_("Wrong user name, email or password."))
    if user.is_suspended:
        raise Suspended(_("This account is suspended. Contact the administrators of the site."))
    if not user.email_confirmed:
        raise NotConfirmed(_("Confirm your email address first: open the link we sent you."))
    for key in keys:
        limiter.reset(key)
    return user


def record_login(session: Session, *, user: User, password: str) -> User:
    """Note the login time, and rehash the password when its hash is outdated."""
    row = _fresh(session, user)
    if passwords.needs_rehash(row.password_hash):
        row.password_hash = passwords.hash_password(password)
    row.last_login_at = utcnow()
    session.add(row)
    session.flush()
    return row


def check_current_password(
    user: User, password: str, *, limiter: RateLimiter | None = None, field: str = "password"
) -> None:
    """Raise Invalid when the person's own password is wrong (RateLimited after too many)."""
    key = f"user:{user.id}"
    if limiter is not None and limiter.blocked(key):
        raise RateLimited(
            _("Too many failed attempts. Wait a few minutes, or reset your password.")
        )
    if not passwords.check_password(user.password_hash, password):
        if limiter is not None:
            limiter.hit(key)
        raise Invalid({field: _("This is not your current password.")})


_USERS = User.__table__  # type: ignore[attr-defined]
# Every signed-in page reads it: on the driver's cursor (schema/driver_statements.py).
_BY_ID = DriverStatement(select(*labelled(_USERS, "")).where(_USERS.c.id == bindparam("user_id")))


def signed_in_user(session: Session, user_id: int) -> User | None:
    """An account by id, as a plain object that no session tracks (None: no such account).

    The person of a session cookie, read on every page; read the row again through a
    session to change it (as ``_fresh`` does).
    """
    found = _BY_ID.first_named(session.connection(), {"user_id": user_id})
    return plain_object(User, found, "") if found is not None else None


def _fresh(session: Session, user: User) -> User:
    row = session.get(User, user.id)
    if row is None:
        raise NotFound(_("No such account."))
    return row


def update_profile(
    session: Session,
    *,
    user: User,
    display_name: str | None = None,
    language: str | None = None,
    federation_enabled: bool | None = None,
    reminders: str | None = None,
) -> User:
    """Change what the person may change of their profile (None: leave as it is)."""
    errors: dict[str, str] = {}
    for field, check, value in (
        ("display_name", check_display_name, display_name),
        ("language", check_language, language),
        ("reminders", check_reminders, reminders),
    ):
        if value is not None:
            try:
                check(value, field=field)
            except Invalid as error:
                errors.update(error.errors)
    if errors:
        raise Invalid(errors)
    row = _fresh(session, user)
    if display_name is not None:
        row.display_name = display_name.strip()
    if language is not None:
        row.language = language
    if federation_enabled is not None:
        row.federation_enabled = federation_enabled
    if reminders is not None and reminders != row.reminders:
        row.reminders = reminders
        row.reminded_at = None  # a new choice counts from now (see instance/reminders.py)
    session.add(row)
    session.flush()
    return row


def set_password(session: Session, *, user: User, password: str) -> User:
    """Store a new password (already checked); every session and API token dies with the old."""
    row = _fresh(session, user)
    row.password_hash = passwords.hash_password(password)
    session.add(row)
    session.exec(delete(ApiToken).where(col(ApiToken.user_id) == row.id))
    session.flush()
    return row


def change_password(
    session: Session,
    *,
    user: User,
    current: str,
    password: str,
    confirmation: str,
    limiter: RateLimiter | None = None,
) -> User:
    """Replace the password after checking the current one; every session dies with it."""
    check_current_password(user, current, limiter=limiter, field="current")
    errors: dict[str, str] = {}
    try:
        check_new_password(password)
        check_confirmation(password, confirmation)
    except Invalid as error:
        errors.update(error.errors)
    if errors:
        raise Invalid(errors)
    return set_password(session, user=user, password=password)


def count_users(session: Session) -> int:
    """How many accounts exist."""
    return session.exec(select(func.count()).select_from(User)).one()


def other_active_admins(session: Session, user: User) -> int:
    """How many instance admins, besides this person, are not suspended."""
    query = select(func.count()).where(
        col(User.is_admin).is_(True), col(User.is_suspended).is_(False), User.id != user.id
    )
    return int(session.exec(query).one())


def list_users(session: Session, *, limit: int = 100, offset: int = 0) -> list[User]:
    """Accounts ordered by user name."""
    query = select(User).order_by(User.username).offset(offset).limit(limit)
    return list(session.exec(query))


def display(user: User | None) -> str:
    """How a person is named on pages: display name, else user name."""
    if user is None:
        return _("Deleted account")
    return user.display_name or user.username
