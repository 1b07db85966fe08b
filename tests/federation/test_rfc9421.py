"""RFC 9421 message signatures and RFC 9530 Content-Digest, checked against an independent library."""

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import http_message_signatures as hms
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from federation import keys, rfc9421
from federation.signatures import SignatureError

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CREATED = int(NOW.timestamp())
KEY_ID = "https://a.test/actor#main-key"
URL = "https://b.test/users/bob/inbox?page=2"
BODY = b'{"type":"Follow","actor":"https://a.test/actor","object":"https://b.test/users/bob"}'
CONTENT_TYPE = "application/activity+json"


@dataclass
class Message:
    """The request shape http-message-signatures reads and writes."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return keys.generate_rsa()


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return keys.generate_rsa()


def signed_post(key: rsa.RSAPrivateKey, body: bytes = BODY) -> dict[str, str]:
    headers = {"Content-Type": CONTENT_TYPE}
    return headers | rfc9421.sign_request("POST", URL, headers, body, KEY_ID, key, NOW)


def check(
    headers: dict[str, str],
    key: rsa.RSAPrivateKey,
    *,
    method: str = "POST",
    url: str = URL,
    body: bytes | None = BODY,
    now: datetime = NOW,
) -> None:
    rfc9421.verify_request(method, url, headers, body, key.public_key(), now)


def library_signer(key: rsa.RSAPrivateKey) -> hms.HTTPMessageSigner:
    resolver = hms.MappingKeyResolver(public_keys={}, private_keys={KEY_ID: key})
    return hms.HTTPMessageSigner(
        signature_algorithm=hms.algorithms.RSA_V1_5_SHA256, key_resolver=resolver
    )


def library_verifier(key: rsa.RSAPrivateKey) -> hms.HTTPMessageVerifier:
    resolver = hms.MappingKeyResolver(public_keys={KEY_ID: key.public_key()}, private_keys={})
    return hms.HTTPMessageVerifier(
        signature_algorithm=hms.algorithms.RSA_V1_5_SHA256, key_resolver=resolver
    )


def library_signed(
    key: rsa.RSAPrivateKey,
    components: tuple[str, ...],
    *,
    method: str = "POST",
    body: bytes | None = BODY,
    label: str = "sig1",
    created: datetime = NOW,
) -> dict[str, str]:
    message = Message(method, URL, {"Content-Type": CONTENT_TYPE} if body is not None else {})
    library_signer(key).sign(
        message,
        key_id=KEY_ID,
        created=created,
        label=label,
        covered_component_ids=components,
        body=body,
    )
    return message.headers


# Content-Digest


def test_content_digest_matches_rfc_9530_example() -> None:
    assert rfc9421.content_digest_header(b'{"hello": "world"}') == (
        "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
    )


def test_content_digest_agrees_with_the_library() -> None:
    assert rfc9421.content_digest_header(BODY) == hms.ContentDigest.create(BODY)


# Signing


def test_post_signature_headers(key: rsa.RSAPrivateKey) -> None:
    added = rfc9421.sign_request("POST", URL, {}, BODY, KEY_ID, key, NOW)
    assert added["Content-Digest"] == rfc9421.content_digest_header(BODY)
    assert added["Signature-Input"] == (
        f'sig1=("@method" "@target-uri" "content-digest");created={CREATED};'
        f'keyid="{KEY_ID}";alg="rsa-v1_5-sha256"'
    )
    assert added["Signature"].startswith("sig1=:") and added["Signature"].endswith(":")


def test_post_signature_base_follows_section_2_5(key: rsa.RSAPrivateKey) -> None:
    added = rfc9421.sign_request("POST", URL, {}, BODY, KEY_ID, key, NOW)
    base = "\n".join(
        [
            '"@method": POST',
            f'"@target-uri": {URL}',
            f'"content-digest": {added["Content-Digest"]}',
            '"@signature-params": ' + added["Signature-Input"].removeprefix("sig1="),
        ]
    )
    signature = base64.b64decode(added["Signature"].removeprefix("sig1=:").removesuffix(":"))
    key.public_key().verify(signature, base.encode(), padding.PKCS1v15(), hashes.SHA256())


def test_get_signature_covers_method_and_target(key: rsa.RSAPrivateKey) -> None:
    added = rfc9421.sign_request("GET", URL, {}, b"", KEY_ID, key, NOW)
    assert "Content-Digest" not in added
    assert added["Signature-Input"].startswith('sig1=("@method" "@target-uri");')
    check(added, key, method="GET", body=None)


def test_signing_needs_an_aware_clock(key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        rfc9421.sign_request("GET", URL, {}, None, KEY_ID, key, datetime(2026, 3, 1))


# Round trips, ours and the library's


def test_post_round_trip(key: rsa.RSAPrivateKey) -> None:
    check(signed_post(key), key)
    check({name.upper(): value for name, value in signed_post(key).items()}, key)


def test_library_verifies_our_post(key: rsa.RSAPrivateKey) -> None:
    message = Message("POST", URL, signed_post(key))
    [result] = library_verifier(key).verify(
        message,
        max_age=None,
        require_components=("@method", "@target-uri", "content-digest"),
        body=BODY,
    )
    assert result.label == "sig1"
    assert result.parameters == {"created": CREATED, "keyid": KEY_ID, "alg": "rsa-v1_5-sha256"}
    assert result.body == BODY


def test_library_verifies_our_get(key: rsa.RSAPrivateKey) -> None:
    headers = rfc9421.sign_request("GET", URL, {}, None, KEY_ID, key, NOW)
    [result] = library_verifier(key).verify(Message("GET", URL, headers), max_age=None)
    assert list(result.covered_components) == ['"@method"', '"@target-uri"', '"@signature-params"']


def test_library_rejects_our_post_with_another_body(key: rsa.RSAPrivateKey) -> None:
    message = Message("POST", URL, signed_post(key))
    with pytest.raises(hms.InvalidSignature):
        library_verifier(key).verify(message, max_age=None, body=BODY + b" ")


@pytest.mark.parametrize(
    "components",
    [
        ("@method", "@target-uri"),
        ("@method", "@target-uri", "@authority", "content-type"),
        ("@target-uri", "@scheme", "@path", "@query", "@method", "@request-target"),
    ],
)
@pytest.mark.parametrize("label", ["sig1", "pyhms"])
def test_we_verify_the_library_post(
    key: rsa.RSAPrivateKey, components: tuple[str, ...], label: str
) -> None:
    headers = library_signed(key, components, label=label)
    assert "content-digest" in headers["Signature-Input"]  # the library adds it for a body
    check(headers, key)
    assert rfc9421.key_id_of(headers) == KEY_ID


def test_we_verify_the_library_get(key: rsa.RSAPrivateKey) -> None:
    headers = library_signed(key, ("@method", "@target-uri"), method="GET", body=None)
    check(headers, key, method="GET", body=None)


def test_library_post_without_content_digest_is_refused(key: rsa.RSAPrivateKey) -> None:
    message = Message("POST", URL, {"Content-Type": CONTENT_TYPE})
    library_signer(key).sign(
        message, key_id=KEY_ID, created=NOW, covered_component_ids=("@method", "@target-uri")
    )
    with pytest.raises(SignatureError, match="content-digest is not covered"):
        check(message.headers, key)


def test_library_signature_without_target_uri_is_refused(key: rsa.RSAPrivateKey) -> None:
    headers = library_signed(key, ("@method", "@authority", "@path"))
    with pytest.raises(SignatureError, match="@target-uri is not covered"):
        check(headers, key)


# Every signed part altered in turn


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"method": "PUT"}, "does not match"),
        ({"url": "https://b.test/users/carol/inbox?page=2"}, "does not match"),
        ({"url": "https://b.test/users/bob/inbox?page=3"}, "does not match"),
        ({"url": "https://b.test/users/bob/inbox"}, "does not match"),
        ({"url": "https://c.test/users/bob/inbox?page=2"}, "does not match"),
        ({"body": BODY.replace(b"bob", b"bot")}, "Content-Digest does not match"),
        (
            {"headers": {"Content-Digest": rfc9421.content_digest_header(b"{}")}},
            "Content-Digest does not match",
        ),
    ],
)
def test_altered_parts_are_refused(key: rsa.RSAPrivateKey, change: dict, reason: str) -> None:
    headers = signed_post(key) | change.get("headers", {})
    with pytest.raises(SignatureError, match=reason):
        check(
            headers,
            key,
            method=change.get("method", "POST"),
            url=change.get("url", URL),
            body=change.get("body", BODY),
        )


def test_digest_and_body_replaced_together_fail(key: rsa.RSAPrivateKey) -> None:
    other = b'{"type":"Delete"}'
    headers = signed_post(key) | {"Content-Digest": rfc9421.content_digest_header(other)}
    with pytest.raises(SignatureError, match="does not match the request"):
        check(headers, key, body=other)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (f"created={CREATED}", f"created={CREATED + 1}"),
        (f'keyid="{KEY_ID}"', 'keyid="https://evil.test/actor#main-key"'),
    ],
)
def test_altered_parameters_are_refused(key: rsa.RSAPrivateKey, old: str, new: str) -> None:
    headers = signed_post(key)
    headers["Signature-Input"] = headers["Signature-Input"].replace(old, new)
    with pytest.raises(SignatureError, match="does not match"):
        check(headers, key)


def test_wrong_key_is_refused(key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(SignatureError, match="does not match"):
        check(signed_post(key), other_key)


def test_a_non_rsa_key_is_refused(key: rsa.RSAPrivateKey) -> None:
    ed_public = ed25519.Ed25519PrivateKey.generate().public_key()
    with pytest.raises(SignatureError, match="not an RSA key"):
        rfc9421.verify_request("POST", URL, signed_post(key), BODY, ed_public, NOW)  # type: ignore[arg-type]


# Time window


@pytest.mark.parametrize("age", [timedelta(minutes=-59), timedelta(0), timedelta(minutes=64)])
def test_created_inside_the_window(key: rsa.RSAPrivateKey, age: timedelta) -> None:
    check(signed_post(key), key, now=NOW + age)


@pytest.mark.parametrize(
    ("age", "reason"),
    [
        (timedelta(minutes=66), "expired"),
        (timedelta(hours=2), "expired"),
        (timedelta(minutes=-61), "in the future"),
        (timedelta(hours=-2), "in the future"),
    ],
)
def test_created_outside_the_window(key: rsa.RSAPrivateKey, age: timedelta, reason: str) -> None:
    with pytest.raises(SignatureError, match=reason):
        check(signed_post(key), key, now=NOW + age)


def test_expires_parameter_is_honoured(key: rsa.RSAPrivateKey) -> None:
    message = Message("POST", URL, {"Content-Type": CONTENT_TYPE})
    library_signer(key).sign(
        message,
        key_id=KEY_ID,
        created=NOW,
        expires=NOW + timedelta(minutes=30),
        covered_component_ids=("@method", "@target-uri"),
        body=BODY,
    )
    check(message.headers, key, now=NOW + timedelta(minutes=89))
    with pytest.raises(SignatureError, match="expired"):
        check(message.headers, key, now=NOW + timedelta(minutes=91))


# Structure


def test_exactly_one_signature(key: rsa.RSAPrivateKey) -> None:
    headers = signed_post(key)
    second = library_signed(key, ("@method", "@target-uri"), label="sig2")
    headers["Signature-Input"] += ", " + second["Signature-Input"]
    headers["Signature"] += ", " + second["Signature"]
    with pytest.raises(SignatureError, match="exactly one signature, not 2"):
        check(headers, key)


@pytest.mark.parametrize(
    ("signature_input", "reason"),
    [
        ('sig1=("@method" "@target-uri" "content-digest");keyid="k"', "created and keyid"),
        ('sig1=("@method" "@target-uri" "content-digest");created=1', "created and keyid"),
        ('sig1=("@method" "@target-uri");created="1";keyid="k"', "wrong type"),
        ('sig2=("@method" "@target-uri");created=1;keyid="k"', "labels differ"),
        ('sig1=("@method" "@target-uri" "@method");created=1;keyid="k"', "covered twice"),
        ('sig1=("@method" "@target-uri" "content-digest";sf);created=1;keyid="k"', "parameters"),
        ('sig1=("@method" "@target-uri" method);created=1;keyid="k"', "must be strings"),
        ('sig1="@method";created=1;keyid="k"', "not an inner list"),
        ("sig1=(", "malformed Signature-Input"),
        ('sig1=("@method");created=1;created=2;keyid="k"', "repeated"),
    ],
)
def test_malformed_signature_input(
    key: rsa.RSAPrivateKey, signature_input: str, reason: str
) -> None:
    headers = signed_post(key) | {"Signature-Input": signature_input}
    with pytest.raises(SignatureError, match=reason):
        check(headers, key)


def test_other_algorithms_are_refused(key: rsa.RSAPrivateKey) -> None:
    headers = signed_post(key)
    headers["Signature-Input"] = headers["Signature-Input"].replace("rsa-v1_5-sha256", "ed25519")
    with pytest.raises(SignatureError, match="'ed25519' is not accepted"):
        check(headers, key)


def test_unsupported_derived_component_is_refused(key: rsa.RSAPrivateKey) -> None:
    headers = signed_post(key) | {
        "Signature-Input": f'sig1=("@method" "@target-uri" "content-digest" "@status");created={CREATED};keyid="k"'
    }
    with pytest.raises(SignatureError, match="@status is not supported"):
        check(headers, key)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Signature", "no Signature header"),
        ("Signature-Input", "no Signature-Input header"),
        ("Content-Digest", "no Content-Digest header"),
    ],
)
def test_missing_headers_are_refused(key: rsa.RSAPrivateKey, header: str, reason: str) -> None:
    headers = signed_post(key)
    del headers[header]
    with pytest.raises(SignatureError, match=reason):
        check(headers, key)


def test_signature_must_be_a_byte_sequence(key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(SignatureError, match="byte sequence"):
        check(signed_post(key) | {"Signature": 'sig1="abc"'}, key)


def test_covered_field_must_be_present(key: rsa.RSAPrivateKey) -> None:
    headers = library_signed(key, ("@method", "@target-uri", "content-type"))
    del headers["Content-Type"]
    with pytest.raises(SignatureError, match="covered field content-type is missing"):
        check(headers, key)


# Content-Digest rules


def test_content_digest_with_sha_512_only_is_refused(key: rsa.RSAPrivateKey) -> None:
    sha512 = base64.b64encode(hashlib.sha512(BODY).digest()).decode()
    with pytest.raises(SignatureError, match="no sha-256"):
        check(signed_post(key) | {"Content-Digest": f"sha-512=:{sha512}:"}, key)


def test_malformed_content_digest_is_refused(key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(SignatureError, match="malformed Content-Digest"):
        check(signed_post(key) | {"Content-Digest": "sha-256=:oops"}, key)


def test_content_digest_as_a_token_is_refused(key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(SignatureError, match="not a byte sequence"):
        check(signed_post(key) | {"Content-Digest": "sha-256=abc"}, key)


# Helpers


def test_is_rfc9421(key: rsa.RSAPrivateKey) -> None:
    assert rfc9421.is_rfc9421(signed_post(key))
    assert rfc9421.is_rfc9421({"signature-input": "x"})
    assert not rfc9421.is_rfc9421({"Signature": 'keyId="k",signature="AA=="'})


def test_key_id_of(key: rsa.RSAPrivateKey) -> None:
    assert rfc9421.key_id_of(signed_post(key)) == KEY_ID
    with pytest.raises(SignatureError):
        rfc9421.key_id_of({"Signature": 'keyId="k",signature="AA=="'})
