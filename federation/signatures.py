"""Draft-cavage HTTP signatures (what Mastodon and most of the fediverse speak), as pure functions.

No I/O and no clock: the caller passes the request parts, the key and ``now``. The
time window follows Mastodon: a signature dated more than ``max_skew_seconds`` in
the future is refused, and so is one past its expiry (``(expires)`` when signed,
else five minutes after creation, capped at twelve hours) plus ``max_skew_seconds``.
"""

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from functools import lru_cache
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ACCEPTED_ALGORITHMS = frozenset({"rsa-sha256", "hs2019"})
SIGNING_ALGORITHM = "rsa-sha256"
POST_HEADERS = ("(request-target)", "host", "date", "digest", "content-type")
GET_HEADERS = ("(request-target)", "host", "date")
DEFAULT_CONTENT_TYPE = "application/activity+json"
BODYLESS_METHODS = frozenset({"GET", "HEAD"})
MAX_SKEW_SECONDS = 3600
DEFAULT_LIFETIME = timedelta(minutes=5)
LIFETIME_CAP = timedelta(hours=12)
DEFAULT_PORTS = {"http": 80, "https": 443}

_PARAM = re.compile(r'\s*([A-Za-z]+)\s*=\s*("[^"]*"|[0-9.]+)\s*(?:,|$)')


class SignatureError(Exception):
    """An HTTP signature is missing, malformed, too weak, outside its time window or wrong."""


@dataclass(frozen=True)
class ParsedSignature:
    """The parameters of a cavage ``Signature`` header."""

    key_id: str
    algorithm: str | None
    headers: tuple[str, ...]
    signature: bytes
    created: int | None = None
    expires: int | None = None


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names lower-cased; repeated fields joined with ', ' as HTTP combines them."""
    combined: dict[str, list[str]] = {}
    for name, value in headers.items():
        combined.setdefault(name.lower(), []).append(value.strip())
    return {name: ", ".join(values) for name, values in combined.items()}


def utc(moment: datetime) -> datetime:
    """The moment in UTC; ValueError for a naive datetime (the clock must say its zone)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a timezone-aware datetime is required")
    return moment.astimezone(UTC)


def http_date(moment: datetime) -> str:
    """The IMF-fixdate form of a moment, e.g. 'Sun, 06 Nov 1994 08:49:37 GMT'."""
    return format_datetime(utc(moment).replace(microsecond=0), usegmt=True)


def authority(url: str) -> str:
    """The Host value of a URL: lower-case host, with the port only when not the default."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError(f"URL without a host: {url!r}")
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is not None and port != DEFAULT_PORTS.get(parts.scheme.lower()):
        return f"{host}:{port}"
    return host


def request_target(url: str) -> str:
    """The path and query of a URL, as sent on the request line ('/' for an empty path)."""
    parts = urlsplit(url)
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def carries_body(method: str, body: bytes | None) -> bool:
    """True when the request is signed with a body digest (every method but GET and HEAD)."""
    if method.upper() in BODYLESS_METHODS:
        if body:
            raise ValueError(f"a {method.upper()} request carries no body")
        return False
    return True


def digest_header(body: bytes) -> str:
    """The ``Digest`` header of a body: 'SHA-256=<base64>'."""
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def rsa_sign(private_key: rsa.RSAPrivateKey, data: bytes) -> bytes:
    """An RSASSA-PKCS1-v1_5 SHA-256 signature."""
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise TypeError("HTTP signatures need an RSA private key")
    return private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def rsa_verify(public_key: object, signature: bytes, data: bytes) -> None:
    """Check an RSASSA-PKCS1-v1_5 SHA-256 signature; SignatureError when it does not hold."""
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise SignatureError("the signer's key is not an RSA key")
    try:
        public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as error:
        raise SignatureError("signature does not match the request") from error


def check_time_window(
    created: datetime, expires: datetime | None, now: datetime, max_skew_seconds: int
) -> None:
    """Refuse a signature created too far in the future or past its expiry plus the skew."""
    skew = timedelta(seconds=max_skew_seconds)
    created, now = utc(created), utc(now)
    if created > now + skew:
        raise SignatureError(f"signature is dated more than {max_skew_seconds} s in the future")
    deadline = utc(expires) if expires is not None else created + DEFAULT_LIFETIME
    deadline = min(deadline, created + LIFETIME_CAP)
    if now > deadline + skew:
        raise SignatureError("signature has expired")


def sign_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    key_id: str,
    private_key: rsa.RSAPrivateKey,
    now: datetime,
) -> dict[str, str]:
    """The headers to add to a request to sign it (Date, Host, Digest and Content-Type, Signature)."""
    fields = lower_headers(headers)
    added = {"Date": http_date(now), "Host": authority(url)}
    values = {"host": added["Host"], "date": added["Date"]}
    names = GET_HEADERS
    if carries_body(method, body):
        names = POST_HEADERS
        added["Digest"] = values["digest"] = digest_header(body or b"")
        values["content-type"] = fields.get("content-type", DEFAULT_CONTENT_TYPE)
        if "content-type" not in fields:
            added["Content-Type"] = DEFAULT_CONTENT_TYPE
    values["(request-target)"] = f"{method.lower()} {request_target(url)}"
    text = "\n".join(f"{name}: {values[name]}" for name in names)
    signature = base64.b64encode(rsa_sign(private_key, text.encode("latin-1"))).decode("ascii")
    added["Signature"] = (
        f'keyId="{key_id}",algorithm="{SIGNING_ALGORITHM}",'
        f'headers="{" ".join(names)}",signature="{signature}"'
    )
    return added


def _integer(name: str, raw: str | None) -> int | None:
    try:
        return None if raw is None else int(float(raw))
    except (ValueError, OverflowError) as error:
        raise SignatureError(f"signature parameter {name} is not a number") from error


def _split_params(value: str) -> dict[str, str]:
    params: dict[str, str] = {}
    position, end = 0, len(value.rstrip())
    while position < end:
        match = _PARAM.match(value, position)
        if match is None or match.group(1) in params:
            raise SignatureError("malformed Signature header (bad or repeated parameter)")
        raw = match.group(2)
        params[match.group(1)] = raw[1:-1] if raw.startswith('"') else raw
        position = match.end()
    return params


def _decode_b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as error:
        raise SignatureError(f"{what} is not valid base64") from error


@lru_cache(maxsize=256)  # the inbox reads each header three times (key id, time, verify)
def parse_signature_header(value: str) -> ParsedSignature:
    """The parameters of a ``Signature`` header value; SignatureError when malformed."""
    params = _split_params(value)
    if not params.get("keyId") or not params.get("signature"):
        raise SignatureError("Signature header needs keyId and signature")
    algorithm = params.get("algorithm")
    default = "(created)" if algorithm in (None, "hs2019") else "date"
    names = params.get("headers", default).lower().split()
    return ParsedSignature(
        key_id=params["keyId"],
        algorithm=algorithm,
        headers=tuple(names),
        signature=_decode_b64(params["signature"], "signature"),
        created=_integer("created", params.get("created")),
        expires=_integer("expires", params.get("expires")),
    )


def signature_value(fields: Mapping[str, str]) -> str:
    """The Signature header's value (or an ``Authorization: Signature`` one's)."""
    if "signature" in fields:
        return fields["signature"]
    scheme, _, rest = fields.get("authorization", "").partition(" ")
    if scheme.lower() == "signature" and rest:
        return rest
    raise SignatureError("request has no Signature header")


def key_id_of(headers: Mapping[str, str]) -> str:
    """The keyId of a request's signature, read before verifying so the key can be found."""
    return parse_signature_header(signature_value(lower_headers(headers))).key_id


def _check_algorithm(parsed: ParsedSignature) -> None:
    if parsed.algorithm is not None and parsed.algorithm.lower() not in ACCEPTED_ALGORITHMS:
        raise SignatureError(f"signature algorithm {parsed.algorithm!r} is not accepted")


def _check_coverage(parsed: ParsedSignature, method: str) -> None:
    required = ["(request-target)", "host"]
    if method.upper() not in BODYLESS_METHODS:
        required.append("digest")
    for name in required:
        if name not in parsed.headers:
            raise SignatureError(f"{name} is not signed")
    if "date" not in parsed.headers and "(created)" not in parsed.headers:
        raise SignatureError("neither date nor (created) is signed")


def _timestamp(name: str, value: int | None) -> datetime:
    if value is None:
        raise SignatureError(f"({name}) is signed but the {name} parameter is missing")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError) as error:
        raise SignatureError(f"signature parameter {name} is out of range") from error


def _parse_date(value: str | None) -> datetime:
    if value is None:
        raise SignatureError("date is signed but the Date header is missing")
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError) as error:
        raise SignatureError(f"Date header is not an HTTP date: {value!r}") from error
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _check_times(
    parsed: ParsedSignature, fields: Mapping[str, str], now: datetime, max_skew_seconds: int
) -> None:
    signed = parsed.headers
    expires = _timestamp("expires", parsed.expires) if "(expires)" in signed else None
    moments = []
    if "(created)" in signed:
        moments.append(_timestamp("created", parsed.created))
    if "date" in signed:
        moments.append(_parse_date(fields.get("date")))
    for created in moments:
        check_time_window(created, expires, now, max_skew_seconds)


def _check_digest(fields: Mapping[str, str], body: bytes) -> None:
    value = fields.get("digest")
    if value is None:
        raise SignatureError("digest is signed but the Digest header is missing")
    expected = hashlib.sha256(body).digest()
    for part in value.split(","):
        algorithm, _, encoded = part.strip().partition("=")
        if algorithm.lower() == "sha-256":
            if not hmac.compare_digest(_decode_b64(encoded, "Digest"), expected):
                raise SignatureError("Digest does not match the body")
            return
    raise SignatureError("Digest has no SHA-256 value")


def _signing_text(
    parsed: ParsedSignature, method: str, target: str, fields: Mapping[str, str]
) -> str:
    lines = []
    for name in parsed.headers:
        if name == "(request-target)":
            value = f"{method.lower()} {target}"
        elif name in ("(created)", "(expires)"):
            value = str(parsed.created if name == "(created)" else parsed.expires)
        elif name in fields:
            value = fields[name]
        else:
            raise SignatureError(f"signed header {name} is missing from the request")
        lines.append(f"{name}: {value}")
    return "\n".join(lines)


def _wire(text: str) -> bytes:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError as error:
        raise SignatureError("a signed header holds characters HTTP cannot carry") from error


def _targets(path_with_query: str) -> list[str]:
    target = path_with_query or "/"
    path, question, _ = target.partition("?")
    return [target, path] if question else [target]


def verify_request(
    method: str,
    path_with_query: str,
    headers: Mapping[str, str],
    body: bytes | None,
    public_key: rsa.RSAPublicKey,
    now: datetime,
    max_skew_seconds: int = MAX_SKEW_SECONDS,
) -> None:
    """Check a request's cavage signature against the signer's key; SignatureError says why not."""
    fields = lower_headers(headers)
    parsed = parse_signature_header(signature_value(fields))
    _check_algorithm(parsed)
    _check_coverage(parsed, method)
    _check_times(parsed, fields, now, max_skew_seconds)
    if "digest" in parsed.headers:
        _check_digest(fields, body or b"")
    texts = [_signing_text(parsed, method, target, fields) for target in _targets(path_with_query)]
    for text in texts[:-1]:
        try:
            rsa_verify(public_key, parsed.signature, _wire(text))
        except SignatureError:
            continue
        return
    rsa_verify(public_key, parsed.signature, _wire(texts[-1]))
