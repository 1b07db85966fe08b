"""Managers told of actions waiting for their validation, once the response is sent."""

from collections.abc import Iterable
from functools import partial

from starlette.requests import Request

from instance import action_mails
from instance.mail import Mailer
from schema.db import Database
from schema.tables import Action
from web.after_response import later
from web.services import services


def notify_pending(request: Request, changed: Iterable[Action]) -> None:
    """When an action waits for validation, send the managers' grouped digests after the response.

    The digests wait for a quiet period and group what is due (see
    instance/action_mails.py), so one call per change sends at most one mail per manager.
    """
    if not any(action.status == "pending" for action in changed):
        return
    found = services(request)
    later(request, partial(send_digests, found.db, found.mailer, found.config.base_url))


def send_digests(db: Database, mailer: Mailer, base_url: str) -> None:
    """Send the digests that are due (in the thread pool: mail goes over the network)."""
    with db.write() as session:
        mails = action_mails.pending_digests(session, base_url=base_url)
    mailer.send(*mails)
