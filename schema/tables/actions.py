"""Volunteer actions, the taxonomy they are filed under, their audit trail and rollups.

Taxonomy rows with no association are the instance defaults, copied to every
new association. Money is kept in integer cents and distances in integer
hundredths of a kilometre, so every sum is exact on every database.
"""

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from schema.tables._base import utcnow

ACTION_STATUSES = ("validated", "pending", "refused")
ACTION_SOURCES = ("web", "api", "access_link", "group")
EVENT_KINDS = ("create", "edit", "validate", "refuse", "delete")
ROLLUP_DIMENSIONS = ("total", "category", "project", "level", "volunteer")


class Category(SQLModel, table=True):
    """What kind of work an action is (governance, events...), per association."""

    __tablename__ = "action_category"

    id: int | None = Field(default=None, primary_key=True)
    association_id: int | None = Field(
        default=None, foreign_key="association.id", index=True, ondelete="CASCADE"
    )
    name: str = Field(max_length=100)
    description: str = Field(default="", max_length=1000)
    archived: bool = False
    # The instance default this entry was copied from (lets the instance add up).
    default_id: int | None = Field(
        default=None, foreign_key="action_category.id", ondelete="SET NULL"
    )
    created_at: datetime = Field(default_factory=utcnow)


class Project(SQLModel, table=True):
    """A project of an association that actions may belong to."""

    __tablename__ = "action_project"

    id: int | None = Field(default=None, primary_key=True)
    association_id: int = Field(foreign_key="association.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=100)
    description: str = Field(default="", max_length=1000)
    starts_on: date | None = None
    ends_on: date | None = None
    archived: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class Level(SQLModel, table=True):
    """A qualification level; its dated hourly rates value the actions filed under it."""

    __tablename__ = "action_level"

    id: int | None = Field(default=None, primary_key=True)
    association_id: int | None = Field(
        default=None, foreign_key="association.id", index=True, ondelete="CASCADE"
    )
    name: str = Field(max_length=100)
    description: str = Field(default="", max_length=1000)
    archived: bool = False
    default_id: int | None = Field(default=None, foreign_key="action_level.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)


class LevelRate(SQLModel, table=True):
    """The hourly rate of a level from a date on (until the next rate of that level)."""

    __tablename__ = "action_level_rate"
    __table_args__ = (UniqueConstraint("level_id", "effective_from"),)

    id: int | None = Field(default=None, primary_key=True)
    level_id: int = Field(foreign_key="action_level.id", ondelete="CASCADE")
    effective_from: date
    hourly_rate_cents: int
    created_at: datetime = Field(default_factory=utcnow)


class Action(SQLModel, table=True):
    """Time a volunteer gave to an association (a "bénévolat")."""

    __tablename__ = "volunteer_action"
    __table_args__ = (
        Index("ix_volunteer_action_association_date", "association_id", "date"),
        # Lists: the pending actions (or those of one status) newest first, and their counts.
        Index("ix_volunteer_action_association_status_date", "association_id", "status", "date"),
        Index("ix_volunteer_action_membership_date", "membership_id", "date"),
        Index("ix_volunteer_action_status", "status", "notified_at", "association_id"),
        Index("ix_volunteer_action_level_date", "level_id", "date"),
        # A recording sent twice (a phone that lost the answer) is found by its key.
        Index(
            "ix_volunteer_action_client_ref",
            "association_id",
            "client_ref",
            unique=True,
            sqlite_where=text("client_ref IS NOT NULL"),
            postgresql_where=text("client_ref IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    association_id: int = Field(foreign_key="association.id", ondelete="CASCADE")
    membership_id: int = Field(foreign_key="membership.id", ondelete="CASCADE")
    date: date
    end_date: date | None = None
    minutes: int = 0
    travel_minutes: int | None = None
    category_id: int = Field(foreign_key="action_category.id", ondelete="RESTRICT")
    project_id: int | None = Field(
        default=None, foreign_key="action_project.id", ondelete="RESTRICT"
    )
    level_id: int | None = Field(default=None, foreign_key="action_level.id", ondelete="RESTRICT")
    title: str = Field(default="", max_length=127)
    description: str = Field(default="", max_length=5000)
    # Hundredths of a kilometre (0.01 km), so that sums stay exact.
    distance_hundredths: int | None = None
    status: str = Field(default="validated", max_length=16)
    refusal_reason: str = Field(default="", max_length=1000)
    # Hourly rate (cents) in force on the action's date when last valued; None: not valued.
    rate_cents: int | None = None
    source: str = Field(default="web", max_length=16)
    created_by_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
    updated_by_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    updated_at: datetime = Field(default_factory=utcnow)
    decided_by_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    decided_at: datetime | None = None
    # When managers were told (in a digest) that this action awaits validation.
    notified_at: datetime | None = None
    #: A key the sender chose for this recording (the offline form, an API client): the
    #: same key again in the association records nothing twice. None for most actions.
    client_ref: str | None = Field(default=None, max_length=64)


class ActionEvent(SQLModel, table=True):
    """One line of an action's audit trail; kept after the action is deleted."""

    __tablename__ = "action_event"

    id: int | None = Field(default=None, primary_key=True)
    action_id: int = Field(index=True)
    association_id: int = Field(foreign_key="association.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=16)
    changes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    user_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    at: datetime = Field(default_factory=utcnow)


class Rollup(SQLModel, table=True):
    """Running totals of one association for one month and one dimension value.

    ``dimension`` is total, category, project, level or volunteer; ``key_id`` is
    the entry's id (0 for the total, and for "no project" or "no level"; the
    membership id for volunteers). Actions count in the month of their date.
    The day_category, day_project, day_level and day_volunteer dimensions hold
    the same figures for one day, ``month`` then being the ISO day (2024-03-15).
    """

    __tablename__ = "action_rollup"
    __table_args__ = (
        Index("ix_action_rollup_dimension_key", "dimension", "key_id"),
        # SQLite keeps the rows in their primary key's B-tree: a recording's upserts and
        # the range reads by (association, dimension, month) touch one tree, not two.
        {"sqlite_with_rowid": False},
    )

    association_id: int = Field(foreign_key="association.id", primary_key=True, ondelete="CASCADE")
    dimension: str = Field(primary_key=True, max_length=16)
    month: str = Field(primary_key=True, max_length=10)
    key_id: int = Field(primary_key=True)
    minutes_counted: int = 0
    minutes_pending: int = 0
    travel_minutes_counted: int = 0
    travel_minutes_pending: int = 0
    actions_counted: int = 0
    actions_pending: int = 0
    valued_actions: int = 0
    valued_cents: int = 0
    travel_valued_cents: int = 0
    distance_hundredths: int = 0
