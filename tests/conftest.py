"""Shared fixtures: a fresh database per test, the app, HTTP clients, a real SMTP server."""

import os
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from argon2 import PasswordHasher
from playwright.sync_api import sync_playwright
from sqlalchemy import text
from sqlmodel import SQLModel

from instance import i18n, passwords
from instance.config import Config, build_config
from instance.mail import Mailer
from schema.db import Database, create_all, make_engine
from tests.browser import CHROMIUM_ARGS, chromium_path
from tests.live import LiveInstance, free_port
from web.app import build_services, create_app
from web.services import Services

# Accounts are hashed cheaply in the test processes: at argon2's recommended cost a
# hash or a check takes 100 ms, and the suite creates and signs in thousands of
# accounts (a third of its CPU). Servers the tests start as processes keep the real
# cost (checked by tests/test_accounts_domain.py); hashes carry their parameters.
passwords.use_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))

SECRET = "test-secret-" + "x" * 40
# Tests read the English messages; French is checked in tests/test_i18n.py and by
# the browser tests that ask for it.
ENGLISH = {"accept-language": "en"}


def worker_database_url(url: str) -> str:
    """Under pytest-xdist, each worker gets its own PostgreSQL database (created once)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker or not url.startswith("postgresql"):
        return url
    base, _, rest = url.rpartition("/")
    name, separator, query = rest.partition("?")
    own = f"{name}_{worker}"
    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        found = connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": own}
        ).first()
        if found is None:
            connection.execute(text(f'CREATE DATABASE "{own}"'))
    admin.dispose()
    return f"{base}/{own}{separator}{query}"


TEST_DATABASE_URL = worker_database_url(os.environ.get("BENEFED_TEST_DATABASE_URL", ""))


def database_url(tmp_path: Path) -> str:
    """PostgreSQL when BENEFED_TEST_DATABASE_URL is set, else a SQLite file (WAL)."""
    return TEST_DATABASE_URL or f"sqlite:///{tmp_path / 'benefed.db'}"


def make_config(tmp_path: Path, **overrides: object) -> Config:
    """A test configuration; sections are given as dicts."""
    raw: dict[str, object] = {
        "base_url": "http://testserver",
        "default_language": "en",
        "database_url": database_url(tmp_path),
        "secret_key": SECRET,
        "data_dir": str(tmp_path / "data"),
        "log_level": "warning",
        "email": {"backend": "smtp", "smtp_port": 1},
        "security": {"login_attempts": 5},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}  # type: ignore[dict-item]
        else:
            raw[key] = value
    return build_config(raw, {})


def fresh_database(url: str) -> Database:
    """An empty database with every table."""
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        SQLModel.metadata.drop_all(engine)
    create_all(engine)
    return Database(engine)


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    """Domain messages in English, as the tests read them (French has its own tests)."""
    with i18n.use_language("en"):
        yield


@dataclass
class SentMail:
    """The mails the test SMTP server received."""

    messages: list[Message] = field(default_factory=list)

    def to(self, address: str) -> list[Message]:
        """Mails sent to one address."""
        return [m for m in self.messages if address in m["To"]]

    def last_to(self, address: str) -> Message:
        """The newest mail to an address (fails the test when there is none)."""
        found = self.to(address)
        assert found, f"no mail to {address}; got {[m['To'] for m in self.messages]}"
        return found[-1]

    @staticmethod
    def body(message: Message) -> str:
        """The text of a mail."""
        payload = message.get_payload(decode=True)
        assert isinstance(payload, bytes)
        return payload.decode("utf-8")

    def link_in(self, message: Message) -> str:
        """The first link of a mail, as a path."""
        match = re.search(r"https?://[^/\s]+(/\S+)", self.body(message))
        assert match, self.body(message)
        return match.group(1)


class _Collector:
    def __init__(self, sink: SentMail) -> None:
        self.sink = sink

    async def handle_DATA(self, _server: object, _session: object, envelope: object) -> str:  # noqa: N802
        self.sink.messages.append(message_from_bytes(envelope.content))  # type: ignore[attr-defined]
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[SentMail, int]]:
    """A real SMTP server (aiosmtpd) on loopback, collecting what it receives."""
    sink = SentMail()
    port = free_port()
    controller = Controller(_Collector(sink), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


@pytest.fixture
def mail(smtp: tuple[SentMail, int]) -> SentMail:
    """The mails received by the test SMTP server."""
    return smtp[0]


@pytest.fixture
def config(tmp_path: Path, smtp: tuple[SentMail, int]) -> Config:
    """The configuration of the instance under test (mail to the test SMTP server)."""
    return make_config(tmp_path, email={"smtp_port": smtp[1]})


@pytest.fixture
def services(config: Config) -> Iterator[Services]:
    """Services of the instance under test, over a fresh database."""
    found = build_services(config, mailer=Mailer(config.email, config.site_name))
    found.db.dispose()
    found.db = fresh_database(config.database_url)
    yield found
    found.db.dispose()


@pytest.fixture
def db(services: Services) -> Database:
    """The database of the instance under test."""
    return services.db


@pytest.fixture
def app(config: Config, services: Services):  # type: ignore[no-untyped-def]
    """The application under test."""
    return create_app(config, services=services)


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    """An HTTP client talking to the app in-process."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=ENGLISH
    ) as found:
        yield found


@pytest.fixture
async def make_client(app) -> AsyncIterator:  # type: ignore[no-untyped-def]
    """A factory of further clients (several people at once)."""
    clients: list[httpx.AsyncClient] = []

    def factory() -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        made = httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=ENGLISH)
        clients.append(made)
        return made

    yield factory
    for made in clients:
        await made.aclose()


@pytest.fixture
def live(tmp_path: Path, smtp: tuple[SentMail, int]) -> Iterator[Callable[..., LiveInstance]]:
    """Start real instances (`benefed serve` on 127.0.0.1); all stop after the test."""
    started: list[LiveInstance] = []

    def start(name: str = "a", **settings: str) -> LiveInstance:
        instance = LiveInstance(tmp_path / name, smtp_port=smtp[1], settings=settings)
        started.append(instance.start())
        return instance

    yield start
    for instance in started:
        instance.stop()


@pytest.fixture
def chromium() -> Iterator[Any]:
    """A headless Debian Chromium driven by Playwright."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
