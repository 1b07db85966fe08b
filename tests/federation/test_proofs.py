"""FEP-8b32 eddsa-jcs-2022 proofs, checked by a verifier written here from the specifications."""

import copy
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given
from hypothesis import strategies as st

from federation import keys, proofs
from federation.proofs import ProofError

CREATED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY_ID = "https://b.test/associations/les-restos#ed25519-key"
CONTEXT = [
    "https://www.w3.org/ns/activitystreams",
    "https://w3id.org/security/data-integrity/v2",
    {
        "bf": "https://benefed.example/ns#",
        "HoursSummary": "bf:HoursSummary",
        "minutes": "bf:minutes",
    },
]
SUMMARY: dict[str, Any] = {
    "@context": CONTEXT,
    "id": "https://b.test/associations/les-restos/summaries/alice/2026-02",
    "type": "HoursSummary",
    "attributedTo": "https://b.test/associations/les-restos",
    "subject": "https://b.test/users/alice",
    "month": "2026-02",
    "minutes": 750,
    "actions": 6,
    "minutesByCategory": {"Aide alimentaire": 600, "Événements d'été ☀": 150},
    "valuedAmount": {"amount": "187.50", "currency": "EUR"},
    "validated": True,
    "note": None,
    "updated": "2026-03-01T11:59:00Z",
}


# An independent verifier, written from RFC 8785, the base58btc alphabet and vc-di-eddsa.

JCS_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def jcs_string(text: str) -> str:
    """RFC 8785 3.2.2.2: JSON escapes for '"', '\\' and controls; \\u00xx in lower-case hex."""
    out = []
    for char in text:
        if char in JCS_ESCAPES:
            out.append(JCS_ESCAPES[char])
        elif ord(char) < 0x20:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def jcs(value: Any) -> str:
    """RFC 8785 for objects, arrays, strings, integers, booleans and null (no floats)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return jcs_string(value)
    if isinstance(value, list):
        return "[" + ",".join(jcs(item) for item in value) + "]"
    if isinstance(value, dict):
        names = sorted(value, key=lambda name: name.encode("utf-16-be"))  # UTF-16 code units
        return "{" + ",".join(f"{jcs_string(name)}:{jcs(value[name])}" for name in names) + "}"
    raise TypeError(type(value))


def base58_decode(text: str) -> bytes:
    number = 0
    for char in text:
        number = number * 58 + BASE58.index(char)
    zeros = len(text) - len(text.lstrip("1"))
    return bytes(zeros) + (
        number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    )


def independent_verify(document: dict[str, Any], public_raw: bytes) -> None:
    """eddsa-jcs-2022 verification: hash(JCS(options)) || hash(JCS(document)), Ed25519."""
    proof = document["proof"]
    assert proof["type"] == "DataIntegrityProof"
    assert proof["cryptosuite"] == "eddsa-jcs-2022"
    assert proof["proofPurpose"] == "assertionMethod"
    assert proof["proofValue"][0] == "z"
    options = {name: value for name, value in proof.items() if name != "proofValue"}
    unsecured = {name: value for name, value in document.items() if name != "proof"}
    data = (
        hashlib.sha256(jcs(options).encode("utf-8")).digest()
        + hashlib.sha256(jcs(unsecured).encode("utf-8")).digest()
    )
    public = ed25519.Ed25519PublicKey.from_public_bytes(public_raw)
    public.verify(base58_decode(proof["proofValue"][1:]), data)  # raises InvalidSignature


def independent_sign(
    document: dict[str, Any], private: ed25519.Ed25519PrivateKey, proof: dict[str, Any]
) -> dict[str, Any]:
    data = (
        hashlib.sha256(jcs(proof).encode("utf-8")).digest()
        + hashlib.sha256(jcs(document).encode("utf-8")).digest()
    )
    number = int.from_bytes(private.sign(data), "big")
    digits = ""
    while number:
        number, remainder = divmod(number, 58)
        digits = BASE58[remainder] + digits
    return document | {"proof": proof | {"proofValue": "z" + digits}}


def raw_public(key: ed25519.Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@pytest.fixture(scope="module")
def key() -> ed25519.Ed25519PrivateKey:
    return keys.generate_ed25519()


@pytest.fixture(scope="module")
def signed(key: ed25519.Ed25519PrivateKey) -> dict[str, Any]:
    return proofs.sign_object(SUMMARY, key, KEY_ID, CREATED)


# The test's own JCS against RFC 8785's examples


def test_jcs_rfc8785_section_3_2_2_example_without_numbers() -> None:
    value = {
        "string": "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/",
        "literals": [None, True, False],
    }
    expected = '{"literals":[null,true,false],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    assert jcs(value) == expected
    assert rfc8785.dumps(value).decode("utf-8") == expected


def test_jcs_rfc8785_section_3_2_3_sorting_example() -> None:
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    expected = (
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
        '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    )
    assert jcs(value) == expected
    assert rfc8785.dumps(value).decode("utf-8") == expected


@pytest.mark.parametrize(
    ("number", "text"),
    [(0, "0"), (9007199254740992, "9007199254740992"), (-9007199254740992, "-9007199254740992")],
)
def test_jcs_rfc8785_appendix_b_integer_samples(number: int, text: str) -> None:
    assert jcs(number) == text


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@given(JSON)
def test_the_test_jcs_agrees_with_rfc8785(value: Any) -> None:
    assert jcs(value).encode("utf-8") == rfc8785.dumps(value)


# The W3C vc-di-eddsa test vector (eddsa-jcs-2022, Appendix B)

W3C_CONTEXT = [
    "https://www.w3.org/ns/credentials/v2",
    "https://www.w3.org/ns/credentials/examples/v2",
]
W3C_SECRET = "z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq"
W3C_PUBLIC = "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
W3C_METHOD = f"did:key:{W3C_PUBLIC}#{W3C_PUBLIC}"
W3C_PROOF_VALUE = (
    "z2HnFSSPPBzR36zdDgK8PbEHeXbR56YF24jwMpt3R1eHXQzJDMWS93FCzpvJpwTWd3GAVFuUfjoJdcnTMuVor51aX"
)
W3C_CREDENTIAL = {
    "@context": W3C_CONTEXT,
    "id": "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33",
    "type": ["VerifiableCredential", "AlumniCredential"],
    "name": "Alumni Credential",
    "description": "A minimum viable example of an Alumni Credential.",
    "issuer": "https://vc.example/issuers/5678",
    "validFrom": "2023-01-01T00:00:00Z",
    "credentialSubject": {"id": "did:example:abcdefgh", "alumniOf": "The School of Examples"},
}
W3C_CREATED = datetime(2023, 2, 24, 23, 36, 38, tzinfo=UTC)


def w3c_private_key() -> ed25519.Ed25519PrivateKey:
    decoded = base58_decode(W3C_SECRET[1:])
    assert decoded[:2] == b"\x80\x26"  # multicodec ed25519-priv
    return ed25519.Ed25519PrivateKey.from_private_bytes(decoded[2:])


def test_w3c_vector_hashes_with_the_test_jcs() -> None:
    options = {
        "@context": W3C_CONTEXT,
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-jcs-2022",
        "created": "2023-02-24T23:36:38Z",
        "verificationMethod": W3C_METHOD,
        "proofPurpose": "assertionMethod",
    }
    assert hashlib.sha256(jcs(W3C_CREDENTIAL).encode()).hexdigest() == (
        "59b7cb6251b8991add1ce0bc83107e3db9dbbab5bd2c28f687db1a03abc92f19"
    )
    assert hashlib.sha256(jcs(options).encode()).hexdigest() == (
        "66ab154f5c2890a140cb8388a22a160454f80575f6eae09e5a097cabe539a1db"
    )
    assert base58_decode(W3C_PROOF_VALUE[1:]).hex() == (
        "407cd12654b33d718ecbb99179a1506daaa849450bf3fc523cce3e1c96f8b803"
        "51da3f253d725c6f00b07c9e5448d50b3ef78012b9ab54255116d069c6dd2808"
    )


def test_w3c_vector_is_reproduced_by_sign_object() -> None:
    private = w3c_private_key()
    assert keys.ed25519_multikey(private.public_key()) == W3C_PUBLIC
    signed = proofs.sign_object(W3C_CREDENTIAL, private, W3C_METHOD, W3C_CREATED)
    assert signed["proof"]["proofValue"] == W3C_PROOF_VALUE
    assert signed["proof"]["@context"] == W3C_CONTEXT


def test_w3c_vector_is_accepted_by_verify_object() -> None:
    document = W3C_CREDENTIAL | {
        "proof": {
            "type": "DataIntegrityProof",
            "cryptosuite": "eddsa-jcs-2022",
            "created": "2023-02-24T23:36:38Z",
            "verificationMethod": W3C_METHOD,
            "proofPurpose": "assertionMethod",
            "@context": W3C_CONTEXT,
            "proofValue": W3C_PROOF_VALUE,
        }
    }
    proofs.verify_object(document, keys.parse_ed25519_multikey(W3C_PUBLIC))
    assert proofs.proof_key_id(document) == W3C_METHOD


# Our proofs


def test_proof_shape(signed: dict[str, Any]) -> None:
    proof = signed["proof"]
    assert proof["@context"] == CONTEXT
    assert proof["type"] == "DataIntegrityProof"
    assert proof["cryptosuite"] == "eddsa-jcs-2022"
    assert proof["verificationMethod"] == KEY_ID
    assert proof["proofPurpose"] == "assertionMethod"
    assert proof["created"] == "2026-03-01T12:00:00Z"
    assert proof["proofValue"].startswith("z")
    assert {name: value for name, value in signed.items() if name != "proof"} == SUMMARY


def test_sign_object_leaves_its_input_alone(key: ed25519.Ed25519PrivateKey) -> None:
    before = copy.deepcopy(SUMMARY)
    proofs.sign_object(SUMMARY, key, KEY_ID, CREATED)
    assert before == SUMMARY and "proof" not in SUMMARY


def test_created_is_utc_whole_seconds(key: ed25519.Ed25519PrivateKey) -> None:
    paris = datetime(2026, 3, 1, 13, 0, 5, 987654, tzinfo=timezone(timedelta(hours=1)))
    assert proofs.sign_object(SUMMARY, key, KEY_ID, paris)["proof"]["created"] == (
        "2026-03-01T12:00:05Z"
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        proofs.sign_object(SUMMARY, key, KEY_ID, datetime(2026, 3, 1))


def test_round_trip(signed: dict[str, Any], key: ed25519.Ed25519PrivateKey) -> None:
    proofs.verify_object(signed, key.public_key())
    assert proofs.proof_key_id(signed) == KEY_ID


def test_independent_verifier_accepts_our_proof(
    signed: dict[str, Any], key: ed25519.Ed25519PrivateKey
) -> None:
    independent_verify(signed, raw_public(key))


def test_we_accept_an_independently_made_proof(key: ed25519.Ed25519PrivateKey) -> None:
    proof = {
        "@context": CONTEXT,
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-jcs-2022",
        "verificationMethod": KEY_ID,
        "proofPurpose": "assertionMethod",
        "created": "2026-03-01T12:00:00Z",
    }
    proofs.verify_object(independent_sign(SUMMARY, key, proof), key.public_key())


def test_proof_without_context_uses_the_document_context(key: ed25519.Ed25519PrivateKey) -> None:
    # vc-di-eddsa: the proof configuration takes the document's @context even when the
    # emitted proof omits it (as Fedify's proofs do).
    options = {
        "@context": CONTEXT,
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-jcs-2022",
        "verificationMethod": KEY_ID,
        "proofPurpose": "assertionMethod",
        "created": "2026-03-01T12:00:00Z",
    }
    document = independent_sign(SUMMARY, key, options)
    del document["proof"]["@context"]
    proofs.verify_object(document, key.public_key())


def test_non_ascii_text_round_trips(key: ed25519.Ed25519PrivateKey) -> None:
    document = SUMMARY | {
        "name": "Épicerie solidaire « Le Panier » — bénévoles 🍞",
        "summary": "Ligne 1\nLigne 2\t\u0001\u2028",
        "tags": ["cœur", "日本語", "\U0001d11e"],
    }
    signed = proofs.sign_object(document, key, KEY_ID, CREATED)
    proofs.verify_object(signed, key.public_key())
    independent_verify(signed, raw_public(key))
    tampered = copy.deepcopy(signed)
    tampered["name"] = tampered["name"].replace("É", "E")
    with pytest.raises(ProofError, match="does not match"):
        proofs.verify_object(tampered, key.public_key())


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d.__setitem__("minutes", 751),
        lambda d: d["minutesByCategory"].__setitem__("Aide alimentaire", 601),
        lambda d: d.__setitem__("subject", "https://b.test/users/mallory"),
        lambda d: d.__setitem__("extra", "added"),
        lambda d: d.pop("note"),
        lambda d: d["proof"].__setitem__("created", "2026-03-02T12:00:00Z"),
        lambda d: d["proof"].__setitem__("verificationMethod", KEY_ID + "-2"),
        lambda d: d.__setitem__("@context", CONTEXT[:2]),
    ],
)
def test_tampering_is_detected(
    signed: dict[str, Any],
    key: ed25519.Ed25519PrivateKey,
    tamper: Callable[[dict[str, Any]], object],
) -> None:
    tampered = copy.deepcopy(signed)
    tamper(tampered)
    with pytest.raises(ProofError):
        proofs.verify_object(tampered, key.public_key())


def test_tampered_minutes_fail_with_a_reason(
    signed: dict[str, Any], key: ed25519.Ed25519PrivateKey
) -> None:
    tampered = copy.deepcopy(signed) | {"minutes": 7500}
    with pytest.raises(ProofError, match="does not match the object"):
        proofs.verify_object(tampered, key.public_key())


def test_wrong_key_is_refused(signed: dict[str, Any]) -> None:
    with pytest.raises(ProofError, match="does not match"):
        proofs.verify_object(signed, keys.generate_ed25519().public_key())


def test_rsa_key_is_refused(signed: dict[str, Any]) -> None:
    with pytest.raises(ProofError, match="not an Ed25519 key"):
        proofs.verify_object(signed, keys.generate_rsa().public_key())  # type: ignore[arg-type]


# Proof structure


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"cryptosuite": "eddsa-rdfc-2022"}, "cryptosuite"),
        ({"proofPurpose": "authentication"}, "proofPurpose"),
        ({"type": "Ed25519Signature2020"}, "type"),
        ({"proofValue": None}, "no proofValue"),
        ({"proofValue": "u" + "A" * 86}, "base58btc"),
        ({"proofValue": "z" + "2" * 20}, "not an Ed25519 signature"),
        ({"@context": ["https://example.test/other"]}, "prefix"),
    ],
)
def test_bad_proofs_are_refused(
    signed: dict[str, Any], key: ed25519.Ed25519PrivateKey, change: dict[str, Any], reason: str
) -> None:
    document = signed | {"proof": signed["proof"] | change}
    with pytest.raises(ProofError, match=reason):
        proofs.verify_object(document, key.public_key())


def test_missing_proof(key: ed25519.Ed25519PrivateKey) -> None:
    with pytest.raises(ProofError, match="no proof"):
        proofs.verify_object(SUMMARY, key.public_key())
    with pytest.raises(ProofError, match="no proof"):
        proofs.proof_key_id(SUMMARY)
    with pytest.raises(ProofError, match="not an object"):
        proofs.verify_object(SUMMARY | {"proof": "z123"}, key.public_key())


def test_one_proof_only(signed: dict[str, Any], key: ed25519.Ed25519PrivateKey) -> None:
    proofs.verify_object(signed | {"proof": [signed["proof"]]}, key.public_key())
    with pytest.raises(ProofError, match="exactly one proof"):
        proofs.verify_object(signed | {"proof": [signed["proof"]] * 2}, key.public_key())
    with pytest.raises(ValueError, match="already carries a proof"):
        proofs.sign_object(signed, key, KEY_ID, CREATED)


def test_proof_key_id_needs_a_verification_method(signed: dict[str, Any]) -> None:
    proof = {name: value for name, value in signed["proof"].items() if name != "verificationMethod"}
    with pytest.raises(ProofError, match="no verificationMethod"):
        proofs.proof_key_id(signed | {"proof": proof})


def test_expired_proofs_are_refused_when_a_clock_is_given(key: ed25519.Ed25519PrivateKey) -> None:
    proof = {
        "@context": CONTEXT,
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-jcs-2022",
        "verificationMethod": KEY_ID,
        "proofPurpose": "assertionMethod",
        "created": "2026-03-01T12:00:00Z",
        "expires": "2027-03-01T12:00:00Z",
    }
    document = independent_sign(SUMMARY, key, proof)
    proofs.verify_object(document, key.public_key(), now=CREATED)
    with pytest.raises(ProofError, match="expired"):
        proofs.verify_object(document, key.public_key(), now=datetime(2027, 3, 2, tzinfo=UTC))


# JCS safety


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"hours": 12.5}, "float"),
        ({"nested": {"list": [1, 2, 0.5]}}, "float"),
        ({"big": 2**53}, "beyond"),
        ({"@graph": []}, "@graph"),
        ({"object": {"@included": []}}, "@included"),
        ({"items": [{"@reverse": {}}]}, "@reverse"),
    ],
)
def test_unsafe_documents_are_refused(
    signed: dict[str, Any], key: ed25519.Ed25519PrivateKey, extra: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ValueError, match=f"JCS-unsafe.*{reason}"):
        proofs.sign_object(SUMMARY | extra, key, KEY_ID, CREATED)
    with pytest.raises(ProofError, match=f"JCS-unsafe.*{reason}"):
        proofs.verify_object(signed | extra, key.public_key())


def test_unsafe_proof_options_are_refused(
    signed: dict[str, Any], key: ed25519.Ed25519PrivateKey
) -> None:
    document = signed | {"proof": signed["proof"] | {"nonce": 0.1}}
    with pytest.raises(ProofError, match="float"):
        proofs.verify_object(document, key.public_key())


def test_jcs_problem_accepts_plain_json() -> None:
    assert proofs.jcs_problem(SUMMARY) is None
    assert proofs.jcs_problem({"ok": [True, False, None, -(2**53) + 1]}) is None
    assert proofs.jcs_problem({"t": (1, 2)}) == "tuple is not a JSON value"
    assert proofs.jcs_problem({1: "x"}) == "object key 1 is not a string"
