"""The application factory: everything is built here, nothing at import time."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware

from federation.worker import run_worker
from instance.config import Config
from instance.errors import DomainError
from instance.mail import Mailer
from instance.ratelimit import RateLimiter
from schema.db import Database, make_engine
from web.after_response import AfterResponseMiddleware
from web.auth import TokenUseMiddleware
from web.errors import domain_error, http_error, server_error
from web.mail_rounds import run_mail_rounds
from web.middleware import BodyLimitMiddleware, LanguageMiddleware, SecurityHeadersMiddleware
from web.negotiation import ActivityPubNegotiation
from web.routes import build_routes
from web.services import Services

log = logging.getLogger("benefed")
WORKER_STOP_SECONDS = 5.0


def build_services(config: Config, *, mailer: Mailer | None = None) -> Services:
    """The long-lived parts of an instance: database, mailer, limits."""
    security = config.security
    return Services(
        config=config,
        db=Database(make_engine(config.database_url)),
        mailer=mailer or Mailer(config.email, config.site_name),
        login_limiter=RateLimiter(security.login_attempts, security.login_window_seconds),
    )


def create_app(config: Config, *, services: Services | None = None) -> Starlette:
    """Build the Starlette application of one instance."""
    found = services or build_services(config)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        stop, worker = asyncio.Event(), None
        if config.federation.enabled and config.federation.run_worker_in_server:
            worker = asyncio.create_task(run_worker(found.db, config, stop=stop))
        mail = asyncio.create_task(run_mail_rounds(found, stop))
        yield
        stop.set()
        for task in (worker, mail):
            if task is not None:
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(task, WORKER_STOP_SECONDS)
        found.db.dispose()

    middleware = [
        Middleware(SecurityHeadersMiddleware),
        Middleware(
            BodyLimitMiddleware,
            max_bytes=config.security.max_body_bytes,
            inbox_max_bytes=config.federation.max_body_bytes,
        ),
        Middleware(ActivityPubNegotiation),
        Middleware(
            SessionMiddleware,
            secret_key=config.secret_key,
            session_cookie="benefed_session",
            max_age=config.security.session_max_age,
            same_site="lax",
            https_only=config.secure_cookies,
        ),
        Middleware(LanguageMiddleware, config=config),
        # Stamps an API token's last use (at most once a minute) after a read went through.
        Middleware(TokenUseMiddleware),
        # Mail a view asked for (web.pending_mail), sent once its response is.
        Middleware(AfterResponseMiddleware),
    ]
    app = Starlette(
        routes=build_routes(),
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={
            HTTPException: http_error,
            DomainError: domain_error,
            Exception: server_error,
        },
    )
    app.state.services = found
    return app
