"""The periodic round of waiting mail (instance/waiting_mail.py), run by the server."""

import asyncio
import contextlib
import logging

from instance.waiting_mail import send_waiting_mail
from web.services import Services

logger = logging.getLogger("benefed.mail")


async def run_mail_rounds(found: Services, stop: asyncio.Event) -> None:
    """A round now, then one every ``email.jobs_every_seconds``, until ``stop`` is set.

    Every worker process runs its rounds; a round claims what it sends, so two
    processes never send the same mail.
    """
    every = found.config.email.jobs_every_seconds
    while not stop.is_set():
        try:
            await asyncio.to_thread(
                send_waiting_mail, found.db, found.mailer, base_url=found.config.base_url
            )
        except Exception:  # the next round tries again
            logger.exception("the round of waiting mail failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
