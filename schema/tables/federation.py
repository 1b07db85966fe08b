"""ActivityPub state: our actors' keys, remote actors, follows, inbox, outbox, deliveries."""

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from schema.tables._base import utcnow

LOCAL_ACTOR_KINDS = ("instance", "association", "user")
KEY_KINDS = ("rsa", "ed25519")
FOLLOW_STATES = ("pending", "accepted", "rejected", "ended")
DELIVERY_STATES = ("pending", "retrying", "sent", "failed", "expired")


class ActorKey(SQLModel, table=True):
    """A key pair of one of our actors; the private half is sealed with the instance secret.

    Keys are never deleted: after a rotation the old key stays published with its
    revocation date, so that what it signed earlier still verifies.
    """

    __table_args__ = (Index("ix_actorkey_owner", "owner_kind", "owner_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    owner_kind: str = Field(max_length=16)  # instance | association | user
    owner_id: int | None = Field(default=None)  # None for the instance actor
    kind: str = Field(max_length=16)  # rsa | ed25519
    key_id: str = Field(max_length=512, unique=True)  # full URL, e.g. <actor>#main-key
    public_key: str = Field(sa_column=Column(Text, nullable=False))  # PEM or multibase
    sealed_private_key: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


class RemoteActor(SQLModel, table=True):
    """An actor of another server, as last fetched (a cache with an expiry)."""

    id: int | None = Field(default=None, primary_key=True)
    uri: str = Field(max_length=2048, unique=True, index=True)
    host: str = Field(max_length=255, index=True)
    type: str = Field(default="Person", max_length=32)
    preferred_username: str = Field(default="", max_length=255)
    name: str = Field(default="", max_length=255)
    inbox: str = Field(default="", max_length=2048)
    shared_inbox: str = Field(default="", max_length=2048)
    public_key_id: str = Field(default="", max_length=2048, index=True)
    public_key_pem: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    document: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    fetched_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(default_factory=utcnow)
    is_gone: bool = False


class Follow(SQLModel, table=True):
    """A follow between one of our actors and a remote actor, in either direction.

    ``direction`` "in": the remote actor follows ours (a follower); "out": ours
    follows the remote one (links and network memberships build on this).
    """

    __table_args__ = (UniqueConstraint("direction", "local_kind", "local_id", "remote_actor_id"),)

    id: int | None = Field(default=None, primary_key=True)
    direction: str = Field(max_length=8)  # in | out
    local_kind: str = Field(max_length=16)
    local_id: int | None = Field(default=None)
    remote_actor_id: int = Field(foreign_key="remoteactor.id", index=True, ondelete="CASCADE")
    follow_activity_id: str = Field(max_length=2048)
    state: str = Field(default="pending", max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class InboxItem(SQLModel, table=True):
    """An activity received in an inbox, stored once (by its id) before processing."""

    id: int | None = Field(default=None, primary_key=True)
    activity_id: str = Field(max_length=2048, unique=True)
    activity_type: str = Field(max_length=64)
    actor_uri: str = Field(max_length=2048, index=True)
    recipient_kind: str = Field(default="shared", max_length=16)
    recipient_id: int | None = None
    body: str = Field(sa_column=Column(Text, nullable=False))
    received_at: datetime = Field(default_factory=utcnow, index=True)
    processed_at: datetime | None = Field(default=None, index=True)
    attempts: int = 0
    error: str = Field(default="", max_length=2000)


class OutboxActivity(SQLModel, table=True):
    """An activity one of our actors sent; its body is stored once and signed at send time."""

    id: int | None = Field(default=None, primary_key=True)
    activity_id: str = Field(max_length=2048, unique=True)
    activity_type: str = Field(max_length=64)
    actor_kind: str = Field(max_length=16)
    actor_id: int | None = None
    object_id: str = Field(default="", max_length=2048, index=True)
    is_public: bool = False
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, index=True)


class Delivery(SQLModel, table=True):
    """One outbox activity to one inbox: a row that moves through declared states."""

    __table_args__ = (
        Index("ix_delivery_due", "state", "next_attempt_at"),
        UniqueConstraint("activity_pk", "inbox_url"),
    )

    id: int | None = Field(default=None, primary_key=True)
    activity_pk: int = Field(foreign_key="outboxactivity.id", index=True, ondelete="CASCADE")
    inbox_url: str = Field(max_length=2048)
    host: str = Field(max_length=255, index=True)
    state: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    locked_until: datetime | None = None
    locked_by: str = Field(default="", max_length=64)
    last_status: int | None = None
    last_error: str = Field(default="", max_length=2000)
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class PeerHost(SQLModel, table=True):
    """What we know of another server: failures, dead state, the signature scheme it takes."""

    host: str = Field(primary_key=True, max_length=255)
    consecutive_failures: int = 0
    first_failure_at: datetime | None = None
    dead_since: datetime | None = None
    last_success_at: datetime | None = None
    last_probe_at: datetime | None = None  # last attempt let through while dead
    revived_at: datetime | None = None  # answered again after being dead; cleared once reconciled
    signature_scheme: str = Field(default="", max_length=16)  # "" | cavage | rfc9421
    scheme_checked_at: datetime | None = None


class Block(SQLModel, table=True):
    """A domain or an actor the instance admin blocked."""

    id: int | None = Field(default=None, primary_key=True)
    domain: str = Field(default="", max_length=255, index=True)
    actor_uri: str = Field(default="", max_length=2048, index=True)
    reason: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow)


class PublicNote(SQLModel, table=True):
    """A short public note an association (or network) published to its followers."""

    id: int | None = Field(default=None, primary_key=True)
    association_id: int = Field(foreign_key="association.id", index=True, ondelete="CASCADE")
    content: str = Field(sa_column=Column(Text, nullable=False))
    created_by_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    published_at: datetime = Field(default_factory=utcnow, index=True)


class MonthlyNote(SQLModel, table=True):
    """An association's monthly note for one month: decided once, published at most once."""

    __table_args__ = (UniqueConstraint("association_id", "month"),)

    id: int | None = Field(default=None, primary_key=True)
    association_id: int = Field(foreign_key="association.id", ondelete="CASCADE")
    month: str = Field(max_length=7)  # the month the note describes, "YYYY-MM"
    # None: nothing to say (no activity that month), so nothing was published.
    note_id: int | None = Field(default=None, foreign_key="publicnote.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
