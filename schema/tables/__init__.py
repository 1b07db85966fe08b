"""Every database table; importing this package registers them all."""

from schema.tables.accounts import ApiToken, EmailToken, Handle, Invitation, User
from schema.tables.actions import (
    Action,
    ActionEvent,
    Category,
    Level,
    LevelRate,
    Project,
    Rollup,
)
from schema.tables.associations import Association, Membership
from schema.tables.consolidation import ReceivedSummary, SentSummary, SummaryChange
from schema.tables.federation import (
    ActorKey,
    Block,
    Delivery,
    Follow,
    InboxItem,
    MonthlyNote,
    OutboxActivity,
    PeerHost,
    PublicNote,
    RemoteActor,
)
from schema.tables.networks import (
    NetworkLink,
    NetworkMember,
    NetworkProfile,
    ReceivedReport,
    ReceivedReportCategory,
    ReferenceCategory,
    ReportChange,
    SentReport,
)
from schema.tables.site import Announcement, SiteSetting

__all__ = [
    "Action",
    "ActionEvent",
    "Category",
    "Level",
    "LevelRate",
    "Project",
    "Rollup",
    "ActorKey",
    "Block",
    "Delivery",
    "Follow",
    "InboxItem",
    "MonthlyNote",
    "OutboxActivity",
    "PeerHost",
    "PublicNote",
    "RemoteActor",
    "Announcement",
    "ApiToken",
    "Association",
    "EmailToken",
    "Handle",
    "Invitation",
    "Membership",
    "NetworkLink",
    "NetworkMember",
    "NetworkProfile",
    "ReceivedReport",
    "ReceivedReportCategory",
    "ReferenceCategory",
    "ReportChange",
    "SentReport",
    "ReceivedSummary",
    "SentSummary",
    "SummaryChange",
    "SiteSetting",
    "User",
]
