"""Fediverse handles: ``name@host`` (``name@host:port`` in development).

A lookup accepts ``name@host``, ``@name@host``, ``acct:name@host`` or an actor
URL (http or https; whether http may be fetched is decided by safe_http).
"""

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

MAX_LENGTH = 2048
_NAME = re.compile(r"^[A-Za-z0-9_.~-]{1,255}$")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$"
)
_IPV6 = re.compile(r"^\[[0-9a-f:.]{2,45}\]$")
_PORT = re.compile(r"^[0-9]{1,5}$")


class HandleError(ValueError):
    """The text is neither a handle nor an actor URL."""


@dataclass(frozen=True)
class Handle:
    """A user part and a host (host may carry a port)."""

    name: str
    host: str

    @property
    def acct(self) -> str:
        """The ``acct:`` URI WebFinger is asked about."""
        return f"acct:{self.name}@{self.host}"

    def __str__(self) -> str:
        return f"{self.name}@{self.host}"


def check_host(host: str) -> str:
    """The host (with an optional port), lower-cased; raise HandleError when malformed."""
    host = host.strip().lower()
    name, port = host, ""
    if host.startswith("["):
        end = host.find("]")
        name, rest = host[: end + 1], host[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise HandleError("malformed host")
            port = rest[1:]
        if not _IPV6.match(name):
            raise HandleError("malformed host")
    elif ":" in host:
        name, port = host.rsplit(":", 1)
    if not name.startswith("[") and not _HOSTNAME.match(name):
        raise HandleError("malformed host")
    if port and (not _PORT.match(port) or not 0 < int(port) < 65536):
        raise HandleError("malformed port")
    if ":" in host and not port and not name.startswith("["):
        raise HandleError("malformed port")
    return host


def parse_handle(text: str) -> Handle:
    """A handle from ``name@host``, ``@name@host`` or ``acct:name@host``; HandleError otherwise."""
    if not isinstance(text, str):
        raise HandleError("not a handle")
    text = text.strip()
    if not text or len(text) > MAX_LENGTH:
        raise HandleError("not a handle")
    if text[:5].lower() == "acct:":
        text = unquote(text[5:])
    elif text.startswith("@"):
        text = text[1:]
    if text.count("@") != 1:
        raise HandleError("a handle is name@host")
    name, host = text.split("@")
    if not _NAME.match(name):
        raise HandleError("malformed name")
    return Handle(name=name, host=check_host(host))


def parse_actor_url(text: str) -> str:
    """An absolute http(s) URL without user info; HandleError otherwise."""
    if not isinstance(text, str):
        raise HandleError("not a URL")
    text = text.strip()
    if len(text) > MAX_LENGTH or any(ch.isspace() for ch in text):
        raise HandleError("not a URL")
    parts = urlsplit(text)
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        raise HandleError("not an http(s) URL")
    if "@" in parts.netloc:
        raise HandleError("URLs with user info are refused")
    check_host(parts.netloc)
    return text


def parse_lookup(text: str) -> Handle | str:
    """What a person typed to find an actor: a Handle, or an actor URL (str)."""
    if isinstance(text, str) and text.strip().lower().startswith(("http://", "https://")):
        return parse_actor_url(text)
    return parse_handle(text)


def local_handle(domain: str, name: str) -> str:
    """The handle of one of our actors: ``name@domain``."""
    return f"{name}@{domain}"
