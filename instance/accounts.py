"""Accounts: creating people, finding them, checking their passwords."""

import re

from sqlmodel import Session, func, select

from instance import passwords
from instance.errors import Conflict, Invalid
from instance.i18n import LANGUAGES, _
from instance.names import claim_name
from schema.tables import User

EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$|^[^@\s]{1,64}@localhost$")
DISPLAY_NAME_MAX = 100


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


def check_display_name(name: str, *, field: str = "display_name") -> str:
    """Return the trimmed display name or raise Invalid."""
    name = name.strip()
    if len(name) > DISPLAY_NAME_MAX:
        raise Invalid({field: _("Use at most 100 characters.")})
    return name


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
    """Create an account; raise Invalid or Conflict with the field at fault."""
    username = username.strip().lower()
    errors: dict[str, str] = {}
    for field, check, value in (
        ("email", check_email, email),
        ("password", check_new_password, password),
        ("display_name", check_display_name, display_name),
    ):
        try:
            check(value, field=field)
        except Invalid as error:
            errors.update(error.errors)
    if language not in LANGUAGES:
        errors["language"] = _("Choose a language from the list.")
    if errors:
        raise Invalid(errors)
    email = normalise_email(email)
    if find_by_email(session, email) is not None:
        raise Invalid({"email": _("An account already uses this email address.")})
    try:
        claim_name(session, name=username, kind="user", field="username")
    except Conflict:
        raise Invalid({"username": _("This name is already taken.")}) from None
    user = User(
        username=username,
        email=email,
        password_hash=passwords.hash_password(password),
        display_name=display_name.strip(),
        language=language,
        is_admin=is_admin,
        email_confirmed=email_confirmed,
    )
    session.add(user)
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


def count_users(session: Session) -> int:
    """How many accounts exist."""
    return session.exec(select(func.count()).select_from(User)).one()


def list_users(session: Session, *, limit: int = 100, offset: int = 0) -> list[User]:
    """Accounts ordered by user name."""
    query = select(User).order_by(User.username).offset(offset).limit(limit)
    return list(session.exec(query))


def display(user: User | None) -> str:
    """How a person is named on pages: display name, else user name."""
    if user is None:
        return _("Deleted account")
    return user.display_name or user.username
