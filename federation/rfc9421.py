"""RFC 9421 HTTP Message Signatures with RFC 9530 Content-Digest, as pure functions.

We sign like Mastodon expects: one signature labelled ``sig1`` covering ``"@method"``,
``"@target-uri"`` and, when there is a body, ``"content-digest"``, with ``created``,
``keyid`` and ``alg="rsa-v1_5-sha256"``. We verify with Mastodon's rules: exactly one
signature, ``created`` and ``keyid`` present, ``@method`` and ``@target-uri`` covered,
``content-digest`` covered and matching the body on anything but GET and HEAD.
"""

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import http_sf
from cryptography.hazmat.primitives.asymmetric import rsa
from http_sf.innerlist import ser_innerlist

from federation.signatures import (
    BODYLESS_METHODS,
    MAX_SKEW_SECONDS,
    SignatureError,
    authority,
    carries_body,
    check_time_window,
    lower_headers,
    request_target,
    rsa_sign,
    rsa_verify,
    utc,
)

LABEL = "sig1"
ALGORITHM = "rsa-v1_5-sha256"
POST_COMPONENTS = ("@method", "@target-uri", "content-digest")
GET_COMPONENTS = ("@method", "@target-uri")
REQUIRED_COMPONENTS = ("@method", "@target-uri")


@dataclass(frozen=True)
class MessageSignature:
    """One parsed RFC 9421 signature: its label, covered components and parameters."""

    label: str
    components: tuple[str, ...]
    signature_params: str
    key_id: str
    created: int
    signature: bytes
    expires: int | None = None
    alg: str | None = None


def is_rfc9421(headers: Mapping[str, str]) -> bool:
    """True when the request carries an RFC 9421 signature (a Signature-Input header)."""
    return "signature-input" in lower_headers(headers)


def content_digest_header(body: bytes) -> str:
    """The ``Content-Digest`` header of a body: 'sha-256=:<base64>:'."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + ":"


def _derived(name: str, method: str, target_uri: str) -> str:
    parts = urlsplit(target_uri)
    values = {
        "@method": lambda: method,
        "@target-uri": lambda: target_uri,
        "@authority": lambda: authority(target_uri),
        "@scheme": lambda: parts.scheme.lower(),
        "@request-target": lambda: request_target(target_uri),
        "@path": lambda: parts.path or "/",
        "@query": lambda: f"?{parts.query}",
    }
    if name not in values:
        raise SignatureError(f"component {name} is not supported")
    return values[name]()


def _component_value(name: str, method: str, target_uri: str, fields: Mapping[str, str]) -> str:
    if name.startswith("@"):
        return _derived(name, method, target_uri)
    if name != name.lower():
        raise SignatureError(f"component {name} is not lower-case")
    if name not in fields:
        raise SignatureError(f"covered field {name} is missing from the request")
    return fields[name]


def signature_base(
    components: tuple[str, ...],
    signature_params: str,
    method: str,
    target_uri: str,
    fields: Mapping[str, str],
) -> bytes:
    """The signature base of RFC 9421 section 2.5: one line per component, then @signature-params."""
    lines = []
    for name in components:
        value = _component_value(name, method, target_uri, fields)
        if "\n" in value or "\r" in value:
            raise SignatureError(f"component {name} holds a line break")
        lines.append(f"{http_sf.ser(name)}: {value}")
    lines.append(f'"@signature-params": {signature_params}')
    text = "\n".join(lines)
    if not text.isascii():
        raise SignatureError("signature base holds non-ASCII characters")
    return text.encode("ascii")


def sign_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    key_id: str,
    private_key: rsa.RSAPrivateKey,
    now: datetime,
    label: str = LABEL,
) -> dict[str, str]:
    """The headers to add to a request to sign it (Content-Digest, Signature-Input, Signature)."""
    fields = lower_headers(headers)
    added: dict[str, str] = {}
    components = GET_COMPONENTS
    if carries_body(method, body):
        components = POST_COMPONENTS
        added["Content-Digest"] = fields["content-digest"] = content_digest_header(body or b"")
    params = {"created": int(utc(now).timestamp()), "keyid": key_id, "alg": ALGORITHM}
    member: Any = ([(name, {}) for name in components], params)
    base = signature_base(components, ser_innerlist(member), method, url, fields)
    value = rsa_sign(private_key, base)
    added["Signature-Input"] = http_sf.ser({label: member})
    added["Signature"] = http_sf.ser({label: (value, {})})
    return added


def _refuse_duplicate(key: str, context: str) -> None:
    raise SignatureError(f"{key} is repeated in a signature header")


def _dictionary(fields: Mapping[str, str], name: str) -> dict[str, Any]:
    if name.lower() not in fields:
        raise SignatureError(f"request has no {name} header")
    try:
        parsed = http_sf.parse(
            fields[name.lower()].encode("latin-1"),
            tltype="dictionary",
            on_duplicate_key=_refuse_duplicate,
        )
    except (http_sf.StructuredFieldError, UnicodeEncodeError) as error:
        raise SignatureError(f"malformed {name} header: {error}") from error
    if not isinstance(parsed, dict):
        raise SignatureError(f"malformed {name} header")
    return parsed


def _only_member(dictionary: dict[str, Any], name: str) -> tuple[str, Any, dict[str, Any]]:
    if len(dictionary) != 1:
        raise SignatureError(f"{name} must hold exactly one signature, not {len(dictionary)}")
    [(label, (value, params))] = dictionary.items()
    return label, value, params


def _components(items: Any) -> tuple[str, ...]:
    if not isinstance(items, list):
        raise SignatureError("Signature-Input member is not an inner list")
    names = []
    for value, params in items:
        if not isinstance(value, str):
            raise SignatureError("covered components must be strings")
        if params:
            raise SignatureError(f"component parameters on {value} are not supported")
        names.append(value)
    if len(set(names)) != len(names):
        raise SignatureError("a component is covered twice")
    return tuple(names)


def _typed_param(params: dict[str, Any], name: str, kind: type) -> Any:
    value = params.get(name)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise SignatureError(f"signature parameter {name} has the wrong type")
    return value


def parse_message_signature(headers: Mapping[str, str]) -> MessageSignature:
    """The one signature of a request's Signature-Input and Signature headers; SignatureError otherwise."""
    fields = lower_headers(headers)
    label, items, params = _only_member(_dictionary(fields, "Signature-Input"), "Signature-Input")
    signed_label, value, _ = _only_member(_dictionary(fields, "Signature"), "Signature")
    if signed_label != label:
        raise SignatureError("Signature and Signature-Input labels differ")
    if not isinstance(value, bytes):
        raise SignatureError("Signature member is not a byte sequence")
    created = _typed_param(params, "created", int)
    key_id = _typed_param(params, "keyid", str)
    if created is None or not key_id:
        raise SignatureError("signature parameters created and keyid are required")
    return MessageSignature(
        label=label,
        components=_components(items),
        signature_params=ser_innerlist((items, params)),
        key_id=key_id,
        created=created,
        signature=value,
        expires=_typed_param(params, "expires", int),
        alg=_typed_param(params, "alg", str),
    )


def key_id_of(headers: Mapping[str, str]) -> str:
    """The keyid of a request's RFC 9421 signature, read before verifying so the key can be found."""
    return parse_message_signature(headers).key_id


def _check_coverage(signature: MessageSignature, method: str) -> None:
    if signature.alg is not None and signature.alg != ALGORITHM:
        raise SignatureError(f"signature algorithm {signature.alg!r} is not accepted")
    for name in REQUIRED_COMPONENTS:
        if name not in signature.components:
            raise SignatureError(f"{name} is not covered")
    if method.upper() not in BODYLESS_METHODS and "content-digest" not in signature.components:
        raise SignatureError("content-digest is not covered")


def _moment(name: str, value: int) -> datetime:
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError) as error:
        raise SignatureError(f"signature parameter {name} is out of range") from error


def _check_content_digest(fields: Mapping[str, str], body: bytes) -> None:
    digests = _dictionary(fields, "Content-Digest")
    member = digests.get("sha-256")
    if member is None:
        raise SignatureError("Content-Digest has no sha-256 value")
    value, _ = member
    if not isinstance(value, bytes):
        raise SignatureError("Content-Digest sha-256 value is not a byte sequence")
    if not hmac.compare_digest(value, hashlib.sha256(body).digest()):
        raise SignatureError("Content-Digest does not match the body")


def verify_request(
    method: str,
    target_uri: str,
    headers: Mapping[str, str],
    body: bytes | None,
    public_key: rsa.RSAPublicKey,
    now: datetime,
    max_skew_seconds: int = MAX_SKEW_SECONDS,
) -> None:
    """Check a request's RFC 9421 signature against the signer's key; SignatureError says why not."""
    fields = lower_headers(headers)
    signature = parse_message_signature(fields)
    _check_coverage(signature, method)
    expires = None if signature.expires is None else _moment("expires", signature.expires)
    check_time_window(_moment("created", signature.created), expires, now, max_skew_seconds)
    if "content-digest" in signature.components:
        _check_content_digest(fields, body or b"")
    base = signature_base(
        signature.components, signature.signature_params, method, target_uri, fields
    )
    rsa_verify(public_key, signature.signature, base)
