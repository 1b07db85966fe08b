"""A small in-memory sliding-window counter (failed logins)."""

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable


class RateLimiter:
    """Counts events per key over a window and says when a key has had too many."""

    def __init__(
        self, limit: int, window_seconds: float, clock: Callable[[], float] = time.monotonic
    ):
        self.limit = limit
        self.window = window_seconds
        self.clock = clock
        self._events: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _prune(self, key: str, now: float) -> deque[float]:
        events = self._events[key]
        while events and events[0] <= now - self.window:
            events.popleft()
        return events

    def blocked(self, key: str) -> bool:
        """True when the key has reached its limit within the window."""
        with self._lock:
            return len(self._prune(key, self.clock())) >= self.limit

    def hit(self, key: str) -> None:
        """Count one event for the key."""
        with self._lock:
            now = self.clock()
            self._prune(key, now).append(now)

    def reset(self, key: str) -> None:
        """Forget the key's events (after a successful login)."""
        with self._lock:
            self._events.pop(key, None)
