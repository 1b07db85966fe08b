"""Who may do what in an association: roles and managers' granular permissions.

Owners may do everything; managers may do what their permission flags allow;
volunteers record and see their own actions only. Instance admins pass every
association check (they moderate the instance), as in Bénévalibre.
"""

from schema.tables import Membership, User
from schema.tables.associations import MANAGER_PERMISSIONS

PERMISSIONS = MANAGER_PERMISSIONS


def is_active_member(membership: Membership | None) -> bool:
    """True for a member whose place is active (not pending, refused or gone)."""
    return membership is not None and membership.status == "active"


def has_permission(user: User | None, membership: Membership | None, permission: str) -> bool:
    """True when the person holds ``permission`` in the membership's association."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")
    if user is not None and user.is_admin:
        return True
    if not is_active_member(membership):
        return False
    assert membership is not None
    if membership.role == "owner":
        return True
    if membership.role == "manager":
        return bool(getattr(membership, f"perm_{permission}"))
    return False


def is_manager(user: User | None, membership: Membership | None) -> bool:
    """True for an active manager or owner, or an instance admin."""
    if user is not None and user.is_admin:
        return True
    return (
        is_active_member(membership)
        and membership is not None
        and membership.role
        in {
            "manager",
            "owner",
        }
    )


def permission_flags(membership: Membership) -> dict[str, bool]:
    """The effective permissions of a membership, by name."""
    if membership.role == "owner":
        return dict.fromkeys(PERMISSIONS, True)
    if membership.role == "manager":
        return {name: bool(getattr(membership, f"perm_{name}")) for name in PERMISSIONS}
    return dict.fromkeys(PERMISSIONS, False)
