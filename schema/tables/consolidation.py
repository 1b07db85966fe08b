"""A person's hours across instances: what we state to their home, what home received.

The issuing side keeps one ``SentSummary`` per (association, person, month), the
current signed ``HoursSummary`` object; ``SummaryChange`` rows, written in the
same transaction as an action change, tell the publisher which ones to rebuild.
The home side keeps one ``ReceivedSummary`` per summary id, the newest by its
``updated`` time, exactly as received (proof included) so attestations can
carry it unchanged.
"""

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from schema.tables._base import utcnow

LINK_STATUSES = {
    "pending": "pending",
    "accepted": "active",
    "rejected": "refused",
    "ended": "ended",
}


class SummaryChange(SQLModel, table=True):
    """A month of one person's actions in one association changed since it was last sent."""

    __table_args__ = (Index("ix_summarychange_key", "association_id", "user_id", "month"),)

    id: int | None = Field(default=None, primary_key=True)
    association_id: int = Field(foreign_key="association.id", ondelete="CASCADE")
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    month: str = Field(max_length=7)
    created_at: datetime = Field(default_factory=utcnow, index=True)


class SentSummary(SQLModel, table=True):
    """The HoursSummary this instance currently states for one person, association and month."""

    __table_args__ = (UniqueConstraint("association_id", "user_id", "month"),)

    id: int | None = Field(default=None, primary_key=True)
    object_id: str = Field(max_length=2048, unique=True)
    association_id: int = Field(foreign_key="association.id", index=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    month: str = Field(max_length=7)
    figures_digest: str = Field(default="", max_length=64)  # skip sending what did not change
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    deleted: bool = False
    updated_at: datetime = Field(default_factory=utcnow)


class ReceivedSummary(SQLModel, table=True):
    """An HoursSummary another instance sent to one of our people (newest version kept)."""

    __table_args__ = (Index("ix_receivedsummary_user_month", "user_id", "month"),)

    id: int | None = Field(default=None, primary_key=True)
    object_id: str = Field(max_length=2048, unique=True)
    user_id: int = Field(foreign_key="user.id", ondelete="CASCADE")
    follow_id: int | None = Field(default=None, foreign_key="follow.id", ondelete="SET NULL")
    issuer_uri: str = Field(max_length=2048)  # the association's actor
    issuer_name: str = Field(default="", max_length=255)
    issuer_host: str = Field(max_length=255)
    subject_uri: str = Field(max_length=2048)  # the person's actor on the issuing instance
    month: str = Field(max_length=7)
    minutes: int = 0
    actions: int = 0
    validated_minutes: int = 0
    pending_minutes: int = 0
    valued_amount: str = Field(default="", max_length=32)  # decimal string, "" when not valued
    currency: str = Field(default="", max_length=3)
    categories: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    updated: datetime  # the object's own "updated": newest wins
    body: str = Field(sa_column=Column(Text, nullable=False))  # exactly as received
    proof_status: str = Field(default="verified", max_length=200)
    deleted: bool = False  # a Tombstone: a later Create or Update for this id is ignored
    received_at: datetime = Field(default_factory=utcnow)
