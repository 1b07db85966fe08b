"""Reminders by email to record one's actions, for the people who ask for them.

Volunteers forget to record what they did; a reminder every week or month, which
each person chooses in their account (never by default), brings them back to the
form of each association they volunteer for. Nobody active is nagged: a person
who recorded an action during the period gets no mail, only a new start.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, func, select

from instance.errors import Invalid
from instance.i18n import N_, _, use_language
from instance.mail import Mail
from schema.tables import Action, Association, Membership, User

#: What a person may choose, with its label.
CHOICES = {"": N_("Never"), "week": N_("Every week"), "month": N_("Every month")}
PERIODS = {"week": timedelta(days=7), "month": timedelta(days=30)}


def check_reminders(value: str, *, field: str = "reminders") -> str:
    """A reminder frequency ("", "week" or "month"); raise Invalid naming the field."""
    if value not in CHOICES:
        raise Invalid({field: _("Choose how often from the list.")})
    return value


@dataclass(frozen=True)
class Place:
    """An association a person volunteers for, as a reminder names it."""

    name: str
    slug: str


def _places(session: Session, user_ids: Iterable[int]) -> dict[int, list[Place]]:
    """Each person's live associations where they are an active member, by person."""
    query = (
        select(Membership.user_id, Association.name, Association.slug)
        .join(Association, col(Association.id) == col(Membership.association_id))
        .where(
            col(Membership.user_id).in_(list(user_ids)),
            Membership.status == "active",
            col(Association.is_archived).is_(False),
            col(Association.is_suspended).is_(False),
        )
        .order_by(col(Association.name))
    )
    found: dict[int, list[Place]] = {}
    for user_id, name, slug in session.exec(query):
        found.setdefault(user_id, []).append(Place(name, slug))
    return found


def _recorded_since(session: Session, user: User, since: datetime) -> bool:
    """True when the person recorded (or had recorded for them) an action since then."""
    query = (
        select(func.count())
        .select_from(Action)
        .join(Membership, col(Membership.id) == col(Action.membership_id))
        .where(Membership.user_id == user.id, col(Action.created_at) >= since)
    )
    return bool(session.exec(query).one())


def due_reminders(session: Session, *, base_url: str, now: datetime) -> list[Mail]:
    """The reminders due now; each person concerned is marked reminded (in this transaction).

    People are read with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two processes
    running this at once never remind anyone twice (SQLite's writers take turns).
    """
    query = (
        select(User)
        .where(
            col(User.reminders).in_(list(PERIODS)),
            col(User.email_confirmed).is_(True),
            col(User.is_suspended).is_(False),
        )
        .with_for_update(skip_locked=True)
    )
    due = []
    for user in session.exec(query):
        last = user.reminded_at
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=now.tzinfo)
        if last is None or last + PERIODS[user.reminders] <= now:
            due.append(user)
    if not due:
        return []
    places = _places(session, [user.id for user in due if user.id is not None])
    mails = []
    for user in due:
        where = places.get(user.id or 0, [])
        if where and not _recorded_since(session, user, now - PERIODS[user.reminders]):
            mails.append(_reminder(user, where, base_url))
        user.reminded_at = now
        session.add(user)
    session.flush()
    return mails


def _reminder(user: User, places: list[Place], base_url: str) -> Mail:
    with use_language(user.language):
        if user.reminders == "week":
            asked = _("You asked to be reminded every week to record what you do as a volunteer.")
        else:
            asked = _("You asked to be reminded every month to record what you do as a volunteer.")
        links = "\n".join(
            f"- {place.name}: {base_url}/associations/{place.slug}/actions/new" for place in places
        )
        parts = [
            _("Hello {name},").format(name=user.display_name or user.username),
            asked + " " + _("Nothing was recorded for you since the last reminder."),
            _("Record an action in a few taps:") + "\n" + links,
            _("To change or stop these reminders: {link}").format(link=f"{base_url}/account"),
        ]
        return Mail(
            to=user.email,
            subject=_("Did you volunteer lately? Record it in a few taps"),
            body="\n\n".join(parts) + "\n",
        )
