"""Shared by the action pages: who records (Actor), the manager's links, redirects."""

from dataclasses import dataclass

from sqlmodel import Session, col, select
from starlette.responses import RedirectResponse

from instance.action_rules import Caller
from instance.i18n import N_, _
from schema.tables import Action, Association, Membership, User

STATUS_LABELS = {
    "validated": N_("Validated"),
    "pending": N_("Waiting for validation"),
    "refused": N_("Refused"),
}


@dataclass(frozen=True)
class Actor:
    """Who records: a signed-in person, or the holder of an access link."""

    user: User | None
    link: Membership | None = None

    @property
    def source(self) -> str:
        """How actions recorded by this actor are marked."""
        return "access_link" if self.link is not None else "web"

    def url(self, association: Association, page: str, action_id: int | None = None) -> str:
        """The address of one of the actor's pages."""
        if self.link is not None:
            base = "/access"
            pages = {"list": base, "new": f"{base}/new", "repeat": f"{base}/repeat"}
            own = f"{base}/actions/{action_id}"
        else:
            base = f"/associations/{association.slug}/actions"
            pages = {"list": base, "new": f"{base}/new", "repeat": f"{base}/repeat"}
            own = f"/actions/{action_id}"
        pages.update({"show": own, "edit": f"{own}/edit", "delete": f"{own}/delete"})
        return pages[page]


def manage_links(association: Association, caller: Caller) -> list[tuple[str, str]]:
    """The management pages of the association this person may open."""
    base = f"/associations/{association.slug}"
    links: list[tuple[str, str]] = []
    if caller.may_view_all:
        links.append((f"{base}/actions", _("All actions")))
    if caller.may_edit_all:
        links.append((f"{base}/actions/pending", _("Validation")))
        links.append((f"{base}/actions/group", _("Group entry")))
        links.append((f"{base}/actions/import", _("Import")))
    if caller.may_view_all:
        links.append((f"{base}/stats", _("Statistics")))
        links.append((f"{base}/stats/accounting", _("Accounting")))
    if caller.may("manage_members"):
        links.append((f"{base}/access-links", _("Access links")))
    if caller.may("manage_settings"):
        links.append((f"{base}/categories", _("Categories")))
        links.append((f"{base}/projects", _("Projects")))
        links.append((f"{base}/levels", _("Levels and rates")))
        links.append((f"{base}/rules", _("Rules")))
    return links


def redirect(url: str) -> RedirectResponse:
    """A 303 redirect (after a form)."""
    return RedirectResponse(url, status_code=303)


def status_label(status: str) -> str:
    """An action's status for people."""
    return _(STATUS_LABELS.get(status, status))


def last_action(session: Session, membership: Membership | None) -> Action | None:
    """The action most recently recorded for a membership."""
    if membership is None:
        return None
    query = (
        select(Action)
        .where(Action.membership_id == membership.id)
        .order_by(col(Action.created_at).desc(), col(Action.id).desc())
        .limit(1)
    )
    return session.exec(query).first()
