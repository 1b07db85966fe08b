"""Operator-edited content: site name, legal pages and announcements."""

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from sqlalchemy import Connection, bindparam, cast, literal_column, null, union_all
from sqlmodel import Session, col, or_, select

from instance.errors import Invalid, NotFound
from instance.i18n import _
from schema.driver_statements import DriverStatement
from schema.tables import Announcement, Membership, SiteSetting, User
from schema.tables._base import utcnow
from schema.tables.site import ANNOUNCEMENT_AUDIENCES, SITE_PAGES

SETTING_KEYS = ("site_name", *SITE_PAGES)


def get_setting(session: Session, key: str, default: str = "") -> str:
    """An operator setting, or the default when never set."""
    row = session.get(SiteSetting, key)
    return row.value if row is not None and row.value else default


def set_setting(session: Session, *, key: str, value: str) -> None:
    """Store an operator setting."""
    if key not in SETTING_KEYS:
        raise Invalid({key: _("Unknown setting.")})
    if len(value) > 100_000:
        raise Invalid({key: _("This text is too long.")})
    row = session.get(SiteSetting, key) or SiteSetting(key=key)
    row.value = value.strip()
    row.updated_at = utcnow()
    session.add(row)


def is_any_manager(session: Session, user: User) -> bool:
    """True when the person manages at least one association."""
    query = select(Membership.id).where(
        Membership.user_id == user.id,
        Membership.status == "active",
        Membership.role.in_(("manager", "owner")),  # type: ignore[attr-defined]
    )
    return session.exec(query).first() is not None


def active_announcements(
    session: Session, user: User | None, now: datetime | None = None
) -> list[Announcement]:
    """Announcements to show this person now (managers see theirs too)."""
    now = now or utcnow()
    audiences = ["all"]
    if user is not None and (user.is_admin or is_any_manager(session, user)):
        audiences.append("managers")
    query = (
        select(Announcement)
        .where(
            Announcement.starts_at <= now,
            or_(Announcement.ends_at.is_(None), Announcement.ends_at > now),  # type: ignore[union-attr]
            Announcement.audience.in_(audiences),  # type: ignore[attr-defined]
        )
        .order_by(Announcement.starts_at.desc())  # type: ignore[attr-defined]
    )
    return list(session.exec(query))


@dataclass(frozen=True)
class Banner:
    """An announcement as pages show it."""

    title: str
    body: str


@dataclass(frozen=True)
class Frame:
    """What every page's frame shows from the database: the site name and the announcements."""

    site_name: str
    announcements: list[Banner]


# Built once: the site name and the announcements running now, in one statement. The
# setting's row is told apart by its kind; the announcements keep their order.
_MOMENT = Announcement.__table__.c.starts_at.type  # type: ignore[attr-defined]
_NOW = bindparam("now", type_=_MOMENT)
# Every page runs it: on the driver's cursor (schema/driver_statements.py).
_FRAME = DriverStatement(
    union_all(
        select(  # type: ignore[call-overload]
            literal_column("'setting'").label("kind"),
            SiteSetting.value,
            literal_column("''").label("body"),
            cast(null(), _MOMENT).label("starts_at"),
            literal_column("0").label("id"),
        ).where(SiteSetting.key == "site_name"),
        select(
            Announcement.audience,
            Announcement.title,
            Announcement.body,
            Announcement.starts_at,
            Announcement.id,
        ).where(
            col(Announcement.starts_at) <= _NOW,
            or_(col(Announcement.ends_at).is_(None), col(Announcement.ends_at) > _NOW),
        ),
    )
)


def page_frame(
    connection: Connection, user: User | None, default_name: str, now: datetime | None = None
) -> Frame:
    """The site name and the announcements to show this person now, in one query.

    Whether the person manages an association is only asked when an announcement
    for managers is running (rarely), so most pages cost a single query.
    """
    rows = _FRAME.all(connection, {"now": now or utcnow()})
    site_name = next((row[1] for row in rows if row[0] == "setting"), "") or default_name
    running = sorted(
        (row for row in rows if row[0] != "setting"), key=lambda row: (row[3], row[4]), reverse=True
    )
    if any(row[0] == "managers" for row in running):
        audiences = ("all", "managers") if _manages(connection, user) else ("all",)
    else:
        audiences = ("all",)
    shown = [
        Banner(title, body) for audience, title, body, *_rest in running if audience in audiences
    ]
    return Frame(site_name, shown)


_IS_MANAGER = (
    select(Membership.id)
    .where(
        Membership.user_id == bindparam("user_id"),
        Membership.status == "active",
        col(Membership.role).in_(("manager", "owner")),
    )
    .limit(1)
)


def _manages(connection: Connection, user: User | None) -> bool:
    """True for administrators and for people who manage an association (see is_any_manager)."""
    if user is None:
        return False
    if user.is_admin:
        return True
    return connection.execute(_IS_MANAGER, {"user_id": user.id}).first() is not None


def create_announcement(
    session: Session,
    *,
    author: User,
    title: str,
    body: str = "",
    audience: str = "all",
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
) -> Announcement:
    """Publish an announcement."""
    errors: dict[str, str] = {}
    if not title.strip():
        errors["title"] = _("Enter a title.")
    elif len(title) > 200:
        errors["title"] = _("Use at most 200 characters.")
    if len(body) > 5000:
        errors["body"] = _("Use at most 5000 characters.")
    if audience not in ANNOUNCEMENT_AUDIENCES:
        errors["audience"] = _("Choose everyone or managers.")
    if starts_at and ends_at and ends_at <= starts_at:
        errors["ends_at"] = _("The end must come after the start.")
    if errors:
        raise Invalid(errors)
    announcement = Announcement(
        title=title.strip(),
        body=body.strip(),
        audience=audience,
        starts_at=starts_at or utcnow(),
        ends_at=ends_at,
        created_by_id=author.id,
    )
    session.add(announcement)
    session.flush()
    return announcement


SITE_NAME_MAX = 100
LOCAL_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S")


def update_settings(session: Session, *, values: dict[str, str]) -> None:
    """Store several settings at once; raise Invalid with every field at fault."""
    errors: dict[str, str] = {}
    for key, value in values.items():
        if key not in SETTING_KEYS:
            errors[key] = _("Unknown setting.")
        elif key == "site_name" and len(value.strip()) > SITE_NAME_MAX:
            errors[key] = _("Use at most 100 characters.")
        elif len(value) > 100_000:
            errors[key] = _("This text is too long.")
    if errors:
        raise Invalid(errors)
    for key, value in values.items():
        set_setting(session, key=key, value=value)


def parse_local_datetime(value: str, zone: tzinfo, *, field: str) -> datetime | None:
    """A date and time typed in the instance's zone, as UTC (None when left empty)."""
    value = value.strip()
    if not value:
        return None
    for pattern in LOCAL_FORMATS:
        try:
            parsed = datetime.strptime(value, pattern)
        except ValueError:
            continue
        return parsed.replace(tzinfo=zone).astimezone(UTC)
    raise Invalid({field: _("Enter a date and time, like 2025-03-01 14:30.")})


def list_announcements(session: Session) -> list[Announcement]:
    """Every announcement, the latest to start first."""
    query = select(Announcement).order_by(
        Announcement.starts_at.desc(),  # type: ignore[attr-defined]
        Announcement.id.desc(),  # type: ignore[union-attr]
    )
    return list(session.exec(query))


def delete_announcement(session: Session, *, announcement_id: int) -> None:
    """Remove an announcement; raise NotFound."""
    announcement = session.get(Announcement, announcement_id)
    if announcement is None:
        raise NotFound(_("No such announcement."))
    session.delete(announcement)
    session.flush()
