"""Networks of associations: members, reference categories, and the monthly reports.

A network is an association marked ``is_network``. On the network's instance:
its ``NetworkProfile`` (threshold, licence of its open data), its
``ReferenceCategory`` list, its ``NetworkMember`` rows (one per association
that asked to join, wherever it is hosted) and the ``ReceivedReport`` rows they
sent. On a member's instance: its ``NetworkLink`` (the membership as seen from
the member, with the mapping of its own categories onto the network's), the
``ReportChange`` rows noting months to send again, and the ``SentReport`` rows.
"""

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from schema.tables._base import utcnow

MEMBER_STATUSES = ("pending", "active", "refused", "left")
#: The figures the dashboard sums, after the grouping columns of its indexes.
DASHBOARD_COLUMNS = (
    "deleted",
    "proof_status",
    "minutes",
    "actions",
    "volunteers",
    "valued_cents",
    "currency",
)


class NetworkProfile(SQLModel, table=True):
    """What a network publishes about itself besides its association fields."""

    association_id: int = Field(foreign_key="association.id", primary_key=True, ondelete="CASCADE")
    threshold: int = 5  # fewest distinct volunteers a category cell may describe
    open_data_licence: str = Field(default="ODbL-1.0", max_length=64)
    monthly_note: bool = False  # publish a short public note each month


class ReferenceCategory(SQLModel, table=True):
    """One of a network's reference categories, which members map their own onto."""

    __table_args__ = (UniqueConstraint("network_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    network_id: int = Field(foreign_key="association.id", index=True, ondelete="CASCADE")
    key: str = Field(max_length=64)
    label: str = Field(max_length=100)
    position: int = 0
    archived: bool = False  # no longer offered to members; past reports keep it


class NetworkMember(SQLModel, table=True):
    """An association (or a network) that asked to join one of our networks."""

    __table_args__ = (UniqueConstraint("network_id", "actor_uri"),)

    id: int | None = Field(default=None, primary_key=True)
    network_id: int = Field(foreign_key="association.id", index=True, ondelete="CASCADE")
    actor_uri: str = Field(max_length=2048)
    follow_id: int | None = Field(default=None, foreign_key="follow.id", ondelete="SET NULL")
    name: str = Field(default="", max_length=255)
    is_network: bool = False
    status: str = Field(default="pending", max_length=16)
    anonymous: bool = False  # listed without its name
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ReceivedReport(SQLModel, table=True):
    """A member's signed report for one month (the newest version by ``updated``)."""

    # The dashboard's sums read only these covering indexes (never the wide rows):
    # by month, by member, and each member's latest report.
    __table_args__ = (
        Index("ix_receivedreport_network_month", "network_id", "month", *DASHBOARD_COLUMNS),
        Index(
            "ix_receivedreport_network_member",
            "network_id",
            "member_id",
            "month",
            *DASHBOARD_COLUMNS,
        ),
        Index("ix_receivedreport_latest", "network_id", "member_id", "deleted", "received_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    object_id: str = Field(max_length=2048, unique=True)
    network_id: int = Field(foreign_key="association.id", ondelete="CASCADE")
    member_id: int | None = Field(
        default=None, foreign_key="networkmember.id", index=True, ondelete="SET NULL"
    )
    issuer_uri: str = Field(max_length=2048)
    month: str = Field(max_length=7)
    minutes: int = 0
    actions: int = 0
    volunteers: int | None = None  # None: fewer than the threshold, not reported
    valued_cents: int | None = None
    currency: str = Field(default="", max_length=3)
    categories: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    updated: datetime
    body: str = Field(sa_column=Column(Text, nullable=False))  # exactly as received
    proof_status: str = Field(default="verified", max_length=200)
    deleted: bool = False
    received_at: datetime = Field(default_factory=utcnow)


class ReceivedReportCategory(SQLModel, table=True):
    """Minutes of one reference category in a counted report (kept with the report).

    Rows exist only for reports that count (not deleted, proof verified) and
    carry a breakdown, so the category sums need no join.
    """

    __table_args__ = (
        Index("ix_receivedreportcategory_sums", "network_id", "key", "month", "minutes"),
    )

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="receivedreport.id", index=True, ondelete="CASCADE")
    network_id: int = Field(foreign_key="association.id", ondelete="CASCADE")
    month: str = Field(max_length=7)
    key: str = Field(max_length=64)
    minutes: int = 0


SUM_COLUMNS = (
    "minutes",
    "actions",
    "valued_cents",
    "volunteers",
    "stated",
    "totals_only_minutes",
    "reports",
)


class ReportSums(SQLModel):
    """The exact sums of some counted reports (fields of the kept-sums tables below)."""

    minutes: int = 0
    actions: int = 0
    valued_cents: int | None = None  # in euros; None when no report stated euros
    volunteers: int = 0  # over the reports that state them
    stated: int = 0  # reports that state their volunteers
    totals_only_minutes: int = 0  # minutes of the reports without a breakdown
    reports: int = 0


class NetworkMonth(ReportSums, table=True):
    """The exact sums of a network's counted reports for one month.

    Kept by ``instance.network_sums.refresh`` in the transaction of every
    report write, so the dashboard reads 60 rows for five years instead of
    summing 60,000 reports. Same figures as ``network_dashboard.Sums``.
    """

    network_id: int = Field(foreign_key="association.id", primary_key=True, ondelete="CASCADE")
    month: str = Field(max_length=7, primary_key=True)


class NetworkMemberYear(ReportSums, table=True):
    """The exact sums of one member's counted reports for one calendar year.

    Kept like ``NetworkMonth``; the dashboard by member reads one row per member
    and year for the years a period covers, and the reports only for the months
    of a year it covers in part. ``member_id`` is None once a member is deleted:
    the rows of every deleted member stay, summed under "former member".
    """

    __table_args__ = (
        Index(
            "ix_networkmemberyear_sums",
            "network_id",
            "year",
            "member_id",
            *SUM_COLUMNS,
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    network_id: int = Field(foreign_key="association.id", ondelete="CASCADE")
    member_id: int | None = Field(
        default=None, foreign_key="networkmember.id", index=True, ondelete="SET NULL"
    )
    year: str = Field(max_length=4)


class NetworkMonthCategory(SQLModel, table=True):
    """The sum of a network's category cells for one month and reference key."""

    network_id: int = Field(foreign_key="association.id", primary_key=True, ondelete="CASCADE")
    month: str = Field(max_length=7, primary_key=True)
    key: str = Field(max_length=64, primary_key=True)
    minutes: int = 0


class NetworkLink(SQLModel, table=True):
    """One of our associations' membership in a network, seen from the association."""

    __table_args__ = (UniqueConstraint("association_id", "network_uri"),)

    id: int | None = Field(default=None, primary_key=True)
    association_id: int = Field(foreign_key="association.id", index=True, ondelete="CASCADE")
    network_uri: str = Field(max_length=2048)
    follow_id: int | None = Field(default=None, foreign_key="follow.id", ondelete="SET NULL")
    status: str = Field(default="pending", max_length=16)
    anonymous: bool = False
    # Our category id -> the network's reference key (JSON object); unmapped go to "other".
    mapping: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ReportChange(SQLModel, table=True):
    """A month of an association changed: its network reports must be rebuilt."""

    id: int | None = Field(default=None, primary_key=True)
    association_id: int = Field(foreign_key="association.id", index=True, ondelete="CASCADE")
    month: str = Field(max_length=7)
    created_at: datetime = Field(default_factory=utcnow, index=True)


class SentReport(SQLModel, table=True):
    """The report we currently state to one network for one month."""

    __table_args__ = (UniqueConstraint("link_id", "month"),)

    id: int | None = Field(default=None, primary_key=True)
    object_id: str = Field(max_length=2048, unique=True)
    link_id: int = Field(foreign_key="networklink.id", index=True, ondelete="CASCADE")
    month: str = Field(max_length=7)
    figures_digest: str = Field(default="", max_length=64)
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    deleted: bool = False
    updated_at: datetime = Field(default_factory=utcnow)
    last_sent_at: datetime | None = None  # corrections: at most one Update a day
