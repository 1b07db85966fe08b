"""The worker's monthly step: publish last month's public note of each opted-in association.

For every association or network that opted in (instance/monthly_notes.py)
and has not had the note of the month that ended last, one transaction
computes the figures, stores a ``PublicNote`` (shown on its page) and queues
Create{Note} to its followers, as a note written by a manager would be
(federation/notes.py), then records the month in ``MonthlyNote``. An empty
month records the decision and publishes nothing. The unique (association,
month) row makes it once only: a second worker's transaction fails and leaves
nothing behind.
"""

import logging
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from federation import documents, notes, outbox
from instance import monthly_notes
from instance.config import Config
from schema.db import Database
from schema.tables import Association, PublicNote

log = logging.getLogger("benefed.monthly_notes")


def post(
    session: Session, *, config: Config, association: Association, text: str, now: datetime
) -> PublicNote:
    """Store the note and queue it to the association's followers (not when hidden)."""
    assert association.id is not None
    note = PublicNote(
        association_id=association.id, content=notes.check_content(text), published_at=now
    )
    session.add(note)
    session.flush()
    if config.federation.enabled and not association.is_hidden:
        outbox.publish_to_followers(
            session,
            config=config,
            kind="association",
            owner_id=association.id,
            activity=documents.note_create_activity(config, association, note),
            now=now,
        )
    return note


def publish_month(
    session: Session, *, config: Config, association: Association, month: str, now: datetime
) -> PublicNote | None:
    """Decide and publish one association's note of a month (None: nothing to say)."""
    assert association.id is not None
    figures = monthly_notes.month_figures(session, association=association, month=month)
    text = monthly_notes.note_text(figures, language=config.default_language)
    note = None
    if text is not None:
        note = post(session, config=config, association=association, text=text, now=now)
    monthly_notes.record(
        session,
        association_id=association.id,
        month=month,
        note_id=None if note is None else note.id,
    )
    return note


def _publish_one(
    db: Database, config: Config, association_id: int, month: str, now: datetime
) -> int:
    with db.write() as session:
        association = session.get(Association, association_id)
        if association is None or monthly_notes.is_done(
            session, association_id=association_id, month=month
        ):
            return 0
        publish_month(session, config=config, association=association, month=month, now=now)
    return 1


def publish_due(db: Database, config: Config, *, now: datetime) -> int:
    """Publish every due monthly note of the month that ended last; how many were decided."""
    month = monthly_notes.previous_month(now, config.zone)
    with db.read() as session:
        due = [row.id for row in monthly_notes.due_associations(session, month=month)]
    done = 0
    for association_id in due:
        assert association_id is not None
        try:
            done += _publish_one(db, config, association_id, month, now)
        except IntegrityError:  # another worker decided it first
            log.info("monthly note of %s for %s already decided", association_id, month)
    return done
