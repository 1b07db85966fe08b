"""People: accounts, the shared name space, tokens and invitations."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from schema.tables._base import utcnow


class Handle(SQLModel, table=True):
    """A name taken in the instance's one name space (users and associations).

    Names become ``name@domain`` handles, so a name is never given twice, even
    after its account or association is gone.
    """

    name: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=16)  # "user" | "association"
    created_at: datetime = Field(default_factory=utcnow)


class User(SQLModel, table=True):
    """A person with an account on this instance."""

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    email: str = Field(max_length=254, unique=True, index=True)
    display_name: str = Field(default="", max_length=100)
    password_hash: str = Field(max_length=255)
    language: str = Field(default="fr", max_length=8)
    is_admin: bool = False
    is_suspended: bool = False
    email_confirmed: bool = False
    federation_enabled: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None
    #: Reminders by email to record one's actions: "" (never), "week" or "month".
    reminders: str = Field(default="", max_length=8)
    #: When the last reminder was due (sent, or skipped because actions were recorded).
    reminded_at: datetime | None = None


class EmailToken(SQLModel, table=True):
    """A one-use secret sent by email (confirm the address, reset the password)."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    purpose: str = Field(max_length=16)  # "confirm" | "reset"
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None


class ApiToken(SQLModel, table=True):
    """A personal access token for the JSON API (only its hash is kept)."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)
    label: str = Field(default="", max_length=100)
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None


class Invitation(SQLModel, table=True):
    """An invitation by email: to the instance, or to join one association."""

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, index=True)
    token_hash: str = Field(max_length=64, unique=True)
    association_id: int | None = Field(
        default=None, foreign_key="association.id", index=True, ondelete="CASCADE"
    )
    role: str = Field(default="volunteer", max_length=16)
    invited_by_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None
