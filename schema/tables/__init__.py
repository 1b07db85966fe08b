"""Every database table; importing this package registers them all."""

from schema.tables.accounts import ApiToken, EmailToken, Handle, Invitation, User
from schema.tables.associations import Association, Membership
from schema.tables.site import Announcement, SiteSetting

__all__ = [
    "Announcement",
    "ApiToken",
    "Association",
    "EmailToken",
    "Handle",
    "Invitation",
    "Membership",
    "SiteSetting",
    "User",
]
