"""Draft-cavage HTTP signatures: signing, verification, and each rule verification enforces."""

import base64
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from federation import keys, signatures
from federation.signatures import SignatureError

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY_ID = "https://a.test/actor#main-key"
URL = "https://b.test/users/bob/inbox?page=2"
TARGET = "/users/bob/inbox?page=2"
BODY = b'{"type":"Follow","actor":"https://a.test/actor","object":"https://b.test/users/bob"}'
CONTENT_TYPE = "application/activity+json"


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return keys.generate_rsa()


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return keys.generate_rsa()


def signed_post(key: rsa.RSAPrivateKey, now: datetime = NOW) -> dict[str, str]:
    headers = {"Content-Type": CONTENT_TYPE}
    return headers | signatures.sign_request("POST", URL, headers, BODY, KEY_ID, key, now)


def check(
    headers: dict[str, str],
    key: rsa.RSAPrivateKey,
    *,
    method: str = "POST",
    target: str = TARGET,
    body: bytes | None = BODY,
    now: datetime = NOW,
) -> None:
    signatures.verify_request(method, target, headers, body, key.public_key(), now)


def craft(key: rsa.RSAPrivateKey, names: list[str], values: dict[str, str], extra: str = "") -> str:
    """A Signature header built here, by hand, from the draft's definition of the signing string."""
    text = "\n".join(f"{name}: {values[name]}" for name in names)
    raw = key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())
    signature = base64.b64encode(raw).decode()
    return f'keyId="{KEY_ID}",headers="{" ".join(names)}",signature="{signature}"{extra}'


def post_values(target: str = TARGET) -> dict[str, str]:
    return {
        "(request-target)": f"post {target}",
        "host": "b.test",
        "date": "Sun, 01 Mar 2026 12:00:00 GMT",
        "digest": signatures.digest_header(BODY),
        "content-type": CONTENT_TYPE,
    }


# Signing


def test_digest_header_of_the_empty_body() -> None:
    assert signatures.digest_header(b"") == "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    expected = base64.b64encode(hashlib.sha256(BODY).digest()).decode()
    assert signatures.digest_header(BODY) == f"SHA-256={expected}"


def test_post_signature_headers(key: rsa.RSAPrivateKey) -> None:
    added = signatures.sign_request(
        "POST", URL, {"content-type": CONTENT_TYPE}, BODY, KEY_ID, key, NOW
    )
    assert added["Date"] == "Sun, 01 Mar 2026 12:00:00 GMT"
    assert added["Host"] == "b.test"
    assert added["Digest"] == signatures.digest_header(BODY)
    assert "Content-Type" not in added
    parsed = signatures.parse_signature_header(added["Signature"])
    assert parsed.key_id == KEY_ID
    assert parsed.algorithm == "rsa-sha256"
    assert parsed.headers == ("(request-target)", "host", "date", "digest", "content-type")


def test_post_signature_matches_the_draft_signing_string(key: rsa.RSAPrivateKey) -> None:
    headers = signed_post(key)
    parsed = signatures.parse_signature_header(headers["Signature"])
    values = post_values()
    text = "\n".join(f"{name}: {values[name]}" for name in parsed.headers)
    key.public_key().verify(parsed.signature, text.encode(), padding.PKCS1v15(), hashes.SHA256())


def test_post_without_content_type_gets_the_activitypub_one(key: rsa.RSAPrivateKey) -> None:
    added = signatures.sign_request("POST", URL, {}, BODY, KEY_ID, key, NOW)
    assert added["Content-Type"] == CONTENT_TYPE
    check(added, key)


def test_get_signature_covers_target_host_and_date(key: rsa.RSAPrivateKey) -> None:
    added = signatures.sign_request("GET", URL, {}, b"", KEY_ID, key, NOW)
    assert "Digest" not in added and "Content-Type" not in added
    parsed = signatures.parse_signature_header(added["Signature"])
    assert parsed.headers == ("(request-target)", "host", "date")
    check(added, key, method="GET", body=None)


def test_get_with_a_body_is_refused(key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ValueError, match="carries no body"):
        signatures.sign_request("GET", URL, {}, b"x", KEY_ID, key, NOW)


def test_signing_needs_an_aware_clock(key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        signatures.sign_request("GET", URL, {}, None, KEY_ID, key, datetime(2026, 3, 1, 12, 0))


def test_date_is_written_in_gmt_from_any_zone(key: rsa.RSAPrivateKey) -> None:
    paris = NOW.astimezone(timezone(timedelta(hours=1)))
    assert paris.hour == 13
    added = signatures.sign_request("GET", URL, {}, None, KEY_ID, key, paris)
    assert added["Date"] == "Sun, 01 Mar 2026 12:00:00 GMT"


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://B.Test/x", "b.test"),
        ("https://b.test:443/x", "b.test"),
        ("http://127.0.0.1:8001/inbox", "127.0.0.1:8001"),
        ("http://127.0.0.1:80/inbox", "127.0.0.1"),
        ("https://[::1]:8443/inbox", "[::1]:8443"),
    ],
)
def test_host_is_the_authority_without_default_port(url: str, host: str) -> None:
    assert signatures.authority(url) == host


# Verification: round trips


def test_post_round_trip(key: rsa.RSAPrivateKey) -> None:
    check(signed_post(key), key)


def test_header_names_are_case_insensitive(key: rsa.RSAPrivateKey) -> None:
    headers = {name.upper(): value for name, value in signed_post(key).items()}
    check(headers, key)


class RepeatedHeaders(dict[str, str]):
    """A header mapping whose items() lists one field twice, as ASGI servers may."""

    def items(self) -> Iterator[tuple[str, str]]:  # type: ignore[override]
        yield from super().items()
        yield ("x-extra", "two")


def test_repeated_fields_are_combined() -> None:
    assert signatures.lower_headers(RepeatedHeaders({"X-Extra": " one "})) == {
        "x-extra": "one, two"
    }


def test_hs2019_is_checked_as_rsa_sha256(key: rsa.RSAPrivateKey) -> None:
    names = ["(request-target)", "host", "date", "digest"]
    headers = signed_post(key) | {
        "Signature": craft(key, names, post_values(), ',algorithm="hs2019"')
    }
    check(headers, key)


def test_missing_algorithm_is_accepted(key: rsa.RSAPrivateKey) -> None:
    names = ["(request-target)", "host", "date", "digest"]
    check(signed_post(key) | {"Signature": craft(key, names, post_values())}, key)


@pytest.mark.parametrize("algorithm", ["rsa-sha512", "ed25519", "hmac-sha256"])
def test_other_algorithms_are_refused(key: rsa.RSAPrivateKey, algorithm: str) -> None:
    names = ["(request-target)", "host", "date", "digest"]
    signature = craft(key, names, post_values(), f',algorithm="{algorithm}"')
    with pytest.raises(SignatureError, match="not accepted"):
        check(signed_post(key) | {"Signature": signature}, key)


def test_request_target_without_query_is_accepted(key: rsa.RSAPrivateKey) -> None:
    names = ["(request-target)", "host", "date", "digest"]
    values = post_values(target="/users/bob/inbox")
    headers = signed_post(key) | {"Signature": craft(key, names, values)}
    check(headers, key, target=TARGET)


def test_request_target_is_tried_with_the_query_first(key: rsa.RSAPrivateKey) -> None:
    headers = signed_post(key)
    check(headers, key, target=TARGET)
    with pytest.raises(SignatureError, match="does not match"):
        check(headers, key, target="/users/bob/inbox")


def test_signature_in_authorization_header(key: rsa.RSAPrivateKey) -> None:
    headers = signed_post(key)
    headers["Authorization"] = "Signature " + headers.pop("Signature")
    check(headers, key)
    assert signatures.key_id_of(headers) == KEY_ID


def test_created_and_expires_pseudo_headers(key: rsa.RSAPrivateKey) -> None:
    created = int(NOW.timestamp())
    names = ["(request-target)", "host", "(created)", "(expires)", "digest"]
    values = post_values() | {"(created)": str(created), "(expires)": str(created + 600)}
    params = f',algorithm="hs2019",created={created},expires={created + 600}'
    headers = signed_post(key)
    del headers["Date"]
    headers["Signature"] = craft(key, names, values, params)
    check(headers, key, now=NOW + timedelta(minutes=69))
    with pytest.raises(SignatureError, match="expired"):
        check(headers, key, now=NOW + timedelta(minutes=71))


# Verification: every signed part altered in turn


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"method": "PUT"}, "does not match"),
        ({"target": "/users/carol/inbox?page=2"}, "does not match"),
        ({"target": "/users/bob/inbox?page=3"}, "does not match"),
        ({"headers": {"Host": "c.test"}}, "does not match"),
        ({"headers": {"Date": "Sun, 01 Mar 2026 12:00:01 GMT"}}, "does not match"),
        ({"headers": {"Content-Type": "application/json"}}, "does not match"),
        ({"headers": {"Digest": signatures.digest_header(b"{}")}}, "Digest does not match"),
        ({"body": BODY.replace(b"bob", b"bot")}, "Digest does not match"),
    ],
)
def test_altered_parts_are_refused(key: rsa.RSAPrivateKey, change: dict, reason: str) -> None:
    headers = signed_post(key) | change.get("headers", {})
    with pytest.raises(SignatureError, match=reason):
        check(
            headers,
            key,
            method=change.get("method", "POST"),
            target=change.get("target", TARGET),
            body=change.get("body", BODY),
        )


def test_both_digest_and_body_altered_still_fail(key: rsa.RSAPrivateKey) -> None:
    other = b'{"type":"Delete"}'
    headers = signed_post(key) | {"Digest": signatures.digest_header(other)}
    with pytest.raises(SignatureError, match="does not match the request"):
        check(headers, key, body=other)


def test_altered_signature_bytes_are_refused(key: rsa.RSAPrivateKey) -> None:
    headers = signed_post(key)
    parsed = signatures.parse_signature_header(headers["Signature"])
    flipped = bytes([parsed.signature[0] ^ 1]) + parsed.signature[1:]
    headers["Signature"] = headers["Signature"].replace(
        base64.b64encode(parsed.signature).decode(), base64.b64encode(flipped).decode()
    )
    with pytest.raises(SignatureError, match="does not match"):
        check(headers, key)


def test_wrong_key_is_refused(key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(SignatureError, match="does not match"):
        check(signed_post(key), other_key)


def test_a_non_rsa_key_is_refused(key: rsa.RSAPrivateKey) -> None:
    ed_public = ed25519.Ed25519PrivateKey.generate().public_key()
    with pytest.raises(SignatureError, match="not an RSA key"):
        signatures.verify_request("POST", TARGET, signed_post(key), BODY, ed_public, NOW)  # type: ignore[arg-type]


# Verification: time window


@pytest.mark.parametrize(
    "age", [timedelta(minutes=-59), timedelta(0), timedelta(minutes=30), timedelta(minutes=64)]
)
def test_dates_inside_the_window_are_accepted(key: rsa.RSAPrivateKey, age: timedelta) -> None:
    check(signed_post(key), key, now=NOW + age)


@pytest.mark.parametrize(
    ("age", "reason"),
    [
        (timedelta(minutes=66), "expired"),
        (timedelta(hours=2), "expired"),
        (timedelta(days=3), "expired"),
        (timedelta(minutes=-61), "in the future"),
        (timedelta(hours=-2), "in the future"),
    ],
)
def test_dates_outside_the_window_are_refused(
    key: rsa.RSAPrivateKey, age: timedelta, reason: str
) -> None:
    with pytest.raises(SignatureError, match=reason):
        check(signed_post(key), key, now=NOW + age)


def test_smaller_skew_is_honoured(key: rsa.RSAPrivateKey) -> None:
    headers = signed_post(key)
    with pytest.raises(SignatureError, match="expired"):
        signatures.verify_request(
            "POST", TARGET, headers, BODY, key.public_key(), NOW + timedelta(minutes=7), 60
        )


def test_unreadable_date_is_refused(key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(SignatureError, match="not an HTTP date"):
        check(signed_post(key) | {"Date": "yesterday"}, key)


# Verification: missing pieces


@pytest.mark.parametrize(
    ("names", "reason"),
    [
        (["host", "date", "digest"], r"\(request-target\) is not signed"),
        (["(request-target)", "date", "digest"], "host is not signed"),
        (["(request-target)", "host", "digest"], "neither date nor"),
        (["(request-target)", "host", "date"], "digest is not signed"),
    ],
)
def test_required_headers_must_be_signed(
    key: rsa.RSAPrivateKey, names: list[str], reason: str
) -> None:
    headers = signed_post(key) | {"Signature": craft(key, names, post_values())}
    with pytest.raises(SignatureError, match=reason):
        check(headers, key)


def test_get_needs_no_digest_but_needs_host(key: rsa.RSAPrivateKey) -> None:
    values = {"(request-target)": f"get {TARGET}", "host": "b.test", "date": post_values()["date"]}
    base = {"Host": "b.test", "Date": values["date"]}
    good = base | {"Signature": craft(key, ["(request-target)", "host", "date"], values)}
    check(good, key, method="GET", body=None)
    bad = base | {"Signature": craft(key, ["(request-target)", "date"], values)}
    with pytest.raises(SignatureError, match="host is not signed"):
        check(bad, key, method="GET", body=None)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Signature", "no Signature header"),
        ("Date", "Date header is missing"),
        ("Digest", "Digest header is missing"),
        ("Host", "signed header host is missing"),
        ("Content-Type", "signed header content-type is missing"),
    ],
)
def test_missing_headers_are_refused(key: rsa.RSAPrivateKey, header: str, reason: str) -> None:
    headers = signed_post(key)
    del headers[header]
    with pytest.raises(SignatureError, match=reason):
        check(headers, key)


def test_digest_with_several_algorithms(key: rsa.RSAPrivateKey) -> None:
    sha512 = base64.b64encode(hashlib.sha512(BODY).digest()).decode()
    names = ["(request-target)", "host", "date", "digest"]
    values = post_values() | {"digest": f"SHA-512={sha512},{signatures.digest_header(BODY)}"}
    headers = signed_post(key) | {
        "Digest": values["digest"],
        "Signature": craft(key, names, values),
    }
    check(headers, key)
    only_512 = post_values() | {"digest": f"SHA-512={sha512}"}
    headers |= {"Digest": only_512["digest"], "Signature": craft(key, names, only_512)}
    with pytest.raises(SignatureError, match="no SHA-256"):
        check(headers, key)


# Parsing


def test_parse_signature_header() -> None:
    parsed = signatures.parse_signature_header(
        'keyId="https://a.test/actor#main-key", algorithm="hs2019",'
        'headers="(request-target) Host (created)",created=1772366400,signature="AAEC"'
    )
    assert parsed.key_id == KEY_ID
    assert parsed.algorithm == "hs2019"
    assert parsed.headers == ("(request-target)", "host", "(created)")
    assert parsed.created == 1772366400
    assert parsed.expires is None
    assert parsed.signature == b"\x00\x01\x02"


def test_default_headers_follow_the_algorithm() -> None:
    assert signatures.parse_signature_header('keyId="k",signature="AA=="').headers == ("(created)",)
    rsa_default = signatures.parse_signature_header(
        'keyId="k",algorithm="rsa-sha256",signature="AA=="'
    )
    assert rsa_default.headers == ("date",)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ('algorithm="rsa-sha256",signature="AA=="', "needs keyId and signature"),
        ('keyId="k",algorithm="rsa-sha256"', "needs keyId and signature"),
        ('keyId="k",keyId="j",signature="AA=="', "repeated"),
        ('keyId="k" signature="AA=="', "malformed"),
        ('keyId="k",signature="not base64!"', "not valid base64"),
        ("", "needs keyId"),
    ],
)
def test_malformed_signature_headers(value: str, reason: str) -> None:
    with pytest.raises(SignatureError, match=reason):
        signatures.parse_signature_header(value)


def test_key_id_of(key: rsa.RSAPrivateKey) -> None:
    assert signatures.key_id_of(signed_post(key)) == KEY_ID
    with pytest.raises(SignatureError, match="no Signature header"):
        signatures.key_id_of({"Host": "b.test"})
