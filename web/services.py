"""What the application holds for its lifetime, reachable from every request."""

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection

from instance.config import Config
from instance.mail import Mailer
from instance.ratelimit import RateLimiter
from schema.db import Database


@dataclass
class Services:
    """The configuration, database, mailer and limits of one running instance."""

    config: Config
    db: Database
    mailer: Mailer
    login_limiter: RateLimiter
    extras: dict[str, Any] = field(default_factory=dict)


def services(connection: HTTPConnection) -> Services:
    """The services of the app serving this request."""
    found: Services = connection.app.state.services
    return found
