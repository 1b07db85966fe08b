"""Instance-wide content the operator edits: settings and announcements."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from schema.tables._base import utcnow

ANNOUNCEMENT_AUDIENCES = ("all", "managers")
SITE_PAGES = ("terms", "legal", "privacy")


class SiteSetting(SQLModel, table=True):
    """One operator-edited value: site name, terms of use, legal notice, privacy policy."""

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(default="", max_length=100_000)
    updated_at: datetime = Field(default_factory=utcnow)


class Announcement(SQLModel, table=True):
    """A banner shown to everyone, or to association managers, for a while."""

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    body: str = Field(default="", max_length=5000)
    audience: str = Field(default="all", max_length=16)
    starts_at: datetime = Field(default_factory=utcnow)
    ends_at: datetime | None = None
    created_by_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
