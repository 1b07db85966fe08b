"""Delivery rules: declared states, one backoff table, what an answer means.

A Delivery moves through declared states only (``TRANSITIONS``)::

    pending -> sent | retrying | failed | expired
    retrying -> sent | retrying | failed | expired
    failed, expired -> pending        (the instance admin's "retry")

Sent: a 2xx. Failed (permanent): 501 and any 4xx except 401, 408 and 429. Any
other answer, a timeout or a network error is retried after ``BACKOFF[n]`` (with
+/-10 % jitter; a 429's Retry-After is respected when longer) until ``EXPIRES_AFTER``
(72 h) since the delivery was queued; then it is expired and shown to the admin.
"""

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from federation import safe_http
from schema.tables import Delivery

OPEN_STATES = ("pending", "retrying")
TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"sent", "retrying", "failed", "expired"}),
    "retrying": frozenset({"sent", "retrying", "failed", "expired"}),
    "failed": frozenset({"pending"}),
    "expired": frozenset({"pending"}),
    "sent": frozenset(),
}
BACKOFF: tuple[timedelta, ...] = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(hours=12),
    timedelta(hours=24),
)
JITTER = 0.1
EXPIRES_AFTER = timedelta(hours=72)
MAX_RETRY_AFTER = timedelta(hours=24)
RETRYABLE_4XX = frozenset({401, 408, 429})
ERROR_MAX = 2000
LEASE_MARGIN = timedelta(seconds=60)  # claiming, signing and recording around the attempts


class InvalidTransition(Exception):
    """A delivery was asked to move between states that are not declared."""


def transition(delivery: Delivery, state: str, *, now: datetime) -> None:
    """Move a delivery to a new state, if that move is declared."""
    if state not in TRANSITIONS.get(delivery.state, frozenset()):
        raise InvalidTransition(f"delivery {delivery.id}: {delivery.state} -> {state}")
    delivery.state = state
    delivery.locked_until = None  # locked_by stays: the worker that handled it last
    if state in {"sent", "failed", "expired"}:
        delivery.finished_at = now
    elif state == "pending":
        delivery.finished_at = None


def backoff(attempts: int, *, rng: Callable[[], float] = random.random) -> timedelta:
    """The wait after the n-th failed attempt (n >= 1), with +/-10 % jitter."""
    base = BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]
    return base * (1 + JITTER * (2 * rng() - 1))


def classify(status: int | None) -> str:
    """ "sent", "failed" (permanent) or "retry" for a status (None: no answer)."""
    if status is None:
        return "retry"
    if 200 <= status < 300:
        return "sent"
    if status == 501 or (400 <= status < 500 and status not in RETRYABLE_4XX):
        return "failed"
    return "retry"


def retry_after(value: str | None, *, now: datetime) -> timedelta | None:
    """A Retry-After header (seconds or an HTTP date) as a wait, capped at 24 h."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        wait = timedelta(seconds=int(value[:9]))
    else:
        try:
            wait = parsedate_to_datetime(value) - now
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return max(timedelta(0), min(wait, MAX_RETRY_AFTER))


def lease(config: Any) -> timedelta:
    """How long a claimed delivery stays ours: two signed attempts plus a margin."""
    return 2 * attempt_time(config) + LEASE_MARGIN


def attempt_time(config: Any) -> timedelta:
    """The longest one attempt may take (safe_http cuts every exchange off by then)."""
    timeout = float(config.federation.request_timeout)
    return timedelta(seconds=timeout * safe_http.TOTAL_TIMEOUT_FACTOR)
