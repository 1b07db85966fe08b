"""Key pairs, their public forms, base58btc, and private keys sealed at rest."""

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from hypothesis import given
from hypothesis import strategies as st

from federation import keys
from federation.multibase import b58decode, b58encode, multibase_decode, multibase_encode

SECRET = "instance-secret-" + "s" * 32


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return keys.generate_rsa()


def raw_private(key: ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def raw_public(key: ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


# base58btc and multibase


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"", ""),
        (b"Hello World!", "2NEpo7TZRRrLZSi2U"),
        (
            b"The quick brown fox jumps over the lazy dog.",
            "USm3fpXnKG5EUBx2ndxBDMPVciP5hGey2Jh4NDv6gmeo1LkMeiKrLJUUBk6Z",
        ),
        (bytes.fromhex("0000287fb4cd"), "11233QC4"),
        (b"\0", "1"),
    ],
)
def test_base58btc_known_vectors(data: bytes, text: str) -> None:
    assert b58encode(data) == text
    assert b58decode(text) == data


@given(st.binary(max_size=80))
def test_base58btc_round_trip(data: bytes) -> None:
    assert b58decode(b58encode(data)) == data
    assert multibase_decode(multibase_encode(data)) == data


@pytest.mark.parametrize("bad", ["0abc", "Oops", "Il", "ab+c"])
def test_base58btc_refuses_characters_outside_the_alphabet(bad: str) -> None:
    with pytest.raises(ValueError, match="base58btc character"):
        b58decode(bad)


def test_multibase_accepts_base58btc_only() -> None:
    assert multibase_encode(b"\x01\x02").startswith("z")
    with pytest.raises(ValueError, match="base58btc"):
        multibase_decode("mAQI")  # base64 multibase


# RSA


def test_rsa_keys_are_2048_bits(rsa_key: rsa.RSAPrivateKey) -> None:
    assert rsa_key.key_size == 2048
    assert rsa_key.public_key().public_numbers().e == 65537


def test_rsa_public_pem_is_spki_and_round_trips(rsa_key: rsa.RSAPrivateKey) -> None:
    pem = keys.rsa_public_pem(rsa_key.public_key())
    assert pem.startswith("-----BEGIN PUBLIC KEY-----\n")
    assert pem.rstrip().endswith("-----END PUBLIC KEY-----")
    assert keys.rsa_public_pem(rsa_key) == pem
    parsed = keys.parse_rsa_public_pem(pem)
    assert parsed.public_numbers() == rsa_key.public_key().public_numbers()


def test_parse_rsa_public_pem_refuses_other_keys() -> None:
    ed_pem = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with pytest.raises(ValueError, match="not an RSA key"):
        keys.parse_rsa_public_pem(ed_pem)
    with pytest.raises(ValueError, match="not a PEM public key"):
        keys.parse_rsa_public_pem("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----")
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ValueError, match="1024 bits is too small"):
        keys.parse_rsa_public_pem(keys.rsa_public_pem(small))


# Ed25519 Multikey


def test_ed25519_multikey_matches_the_did_key_test_vector() -> None:
    # did:key specification, Ed25519 test vector for the all-zero seed.
    key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(32))
    assert keys.ed25519_multikey(key) == "z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"
    assert keys.ed25519_did_key(key.public_key()) == (
        "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"
    )


def test_ed25519_multikey_round_trips() -> None:
    key = keys.generate_ed25519()
    value = keys.ed25519_multikey(key.public_key())
    assert value.startswith("z6Mk")
    data = multibase_decode(value)
    assert data[:2] == b"\xed\x01"
    assert data[2:] == raw_public(key.public_key())
    assert raw_public(keys.parse_ed25519_multikey(value)) == raw_public(key.public_key())


@pytest.mark.parametrize(
    "value",
    [
        multibase_encode(b"\x12\x05" + bytes(32)),  # another multicodec
        multibase_encode(b"\xed\x01" + bytes(31)),  # too short
        "u7QE",  # not base58btc
    ],
)
def test_parse_ed25519_multikey_refuses_other_values(value: str) -> None:
    with pytest.raises(ValueError):
        keys.parse_ed25519_multikey(value)


# Sealed private keys


def test_sealed_keys_round_trip(rsa_key: rsa.RSAPrivateKey) -> None:
    ed_key = keys.generate_ed25519()
    opened_ed = keys.open_private_key(keys.seal_private_key(ed_key, SECRET), SECRET)
    assert isinstance(opened_ed, ed25519.Ed25519PrivateKey)
    assert raw_private(opened_ed) == raw_private(ed_key)
    opened_rsa = keys.open_private_key(keys.seal_private_key(rsa_key, SECRET), SECRET)
    assert isinstance(opened_rsa, rsa.RSAPrivateKey)
    assert opened_rsa.private_numbers() == rsa_key.private_numbers()


def test_sealing_twice_gives_different_tokens() -> None:
    key = keys.generate_ed25519()
    assert keys.seal_private_key(key, SECRET) != keys.seal_private_key(key, SECRET)


def test_wrong_secret_fails_clearly() -> None:
    sealed = keys.seal_private_key(keys.generate_ed25519(), SECRET)
    with pytest.raises(keys.KeySealError, match="wrong secret") as caught:
        keys.open_private_key(sealed, SECRET + "!")
    assert not isinstance(caught.value, KeyError)


@pytest.mark.parametrize("damage", ["v2:", "v1:!!!!", "v1:AAAA", "garbage"])
def test_damaged_tokens_fail_clearly(damage: str) -> None:
    with pytest.raises(keys.KeySealError):
        keys.open_private_key(damage, SECRET)


def test_flipped_byte_is_detected() -> None:
    sealed = keys.seal_private_key(keys.generate_ed25519(), SECRET)
    raw = bytearray(base64.urlsafe_b64decode(sealed[3:]))
    raw[20] ^= 1
    with pytest.raises(keys.KeySealError):
        keys.open_private_key("v1:" + base64.urlsafe_b64encode(bytes(raw)).decode(), SECRET)


def test_sealed_text_reveals_no_key_material(rsa_key: rsa.RSAPrivateKey) -> None:
    ed_key = keys.generate_ed25519()
    secret_bytes = raw_private(ed_key)
    sealed = keys.seal_private_key(ed_key, SECRET)
    assert sealed.isascii() and sealed.startswith("v1:")
    assert "PRIVATE KEY" not in sealed
    encodings = {
        secret_bytes.hex(),
        secret_bytes.hex().upper(),
        base64.b64encode(secret_bytes).decode().rstrip("="),
        base64.urlsafe_b64encode(secret_bytes).decode().rstrip("="),
    }
    for encoded in encodings:
        assert encoded not in sealed
    payload = base64.urlsafe_b64decode(sealed[3:])
    assert secret_bytes not in payload
    # Every byte alignment of the base64 text: a clear key would show up in one of them.
    for shift in range(3):
        chunk = base64.b64encode(b"\0" * shift + secret_bytes).decode()[4:-4]
        assert chunk not in sealed.replace("-", "+").replace("_", "/")
    assert "PRIVATE KEY" not in keys.seal_private_key(rsa_key, SECRET)


def test_sealing_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="secret"):
        keys.seal_private_key(keys.generate_ed25519(), "")
