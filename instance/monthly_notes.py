"""The monthly public note: last month's figures in one short sentence for followers.

An association (``Association.monthly_note``) or a network (that flag, or
``NetworkProfile.monthly_note``) may opt in. Once a month has ended in the
instance's time zone, the worker publishes, once, a note such as "In October
2026, 42 volunteers gave 312 hours." in the instance's default language. A
month without activity publishes nothing. Each decision is recorded in
``MonthlyNote`` (unique per association and month), so that a month is handled
once whatever the number of workers. Only the previous month is ever due: an
association that opts in mid-month gets the note of the month before, never
older ones.

Figures:

- an association: its counted (validated) minutes, with travel time when its
  policy counts it, and its distinct volunteers with counted actions;
- a network: the sums of its members' counted reports (see
  instance/network_forwarding.py): volunteers are the sum of the counts the
  reports state, so a person active in two member associations counts twice;
  when no report states a count, the sentence names no number of volunteers.

Hours are rounded to the nearest whole hour; under an hour, minutes are given.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from babel.dates import format_date
from babel.numbers import format_decimal
from sqlalchemy import union
from sqlmodel import Session, col, exists, select

from instance import summaries
from instance.i18n import _, ngettext, use_language
from instance.network_forwarding import member_sums
from instance.periods import month_key, parse_month
from instance.summary_sums import Parts, rollup_months, rollup_volunteer_count
from schema.tables import Association, MonthlyNote, NetworkProfile


@dataclass(frozen=True)
class MonthFigures:
    """What a monthly note states about one month."""

    month: str  # "YYYY-MM"
    minutes: int
    actions: int
    volunteers: int | None  # None: not known (a network whose reports hide them)

    @property
    def empty(self) -> bool:
        """True when nothing was given that month: no note."""
        return self.minutes == 0 and self.actions == 0


def previous_month(now: datetime, zone: tzinfo) -> str:
    """The month that ended last, in the instance's time zone ('YYYY-MM')."""
    first = now.astimezone(zone).date().replace(day=1)
    return month_key(first - timedelta(days=1))


def association_figures(session: Session, *, association: Association, month: str) -> MonthFigures:
    """An association's counted figures for a month, with its distinct volunteers."""
    assert association.id is not None
    parts = Parts(month, month, ())
    counters = rollup_months(session, association.id, parts).get(month, {})
    figures = summaries.figures(counters, association.travel_time_policy)
    volunteers = rollup_volunteer_count(session, association.id, parts)
    return MonthFigures(month, figures.minutes, figures.actions, volunteers)


def network_figures(session: Session, *, network: Association, month: str) -> MonthFigures:
    """A network's figures for a month: the sums of its members' counted reports."""
    assert network.id is not None
    sums = member_sums(session, network_id=network.id, month=month)
    return MonthFigures(month, sums.minutes, sums.actions, sums.volunteers)


def month_figures(session: Session, *, association: Association, month: str) -> MonthFigures:
    """The figures of the note of an association or a network."""
    if association.is_network:
        return network_figures(session, network=association, month=month)
    return association_figures(session, association=association, month=month)


def _number(value: int, language: str) -> str:
    return format_decimal(value, locale=language)


def _time_given(minutes: int, language: str) -> str:
    if minutes < 60:
        return ngettext("{count} minute", "{count} minutes", minutes).format(
            count=_number(minutes, language)
        )
    hours = (minutes + 30) // 60
    return ngettext("{count} hour", "{count} hours", hours).format(count=_number(hours, language))


def note_text(figures: MonthFigures, *, language: str) -> str | None:
    """The note's sentence in a language (None for an empty month: nothing to say)."""
    if figures.empty:
        return None
    with use_language(language):
        month = format_date(parse_month(figures.month), "LLLL y", locale=language)
        time = _time_given(figures.minutes, language)
        if not figures.volunteers:
            return _("In {month}, volunteers gave {time}.").format(month=month, time=time)
        who = ngettext(
            "{count} volunteer gave", "{count} volunteers gave", figures.volunteers
        ).format(count=_number(figures.volunteers, language))
        return _("In {month}, {who} {time}.").format(month=month, who=who, time=time)


def due_associations(session: Session, *, month: str) -> list[Association]:
    """The associations and networks that opted in and have not had this month's note."""
    # Two index-friendly lookups rather than a scan of every association on each round.
    wanted = union(
        select(Association.id).where(col(Association.monthly_note)),
        select(NetworkProfile.association_id).where(col(NetworkProfile.monthly_note)),
    )
    done = exists().where(MonthlyNote.association_id == Association.id, MonthlyNote.month == month)
    query = (
        select(Association)
        .where(col(Association.id).in_(wanted), ~col(Association.is_suspended), ~done)
        .order_by(col(Association.id))
    )
    return list(session.exec(query))


def is_done(session: Session, *, association_id: int, month: str) -> bool:
    """True when the month's note was already decided for the association."""
    query = select(MonthlyNote.id).where(
        MonthlyNote.association_id == association_id, MonthlyNote.month == month
    )
    return session.exec(query).first() is not None


def record(
    session: Session, *, association_id: int, month: str, note_id: int | None
) -> MonthlyNote:
    """Note that the month was handled (note_id None: nothing was published)."""
    row = MonthlyNote(association_id=association_id, month=month, note_id=note_id)
    session.add(row)
    session.flush()
    return row
