"""The mails that wait for a moment, sent by a periodic round.

Two kinds: managers' digests of actions to validate that their quiet period held
back (``action_mails.pending_digests``: otherwise they would wait for the next
recorded action, maybe for weeks), and the reminders people asked for
(``reminders.due_reminders``). Each round claims what it sends in one write
transaction; on PostgreSQL an advisory lock keeps a second process out of the
same round (SQLite's writers take turns).
"""

from datetime import datetime

from sqlalchemy import text
from sqlmodel import Session

from instance.action_mails import pending_digests
from instance.mail import Mailer
from instance.reminders import due_reminders
from schema.db import Database
from schema.tables._base import utcnow

#: The advisory lock of a round (PostgreSQL): any fixed number no other lock uses.
ROUND_LOCK = 0x62656E6D61696C  # "benmail"


def _alone(session: Session) -> bool:
    """True when no other process runs a round (always on SQLite)."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    taken = session.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": ROUND_LOCK})
    return bool(taken.scalar())


def send_waiting_mail(
    db: Database, mailer: Mailer, *, base_url: str, now: datetime | None = None
) -> int:
    """One round: send the digests and reminders due now; how many mails went out."""
    now = now or utcnow()
    with db.write() as session:
        if not _alone(session):
            return 0
        mails = pending_digests(session, base_url=base_url, now=now)
        mails += due_reminders(session, base_url=base_url, now=now)
    if mails and not mailer.send(*mails):
        return 0
    return len(mails)
