"""Associations, their members and the rules each association chooses."""

from datetime import date, datetime

from sqlalchemy import UniqueConstraint, text
from sqlmodel import Field, SQLModel

from schema.tables._base import utcnow

JOIN_POLICIES = ("open", "moderated", "invitation")
ROLES = ("volunteer", "manager", "owner")
MEMBER_STATUSES = ("pending", "active", "refused", "left")
MANAGER_PERMISSIONS = (
    "view_actions",
    "edit_actions",
    "manage_members",
    "manage_settings",
)
TRAVEL_TIME_POLICIES = ("none", "counted", "separate")


class Association(SQLModel, table=True):
    """An association (or a network of associations) hosted on this instance."""

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=127)
    description: str = Field(default="", max_length=5000)
    website: str = Field(default="", max_length=255)
    logo: str = Field(default="", max_length=128)
    is_hidden: bool = False
    join_policy: str = Field(default="open", max_length=16)
    is_archived: bool = False
    is_suspended: bool = False
    is_network: bool = False
    approve_follows: bool = False
    # Publish a short public note of each month's figures (existing rows: off).
    monthly_note: bool = Field(
        default=False, index=True, sa_column_kwargs={"server_default": text("false")}
    )
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    # Rules the association chooses for its actions.
    requires_validation: bool = False
    travel_time_policy: str = Field(default="none", max_length=16)
    earliest_date: date | None = None
    max_minutes_per_action: int = 24 * 60
    half_day_minutes: int = 4 * 60
    uses_distance: bool = True
    default_hourly_rate_cents: int | None = None


class Membership(SQLModel, table=True):
    """A person's place in an association; its id is never reused.

    Access-link members (people without an account) have no user and a label.
    When a person leaves, or deletes their account, the row stays so that past
    actions keep pointing at it.
    """

    __table_args__ = (UniqueConstraint("association_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    association_id: int = Field(foreign_key="association.id", index=True, ondelete="CASCADE")
    user_id: int | None = Field(
        default=None, foreign_key="user.id", index=True, ondelete="SET NULL"
    )
    role: str = Field(default="volunteer", max_length=16)
    status: str = Field(default="active", max_length=16)
    perm_view_actions: bool = False
    perm_edit_actions: bool = False
    perm_manage_members: bool = False
    perm_manage_settings: bool = False
    label: str = Field(default="", max_length=100)
    access_token_hash: str | None = Field(default=None, max_length=64, unique=True)
    access_expires_at: datetime | None = None
    message: str = Field(default="", max_length=1000)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    decided_by_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    decided_at: datetime | None = None
