"""A signed inbound HTTP request, framework-free, and the checks that need no key.

``IncomingRequest`` is what verification reads of a request (web/ builds it);
``precheck`` refuses a request out of its time window (Date or created, within
the allowed skew) or whose body does not match its Digest / Content-Digest,
before any key is fetched. ``Refused`` carries the status to answer (401, or
403 when blocked) and why. Who signed the request, and whether their key
verifies it, is federation/verification.py.
"""

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from federation import rfc9421, signatures


class Refused(Exception):
    """The request is refused: ``status`` 401 (not verified) or 403 (blocked), and why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class IncomingRequest:
    """What verification needs of an HTTP request, framework-free."""

    method: str
    path_with_query: str
    headers: Mapping[str, str]
    body: bytes
    scheme: str = "https"
    fields: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", signatures.lower_headers(self.headers))

    @property
    def target_uri(self) -> str:
        """The URI the sender aimed at, as RFC 9421's @target-uri sees it."""
        return f"{self.scheme}://{self.fields.get('host', '')}{self.path_with_query}"

    @property
    def is_rfc9421(self) -> bool:
        """True when signed with RFC 9421 (a Signature-Input header)."""
        return "signature-input" in self.fields


def _digest_matches(value: str, body: bytes) -> bool:
    expected = hashlib.sha256(body).digest()
    for part in value.split(","):
        name, _, encoded = part.strip().partition("=")
        if name.lower() == "sha-256":
            try:
                given = base64.b64decode(encoded.strip().strip(":"), validate=True)
            except ValueError:
                return False
            return hmac.compare_digest(given, expected)
    return False


def _http_date(value: str | None) -> datetime:
    if not value:
        raise ValueError("date is signed but the Date header is missing")
    moment = parsedate_to_datetime(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _created_moments(request: IncomingRequest) -> list[datetime]:
    fields = request.fields
    if request.is_rfc9421:
        return [datetime.fromtimestamp(rfc9421.parse_message_signature(fields).created, UTC)]
    parsed = signatures.parse_signature_header(signatures.signature_value(fields))
    moments = []
    if "(created)" in parsed.headers and parsed.created is not None:
        moments.append(datetime.fromtimestamp(parsed.created, UTC))
    if "date" in parsed.headers:
        moments.append(_http_date(fields.get("date")))
    return moments


def key_id(request: IncomingRequest) -> str:
    """The key a request says it is signed with (Refused 401 when unsigned or malformed)."""
    fields = request.fields
    if not request.is_rfc9421 and "signature" not in fields:
        if not fields.get("authorization", "").lower().startswith("signature "):
            raise Refused(401, "the request is not signed")
    try:
        if request.is_rfc9421:
            return rfc9421.key_id_of(fields)
        return signatures.key_id_of(fields)
    except signatures.SignatureError as error:
        raise Refused(401, f"malformed signature: {error}") from None


def precheck(request: IncomingRequest, *, now: datetime, skew: int) -> None:
    """Time window and body digest, before any key is fetched (Refused 401)."""
    try:
        moments = _created_moments(request)
        if not moments:
            raise Refused(401, "neither Date nor created is signed")
        for moment in moments:
            signatures.check_time_window(moment, None, now, skew)
    except (signatures.SignatureError, OverflowError, OSError, ValueError, TypeError) as error:
        raise Refused(401, f"signature time: {error}") from None
    if request.method.upper() in {"GET", "HEAD"}:
        return
    name = "content-digest" if request.is_rfc9421 else "digest"
    if not _digest_matches(request.fields.get(name, ""), request.body):
        raise Refused(401, f"the {name} header does not match the body")
