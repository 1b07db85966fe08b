"""Emails about actions: grouped digests for managers, decisions for volunteers.

These functions only build mails (and mark what they announce); the caller sends
them once its transaction is committed. Each mail is in its reader's language.
"""

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlmodel import Session, col, func, or_, select

from instance.i18n import _, ngettext, use_language
from instance.mail import Mail
from instance.summaries import volunteer_labels
from instance.valuation import duration_text
from schema.tables import Action, Association, Category, Membership, User
from schema.tables._base import utcnow

#: An association's managers get at most one digest in this time.
QUIET_PERIOD = timedelta(minutes=10)
MAX_LISTED = 30


def _quiet(session: Session, association_id: int, since: datetime) -> bool:
    query = select(func.max(Action.notified_at)).where(
        Action.association_id == association_id, Action.status == "pending"
    )
    last = session.exec(query).first()
    if last is None:
        return False
    if last.tzinfo is None:
        last = last.replace(tzinfo=since.tzinfo)
    return last > since


def _validators(session: Session, association_id: int) -> list[User]:
    query = (
        select(User)
        .join(Membership, col(Membership.user_id) == col(User.id))
        .where(
            Membership.association_id == association_id,
            Membership.status == "active",
            or_(
                Membership.role == "owner",
                (Membership.role == "manager") & col(Membership.perm_edit_actions),
            ),
            col(User.is_suspended).is_(False),
        )
    )
    return list(session.exec(query).all())


def pending_digests(
    session: Session,
    *,
    base_url: str,
    now: datetime | None = None,
    quiet_period: timedelta = QUIET_PERIOD,
) -> list[Mail]:
    """One mail per manager listing the pending actions not announced yet; marks them announced.

    An association whose managers got a digest within ``quiet_period`` waits for
    a later call (a periodic job, or the next action), so mails stay grouped.
    """
    now = now or utcnow()
    query = select(Action).where(Action.status == "pending", col(Action.notified_at).is_(None))
    waiting: dict[int, list[Action]] = defaultdict(list)
    for action in session.exec(query.order_by(col(Action.date), col(Action.id))):
        waiting[action.association_id].append(action)
    per_manager: dict[int, tuple[User, list[tuple[Association, list[Action]]]]] = {}
    for association_id, actions in waiting.items():
        if quiet_period and _quiet(session, association_id, now - quiet_period):
            continue
        association = session.get(Association, association_id)
        assert association is not None
        for manager in _validators(session, association_id):
            assert manager.id is not None
            per_manager.setdefault(manager.id, (manager, []))[1].append((association, actions))
        for action in actions:
            action.notified_at = now
            session.add(action)
    session.flush()
    return [
        _digest(session, manager, batches, base_url) for manager, batches in per_manager.values()
    ]


def _lines(session: Session, actions: list[Action]) -> list[str]:
    names = volunteer_labels(session, [action.membership_id for action in actions])
    categories = dict(
        session.exec(
            select(Category.id, Category.name).where(
                col(Category.id).in_({action.category_id for action in actions})
            )
        ).all()
    )
    lines = [
        f"- {action.date.isoformat()} · {names.get(action.membership_id, '')} · "
        f"{duration_text(action.minutes)} · {categories.get(action.category_id, '')}"
        + (f" · {action.title}" if action.title else "")
        for action in actions[:MAX_LISTED]
    ]
    if len(actions) > MAX_LISTED:
        rest = len(actions) - MAX_LISTED
        lines.append(
            ngettext("… and {count} more.", "… and {count} more.", rest).format(count=rest)
        )
    return lines


def _digest(
    session: Session,
    manager: User,
    batches: list[tuple[Association, list[Action]]],
    base_url: str,
) -> Mail:
    total = sum(len(actions) for _association, actions in batches)
    with use_language(manager.language):
        parts = [
            _("Hello {name},").format(name=manager.display_name or manager.username),
            ngettext(
                "{count} action is waiting for your validation.",
                "{count} actions are waiting for your validation.",
                total,
            ).format(count=total),
        ]
        for association, actions in batches:
            parts.append(
                "\n".join(
                    [
                        f"{association.name}:",
                        *_lines(session, actions),
                        _("To validate or refuse them: {link}").format(
                            link=f"{base_url}/associations/{association.slug}/actions/pending"
                        ),
                    ]
                )
            )
        return Mail(
            to=manager.email,
            subject=_("Actions waiting for validation"),
            body="\n\n".join(parts) + "\n",
        )


def decision_mails(
    session: Session, *, actions: Iterable[Action], base_url: str, decided_by: User | None = None
) -> list[Mail]:
    """One mail per volunteer telling which of their actions were validated or refused."""
    by_member: dict[int, list[Action]] = defaultdict(list)
    for action in actions:
        by_member[action.membership_id].append(action)
    mails = []
    for membership_id, decided in by_member.items():
        member = session.get(Membership, membership_id)
        author = session.get(User, member.user_id) if member and member.user_id else None
        if author is None or author.is_suspended:
            continue
        if decided_by is not None and author.id == decided_by.id:
            continue
        association = session.get(Association, decided[0].association_id)
        assert association is not None
        mails.append(_decision_mail(session, author, association, decided, base_url))
    return mails


def _decision_mail(
    session: Session, author: User, association: Association, actions: list[Action], base_url: str
) -> Mail:
    with use_language(author.language):
        parts = [_("Hello {name},").format(name=author.display_name or author.username)]
        validated = [action for action in actions if action.status == "validated"]
        refused = [action for action in actions if action.status == "refused"]
        if validated:
            parts.append(
                "\n".join(
                    [
                        _("{association} validated these actions:").format(
                            association=association.name
                        ),
                        *_lines(session, validated),
                    ]
                )
            )
        for action in refused:
            parts.append(
                "\n".join(
                    [
                        _("{association} refused this action:").format(
                            association=association.name
                        ),
                        *_lines(session, [action]),
                        _("Reason: {reason}").format(reason=action.refusal_reason),
                    ]
                )
            )
        parts.append(
            _("Your actions: {link}").format(
                link=f"{base_url}/associations/{association.slug}/actions"
            )
        )
        if refused and not validated:
            subject = _("An action was refused")
        elif refused:
            subject = _("Your actions were reviewed")
        else:
            subject = _("Your actions were validated")
        return Mail(to=author.email, subject=subject, body="\n\n".join(parts) + "\n")
