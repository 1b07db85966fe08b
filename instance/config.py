"""The instance's configuration: read from a TOML file, overridden by environment.

Every setting has a default, a type and a one-line description here; the example
file ``instance.example.toml`` documents the same keys (a test keeps them in step).
Environment variables are ``BENEFED_<KEY>`` for top-level keys and
``BENEFED_<SECTION>_<KEY>`` for keys of a section.
"""

import dataclasses
import os
import tomllib
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_CONFIG_PATH = "instance.toml"
ENV_PREFIX = "BENEFED_"


class ConfigError(Exception):
    """A setting is missing or wrong; the message names it."""


@dataclass(frozen=True)
class EmailConfig:
    #: Sender address of every email the instance sends.
    from_address: str = "benefed@localhost"
    #: SMTP server host.
    smtp_host: str = "127.0.0.1"
    #: SMTP server port.
    smtp_port: int = 25
    #: SMTP user name; empty for none.
    smtp_username: str = ""
    #: SMTP password; empty for none.
    smtp_password: str = ""
    #: Transport security: "none", "starttls" or "tls".
    smtp_security: str = "none"
    #: Seconds before giving up on the SMTP server.
    smtp_timeout: float = 10.0
    #: Where mails go: "smtp" sends them, "log" only writes them to the log.
    backend: str = "smtp"
    #: Seconds between two rounds of the mails that wait for a moment (managers'
    #: digests held back by their quiet period, reminders to record one's actions).
    jobs_every_seconds: float = 60.0


@dataclass(frozen=True)
class FederationConfig:
    #: Whether this instance talks ActivityPub at all.
    enabled: bool = True
    #: Allow plain http and loopback or private addresses (tests, local demo only).
    allow_private: bool = False
    #: Largest inbox body accepted, in bytes (larger ones get 413).
    max_body_bytes: int = 1_048_576
    #: Allowed clock difference for signed requests, in seconds.
    signature_skew_seconds: int = 3600
    #: Run the delivery worker inside ``benefed serve``.
    run_worker_in_server: bool = True
    #: Deliveries in flight at once to one host.
    per_host_concurrency: int = 4
    #: Seconds before giving up on one outgoing request.
    request_timeout: float = 10.0


@dataclass(frozen=True)
class SecurityConfig:
    #: Failed logins allowed per account and address within the window.
    login_attempts: int = 10
    #: Window for counting failed logins, in seconds.
    login_window_seconds: int = 900
    #: Lifetime of a login session, in seconds.
    session_max_age: int = 14 * 24 * 3600
    #: Largest request body accepted by forms and the API, in bytes.
    max_body_bytes: int = 2_097_152


@dataclass(frozen=True)
class Config:
    #: Public URL of the instance, e.g. "https://benevoles.example.org".
    base_url: str = "http://127.0.0.1:8000"
    #: Database URL: "sqlite:///benefed.db" or "postgresql://user:pass@host/db".
    database_url: str = "sqlite:///benefed.db"
    #: Secret used to sign cookies and encrypt keys at rest (keep it secret).
    secret_key: str = ""
    #: Name shown in page titles and emails.
    site_name: str = "Benefed"
    #: Time zone deciding "today", month boundaries and what is in the future.
    timezone: str = "Europe/Paris"
    #: Language used when the person has not chosen one.
    default_language: str = "fr"
    #: Languages offered.
    languages: tuple[str, ...] = ("fr", "en")
    #: Who may sign up: "open", "invitation" or "closed".
    registration: str = "open"
    #: Whether any signed-in person may create an association.
    association_creation_open: bool = True
    #: Folder for uploaded files (association logos).
    data_dir: str = "data"
    #: Log level: "debug", "info", "warning" or "error".
    log_level: str = "info"
    email: EmailConfig = field(default_factory=EmailConfig)
    federation: FederationConfig = field(default_factory=FederationConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)

    @property
    def domain(self) -> str:
        """Host (and port, when not the default one) of the base URL."""
        return urlsplit(self.base_url).netloc

    @property
    def secure_cookies(self) -> bool:
        """Cookies are marked Secure whenever the instance is served over https."""
        return self.base_url.startswith("https://")

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The instance's time zone."""
        return zoneinfo.ZoneInfo(self.timezone)


SECTIONS: dict[str, type] = {
    "email": EmailConfig,
    "federation": FederationConfig,
    "security": SecurityConfig,
}


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    require_file: bool = True,
) -> Config:
    """Read the configuration file, apply environment overrides, validate."""
    env = os.environ if environ is None else environ
    chosen = Path(path or env.get("BENEFED_CONFIG") or DEFAULT_CONFIG_PATH)
    raw: dict[str, Any] = {}
    if chosen.exists():
        try:
            raw = tomllib.loads(chosen.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{chosen}: not valid TOML ({error})") from None
    elif require_file and not any(
        key.startswith(ENV_PREFIX) for key in env if key != "BENEFED_CONFIG"
    ):
        raise ConfigError(f"{chosen}: configuration file not found (run 'benefed init')")
    return build_config(raw, env)


def build_config(raw: Mapping[str, Any], environ: Mapping[str, str]) -> Config:
    """Make a Config from parsed TOML plus BENEFED_* variables; raise ConfigError."""
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name in SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"[{name}]: must be a table")
            values[name] = _section(SECTIONS[name], name, value, environ)
        elif name in _field_types(Config):
            values[name] = _coerce(Config, name, name, value)
        else:
            raise ConfigError(f"{name}: unknown setting")
    for name, section in SECTIONS.items():
        if name not in values:
            values[name] = _section(section, name, {}, environ)
    for name in _field_types(Config):
        if name in SECTIONS:
            continue
        env_value = environ.get(ENV_PREFIX + name.upper())
        if env_value is not None:
            values[name] = _coerce(Config, name, ENV_PREFIX + name.upper(), env_value)
    config = Config(**values)
    validate(config)
    return config


def _section(cls: type, section: str, raw: Mapping[str, Any], environ: Mapping[str, str]) -> Any:
    values: dict[str, Any] = {}
    types = _field_types(cls)
    for name, value in raw.items():
        if name not in types:
            raise ConfigError(f"{section}.{name}: unknown setting")
        values[name] = _coerce(cls, name, f"{section}.{name}", value)
    for name in types:
        env_name = f"{ENV_PREFIX}{section.upper()}_{name.upper()}"
        if env_name in environ:
            values[name] = _coerce(cls, name, env_name, environ[env_name])
    return cls(**values)


def _field_types(cls: type) -> dict[str, Any]:
    return {f.name: f.type for f in dataclasses.fields(cls)}


def _coerce(cls: type, name: str, label: str, value: Any) -> Any:
    kind = _field_types(cls)[name]
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"1", "true", "yes", "on"}:
            return True
        if isinstance(value, str) and value.lower() in {"0", "false", "no", "off", ""}:
            return False
        raise ConfigError(f"{label}: expected true or false, got {value!r}")
    if kind is int or kind is float:
        if isinstance(value, bool):
            raise ConfigError(f"{label}: expected a number, got {value!r}")
        try:
            return kind(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{label}: expected a number, got {value!r}") from None
    if kind == tuple[str, ...]:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise ConfigError(f"{label}: expected a list of strings")
        return tuple(item.strip() for item in items if item.strip())
    if not isinstance(value, str):
        raise ConfigError(f"{label}: expected a string, got {value!r}")
    return value


CHOICES = {
    "registration": {"open", "invitation", "closed"},
    "log_level": {"debug", "info", "warning", "error"},
}


def validate(config: Config) -> None:
    """Check values that types alone cannot; raise ConfigError naming the setting."""
    parts = urlsplit(config.base_url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ConfigError(f"base_url: expected an http(s) URL, got {config.base_url!r}")
    if parts.path not in {"", "/"} or parts.query:
        raise ConfigError("base_url: must have no path or query (serve Benefed at a domain root)")
    if not config.database_url.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:")):
        raise ConfigError("database_url: expected a sqlite:/// or postgresql:// URL")
    if len(config.secret_key) < 32:
        raise ConfigError("secret_key: missing or shorter than 32 characters (run 'benefed init')")
    for name, allowed in CHOICES.items():
        if getattr(config, name) not in allowed:
            raise ConfigError(f"{name}: expected one of {', '.join(sorted(allowed))}")
    try:
        zoneinfo.ZoneInfo(config.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"timezone: unknown time zone {config.timezone!r}") from None
    if not config.languages or config.default_language not in config.languages:
        raise ConfigError("default_language: must be one of languages")
    unknown = set(config.languages) - {"fr", "en"}
    if unknown:
        raise ConfigError(f"languages: no translation for {', '.join(sorted(unknown))}")
    if config.email.smtp_security not in {"none", "starttls", "tls"}:
        raise ConfigError("email.smtp_security: expected none, starttls or tls")
    if config.email.backend not in {"smtp", "log"}:
        raise ConfigError("email.backend: expected smtp or log")
    if not 0 < config.email.jobs_every_seconds <= 86_400:
        raise ConfigError("email.jobs_every_seconds: expected a number of seconds up to 86400")
    if config.federation.max_body_bytes < 1024 or config.security.max_body_bytes < 1024:
        raise ConfigError("max_body_bytes: must be at least 1024")
