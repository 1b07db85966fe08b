"""Our object proofs checked by an independent implementation written here from the specifications.

JCS (RFC 8785) and Ed25519 verification (RFC 8032, section 5.1, with plain Python
integers) are written below without the code under test nor the rfc8785 and
cryptography packages; only hashlib gives SHA-256 and SHA-512. They are first
checked against the RFC vectors (RFC 8785's examples and Appendix B numbers,
RFC 8032 test 1), then used to verify proofs that federation/proofs.py made.
"""

import hashlib
import math
import struct
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from federation import keys, proofs

# JCS, RFC 8785


def _es_number(value: float) -> str:
    """ECMAScript Number::toString (ECMA-262 7.1.12.1), as RFC 8785 section 3.2.2.3 requires."""
    if math.isnan(value) or math.isinf(value):
        raise ValueError("NaN and Infinity are not JSON")
    if value == 0:
        return "0"
    if value < 0:
        return "-" + _es_number(-value)
    # The shortest digits that read back as the same double (Python's repr gives them).
    sign, digits_tuple, exponent = Decimal(repr(value)).as_tuple()
    digits = "".join(map(str, digits_tuple)).rstrip("0")
    exponent += len("".join(map(str, digits_tuple))) - len(digits)
    k = len(digits)
    n = exponent + k  # value = 0.digits * 10**n
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    mark = "+" if n - 1 >= 0 else "-"
    if k == 1:
        return f"{digits}e{mark}{abs(n - 1)}"
    return f"{digits[0]}.{digits[1:]}e{mark}{abs(n - 1)}"


SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _jcs_string(text: str) -> str:
    out = ['"']
    for char in text:
        if char in SHORT_ESCAPES:
            out.append(SHORT_ESCAPES[char])
        elif ord(char) < 0x20:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _utf16_units(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _jcs_text(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return _es_number(float(value)) if abs(value) > 2**53 else str(value)
    if isinstance(value, float):
        return _es_number(value)
    if isinstance(value, str):
        return _jcs_string(value)
    if isinstance(value, list):
        return "[" + ",".join(_jcs_text(item) for item in value) + "]"
    if isinstance(value, dict):
        names = sorted(value, key=_utf16_units)
        return "{" + ",".join(f"{_jcs_string(k)}:{_jcs_text(value[k])}" for k in names) + "}"
    raise TypeError(type(value))


def jcs(value: Any) -> bytes:
    """The RFC 8785 canonical form of a JSON value, in UTF-8."""
    return _jcs_text(value).encode("utf-8", "surrogatepass")


# Ed25519, RFC 8032 section 5.1

P = 2**255 - 19
Q = 2**252 + 27742317777372353535851937790883648493  # the group order (L in the RFC)
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
Point = tuple[int, int, int, int]  # extended homogeneous coordinates (X, Y, Z, T)


def _add(a: Point, b: Point) -> Point:
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % P
    bb = (y1 + x1) * (y2 + x2) % P
    cc = t1 * 2 * D * t2 % P
    dd = z1 * 2 * z2 % P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _times(scalar: int, point: Point) -> Point:
    result: Point = (0, 1, 1, 0)
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _same(a: Point, b: Point) -> bool:
    return (a[0] * b[2] - b[0] * a[2]) % P == 0 and (a[1] * b[2] - b[1] * a[2]) % P == 0


def _recover_x(y: int, sign: int) -> int | None:
    if y >= P:
        return None
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    if (v * x * x - u) % P != 0:
        if (v * x * x + u) % P != 0:
            return None
        x = x * SQRT_M1 % P
    if x == 0 and sign:
        return None
    return P - x if x & 1 != sign else x


def _decode(data: bytes) -> Point | None:
    if len(data) != 32:
        return None
    number = int.from_bytes(data, "little")
    y, sign = number & ((1 << 255) - 1), number >> 255
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % P)


def _encode(point: Point) -> bytes:
    z_inverse = pow(point[2], P - 2, P)
    x, y = point[0] * z_inverse % P, point[1] * z_inverse % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


BASE_Y = 4 * pow(5, P - 2, P) % P
BASE: Point = (_recover_x(BASE_Y, 0) or 0, BASE_Y, 1, (_recover_x(BASE_Y, 0) or 0) * BASE_Y % P)


def _sha512_int(*parts: bytes) -> int:
    return int.from_bytes(hashlib.sha512(b"".join(parts)).digest(), "little")


def ed25519_public(secret: bytes) -> bytes:
    """The public key of a 32-byte secret (section 5.1.5)."""
    digest = hashlib.sha512(secret).digest()
    scalar = int.from_bytes(digest[:32], "little")
    scalar &= (1 << 254) - 8
    scalar |= 1 << 254
    return _encode(_times(scalar, BASE))


def ed25519_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """Section 5.1.7: [8][S]B = [8]R + [8][k]A."""
    if len(signature) != 64:
        return False
    point_a, point_r = _decode(public), _decode(signature[:32])
    if point_a is None or point_r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= Q:
        return False
    k = _sha512_int(signature[:32], public, message) % Q
    left = _times(8 * s, BASE)
    right = _add(_times(8, point_r), _times(8 * k, point_a))
    return _same(left, right)


# Base58btc and multikeys

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58_decode(text: str) -> bytes:
    number = 0
    for char in text:
        number = number * 58 + ALPHABET.index(char)
    zeros = len(text) - len(text.lstrip("1"))
    return b"\0" * zeros + (
        number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    )


def multikey_bytes(multibase: str) -> bytes:
    assert multibase.startswith("z")
    raw = base58_decode(multibase[1:])
    assert raw[:2] == b"\xed\x01" and len(raw) == 34
    return raw[2:]


def verify_independently(document: dict[str, Any], multikey: str) -> bool:
    """vc-di-eddsa eddsa-jcs-2022: SHA-256(JCS(options)) || SHA-256(JCS(document)), Ed25519."""
    proof = dict(document["proof"])
    value = proof.pop("proofValue")
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    data = hashlib.sha256(jcs(proof)).digest() + hashlib.sha256(jcs(unsecured)).digest()
    assert value.startswith("z")
    return ed25519_verify(multikey_bytes(multikey), data, base58_decode(value[1:]))


# The implementations against the RFC vectors


APPENDIX_B = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "expected"), APPENDIX_B)
def test_jcs_numbers_follow_rfc8785_appendix_b(bits: str, expected: str) -> None:
    value = struct.unpack(">d", bytes.fromhex(bits))[0]
    assert jcs(value) == expected.encode()


def test_jcs_refuses_nan_and_infinity() -> None:
    for bits in ("7fffffffffffffff", "7ff0000000000000"):
        with pytest.raises(ValueError):
            jcs(struct.unpack(">d", bytes.fromhex(bits))[0])


def test_jcs_follows_the_rfc8785_examples() -> None:
    # Section 3.2.2: literals, numbers and string escapes.
    data = {
        "numbers": [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001],
        "string": "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/",
        "literals": [None, True, False],
    }
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert jcs(data) == expected.encode("utf-8")
    # Section 3.2.3: properties sorted by their UTF-16 code units.
    sorting = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    text = jcs(sorting).decode("utf-8")
    order = [
        text.index(f'"{name}"')
        for name in ("\\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33")
    ]
    assert order == sorted(order)
    assert jcs(sorting).hex().startswith("7b225c72223a")  # {"\r":


RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)


def test_ed25519_follows_rfc8032_test_1() -> None:
    assert ed25519_public(RFC8032_SECRET) == RFC8032_PUBLIC
    assert ed25519_verify(RFC8032_PUBLIC, b"", RFC8032_SIGNATURE)
    assert not ed25519_verify(RFC8032_PUBLIC, b"x", RFC8032_SIGNATURE)
    flipped = bytes([RFC8032_SIGNATURE[0] ^ 1]) + RFC8032_SIGNATURE[1:]
    assert not ed25519_verify(RFC8032_PUBLIC, b"", flipped)
    too_big = RFC8032_SIGNATURE[:32] + (Q + 1).to_bytes(32, "little")
    assert not ed25519_verify(RFC8032_PUBLIC, b"", too_big)


# Our proofs, verified independently

CREATED = datetime(2024, 6, 1, 9, 30, tzinfo=UTC)
NON_ASCII = [
    "Les Amis du Quartier — été 2024",
    "Zèbres & Œuvres «solidaires»",
    "Ünïcödé 漢字 かな 한글",
    "שלום עולם",
    "Emoji 😀🎉 and a lone control \u000f, a tab\t, a line separator \u2028.",
    'Quotes " and backslashes \\ and a slash /',
]


def _summary(name: str) -> dict[str, Any]:
    return {
        "@context": [
            "https://www.w3.org/ns/activitystreams",
            {"benefed": "https://w3id.org/benefed/ns#"},
        ],
        "id": "https://b.example/associations/amis/summaries/alice/2024-05",
        "type": "HoursSummary",
        "attributedTo": "https://b.example/associations/amis",
        "name": name,
        "month": "2024-05",
        "minutes": 90,
        "actions": 2,
        "minutesByCategory": [{"name": name, "minutes": 90}, {"name": "Accueil", "minutes": 0}],
        "valuedAmount": "12.50",
        "currency": None,
        "extra": {"é": 1, "e": 2, "\U0001f600": 3, "\ufb33": 4, "z": [True, False, None]},
        "updated": "2024-06-01T09:00:00Z",
    }


@pytest.mark.parametrize("name", NON_ASCII)
def test_our_proofs_verify_with_the_independent_implementation(name: str) -> None:
    private = Ed25519PrivateKey.from_private_bytes(RFC8032_SECRET)
    key_id = "https://b.example/associations/amis#ed25519-key"
    signed = proofs.sign_object(_summary(name), private, key_id, CREATED)
    multikey = keys.ed25519_multikey(private)
    assert multikey_bytes(multikey) == RFC8032_PUBLIC
    assert verify_independently(signed, multikey)
    # Both canonical forms agree byte for byte.
    assert proofs.canonical_json(_summary(name)) == jcs(_summary(name))
    # Any change breaks the proof.
    for change in ({"minutes": 91}, {"name": name + " "}, {"month": "2024-06"}):
        assert not verify_independently({**signed, **change}, multikey)
    moved = dict(signed, proof=dict(signed["proof"], created="2024-06-01T09:30:01Z"))
    assert not verify_independently(moved, multikey)
    other = keys.ed25519_multikey(keys.generate_ed25519())
    assert not verify_independently(signed, other)


def test_fresh_keys_and_proofs_verify_independently() -> None:
    for _round in range(3):
        private = keys.generate_ed25519()
        signed = proofs.sign_object(_summary(NON_ASCII[4]), private, "https://b.example/k", CREATED)
        assert verify_independently(signed, keys.ed25519_multikey(private))
