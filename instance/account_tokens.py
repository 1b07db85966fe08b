"""Secrets handed to a person: one-use email links (confirm, reset) and API tokens.

Only the SHA-256 of each secret is stored; the secret itself goes out once, in
a mail or in the API's answer.
"""

from datetime import datetime, timedelta

from sqlalchemy import bindparam
from sqlmodel import Session, col, or_, select, update

from instance import accounts
from instance.errors import Invalid, NotFound
from instance.i18n import _
from instance.secrets import new_token, token_hash
from schema.driver_statements import DriverStatement, labelled, plain_object
from schema.tables import ApiToken, EmailToken, User
from schema.tables._base import utcnow

PURPOSES = ("confirm", "reset")
LIFETIMES = {"confirm": timedelta(days=3), "reset": timedelta(days=3)}
LIFETIME_DAYS = 3
LABEL_MAX = 100
TOKEN_MAX = 200
#: How stale ApiToken.last_used_at may get: a token in use is stamped once a minute at most.
USE_STAMP_EVERY = timedelta(minutes=1)


def issue_email_token(
    session: Session, *, user: User, purpose: str, now: datetime | None = None
) -> str:
    """A fresh one-use secret for a mail link; returns the secret (only its hash is kept)."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    assert user.id is not None
    token = new_token()
    now = now or utcnow()
    row = EmailToken(
        user_id=user.id,
        purpose=purpose,
        token_hash=token_hash(token),
        created_at=now,
        expires_at=now + LIFETIMES[purpose],
    )
    session.add(row)
    session.flush()
    return token


def request_link(session: Session, *, email: str, purpose: str) -> tuple[User, str] | None:
    """A fresh link for the account of an address when it should get one, else None."""
    user = accounts.find_by_email(session, email)
    if user is None or user.is_suspended or (purpose == "confirm" and user.email_confirmed):
        return None
    return user, issue_email_token(session, user=user, purpose=purpose)


def _usable(session: Session, token: str, purpose: str, now: datetime) -> EmailToken:
    row = None
    if token and len(token) <= TOKEN_MAX:
        query = select(EmailToken).where(
            EmailToken.token_hash == token_hash(token), EmailToken.purpose == purpose
        )
        row = session.exec(query).first()
    if row is None or row.used_at is not None:
        raise NotFound(_("This link is not valid, or it was already used."))
    if row.expires_at <= now:
        raise NotFound(_("This link has expired. Ask for a new one."))
    return row


def peek_email_token(session: Session, *, token: str, purpose: str) -> User:
    """The person a usable link belongs to, without using it; raise NotFound."""
    row = _usable(session, token, purpose, utcnow())
    user = session.get(User, row.user_id)
    if user is None:
        raise NotFound(_("This link is not valid, or it was already used."))
    return user


def use_email_token(
    session: Session, *, token: str, purpose: str, now: datetime | None = None
) -> User:
    """Spend a link (and every other unused link of the same kind); return its person."""
    now = now or utcnow()
    row = _usable(session, token, purpose, now)
    session.exec(
        update(EmailToken)
        .where(
            col(EmailToken.user_id) == row.user_id,
            col(EmailToken.purpose) == purpose,
            col(EmailToken.used_at).is_(None),
        )
        .values(used_at=now)
    )
    user = session.get(User, row.user_id)
    if user is None:
        raise NotFound(_("This link is not valid, or it was already used."))
    return user


def confirm_email(session: Session, *, token: str) -> User:
    """Confirm the address of the account a confirmation link was sent for."""
    user = use_email_token(session, token=token, purpose="confirm")
    user.email_confirmed = True
    session.add(user)
    session.flush()
    return user


def reset_password(session: Session, *, token: str, password: str, confirmation: str) -> User:
    """Set a new password through a reset link; the address counts as confirmed too."""
    try:
        accounts.check_new_password(password)
        accounts.check_confirmation(password, confirmation)
    except Invalid:
        peek_email_token(session, token=token, purpose="reset")
        raise
    user = use_email_token(session, token=token, purpose="reset")
    user = accounts.set_password(session, user=user, password=password)
    user.email_confirmed = True
    session.add(user)
    session.flush()
    return user


def purge_email_tokens(session: Session, *, now: datetime | None = None) -> int:
    """Delete used and expired mail links; returns how many."""
    now = now or utcnow()
    rows = session.exec(
        select(EmailToken).where(
            (col(EmailToken.expires_at) <= now) | col(EmailToken.used_at).is_not(None)
        )
    ).all()
    for row in rows:
        session.delete(row)
    session.flush()
    return len(rows)


def check_label(label: str, *, field: str = "label") -> str:
    """Return the trimmed token label or raise Invalid."""
    label = label.strip()
    if len(label) > LABEL_MAX:
        raise Invalid({field: _("Use at most 100 characters.")})
    return label


def create_api_token(session: Session, *, user: User, label: str = "") -> tuple[ApiToken, str]:
    """A new API token for the person; returns the row and the secret to hand over once."""
    label = check_label(label)
    assert user.id is not None
    token = new_token()
    row = ApiToken(user_id=user.id, token_hash=token_hash(token), label=label)
    session.add(row)
    session.flush()
    return row, token


def find_api_token(session: Session, token: str) -> ApiToken | None:
    """The API token row of a secret, if any."""
    if not token or len(token) > TOKEN_MAX:
        return None
    query = select(ApiToken).where(ApiToken.token_hash == token_hash(token))
    return session.exec(query).first()


_TOKENS = ApiToken.__table__  # type: ignore[attr-defined]
_USERS = User.__table__  # type: ignore[attr-defined]
# Every API request runs it: on the driver's cursor (schema/driver_statements.py).
_HOLDER = DriverStatement(
    select(*labelled(_TOKENS, "t_"), *labelled(_USERS, "u_"))
    .join(_USERS, _USERS.c.id == _TOKENS.c.user_id)
    .where(_TOKENS.c.token_hash == bindparam("token_hash"))
)


def token_holder(session: Session, token: str) -> tuple[ApiToken, User] | None:
    """The API token row of a secret and the account holding it, in one query.

    Both are plain objects that no session tracks (read them again to change them).
    """
    if not token or len(token) > TOKEN_MAX:
        return None
    found = _HOLDER.first_named(session.connection(), {"token_hash": token_hash(token)})
    if found is None:
        return None
    row, user = plain_object(ApiToken, found, "t_"), plain_object(User, found, "u_")
    assert row is not None and user is not None
    return row, user


def use_is_stale(row: ApiToken, now: datetime) -> bool:
    """True when a token's last use was stamped more than a minute ago (or never)."""
    return row.last_used_at is None or now - row.last_used_at >= USE_STAMP_EVERY


def stamp_api_token_use(session: Session, *, token_id: int, now: datetime | None = None) -> bool:
    """Note that a token was just used, unless it was noted less than a minute ago.

    Returns True when the stamp was written (one UPDATE; concurrent requests of the
    same minute write it once).
    """
    now = now or utcnow()
    statement = (
        update(ApiToken)
        .where(
            col(ApiToken.id) == token_id,
            or_(
                col(ApiToken.last_used_at).is_(None),
                col(ApiToken.last_used_at) <= now - USE_STAMP_EVERY,
            ),
        )
        .values(last_used_at=now)
    )
    return bool(session.exec(statement).rowcount)  # type: ignore[attr-defined]


def revoke_api_token(session: Session, *, token: str) -> None:
    """Delete the API token of a secret; raise NotFound when unknown."""
    row = find_api_token(session, token)
    if row is None:
        raise NotFound(_("No such token."))
    session.delete(row)
    session.flush()


def revoke_all_api_tokens(session: Session, *, user: User) -> int:
    """Delete every API token of the person; returns how many."""
    rows = session.exec(select(ApiToken).where(ApiToken.user_id == user.id)).all()
    for row in rows:
        session.delete(row)
    session.flush()
    return len(rows)


def list_api_tokens(session: Session, *, user: User) -> list[ApiToken]:
    """The person's API tokens, newest first."""
    query = (
        select(ApiToken)
        .where(ApiToken.user_id == user.id)
        .order_by(col(ApiToken.created_at).desc(), col(ApiToken.id).desc())
    )
    return list(session.exec(query))
