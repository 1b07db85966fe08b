"""Public notes of associations: short plain-text posts sent to their followers.

A note is stored as plain text (escaped whenever shown) and published as
Create{Note} addressed to the public and the association's followers, in the
same transaction. The association page shows ``recent_notes`` and
``followers_count``.
"""

from datetime import datetime

from sqlmodel import Session, col, select

from federation import documents, follows, outbox
from instance.associations import membership_of, require_permission
from instance.config import Config
from instance.errors import Invalid, NotFound
from instance.i18n import _
from schema.tables import Association, PublicNote, User
from schema.tables._base import utcnow

CONTENT_MAX = 500


def check_content(content: object) -> str:
    """The note's text, trimmed; Invalid when empty, too long or not text."""
    if not isinstance(content, str):
        raise Invalid({"content": _("Write the text of the note.")})
    content = content.replace("\r\n", "\n").strip()
    if not content:
        raise Invalid({"content": _("Write the text of the note.")})
    if len(content) > CONTENT_MAX:
        raise Invalid({"content": _("Use at most 500 characters.")})
    if any(ord(c) < 32 and c not in "\n\t" for c in content):
        raise Invalid({"content": _("Remove the control characters from the text.")})
    return content


def publish_note(
    session: Session,
    *,
    config: Config,
    association: Association,
    by: User,
    content: object,
    now: datetime | None = None,
) -> PublicNote:
    """Publish a public note of the association (managers with manage_settings)."""
    require_permission(by, membership_of(session, association, by), "manage_settings")
    text = check_content(content)
    assert association.id is not None
    note = PublicNote(
        association_id=association.id,
        content=text,
        created_by_id=by.id,
        published_at=now or utcnow(),
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


def recent_notes(session: Session, association: Association, limit: int = 20) -> list[PublicNote]:
    """The association's newest notes, newest first."""
    query = (
        select(PublicNote)
        .where(PublicNote.association_id == association.id)
        .order_by(col(PublicNote.published_at).desc(), col(PublicNote.id).desc())
        .limit(limit)
    )
    return list(session.exec(query))


def notes_before(
    session: Session, association: Association, *, before_id: int | None, limit: int
) -> list[PublicNote]:
    """Notes older than a note id (for cursors), newest first."""
    query = select(PublicNote).where(PublicNote.association_id == association.id)
    if before_id is not None:
        query = query.where(col(PublicNote.id) < before_id)
    return list(session.exec(query.order_by(col(PublicNote.id).desc()).limit(limit)))


def get_note(session: Session, association: Association, note_id: int) -> PublicNote:
    """One note of the association; NotFound otherwise."""
    note = session.get(PublicNote, note_id)
    if note is None or note.association_id != association.id:
        raise NotFound(_("No such note."))
    return note


def followers_count(session: Session, association: Association) -> int:
    """How many remote actors follow the association."""
    return follows.followers_count(session, kind="association", owner_id=association.id)
