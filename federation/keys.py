"""Actor key pairs: RSA-2048 for HTTP signatures, Ed25519 for object proofs, sealed at rest.

Public forms: RSA as SPKI PEM (``publicKeyPem``), Ed25519 as a FEP-521a Multikey
``publicKeyMultibase`` (multicodec 0xed01, base58btc, so it starts with ``z6Mk``).
Private keys are stored sealed: PKCS#8 DER encrypted with AES-256-GCM under a key
derived from the instance secret with HKDF-SHA256.
"""

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from federation.multibase import multibase_decode, multibase_encode

RSA_BITS = 2048
RSA_MIN_BITS = 2048
ED25519_MULTICODEC = b"\xed\x01"
SEAL_VERSION = "v1"
SEAL_INFO = b"benefed-key-at-rest"
NONCE_BYTES = 12

PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


class KeySealError(Exception):
    """A sealed private key could not be opened: wrong secret, damaged or unknown token."""


def generate_rsa() -> rsa.RSAPrivateKey:
    """A fresh RSA-2048 private key (public exponent 65537)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)


def generate_ed25519() -> ed25519.Ed25519PrivateKey:
    """A fresh Ed25519 private key."""
    return ed25519.Ed25519PrivateKey.generate()


def rsa_public_pem(key: rsa.RSAPublicKey | rsa.RSAPrivateKey) -> str:
    """The SPKI PEM text of an RSA public key (what ``publicKeyPem`` carries)."""
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def parse_rsa_public_pem(pem: str) -> rsa.RSAPublicKey:
    """The RSA public key of SPKI (or PKCS#1) PEM text; ValueError when not RSA-2048 or more."""
    try:
        key = serialization.load_pem_public_key(pem.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError, TypeError) as error:
        raise ValueError(f"not a PEM public key: {error}") from error
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the PEM public key is not an RSA key")
    if key.key_size < RSA_MIN_BITS:
        raise ValueError(f"RSA key of {key.key_size} bits is too small")
    return key


def ed25519_multikey(key: ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey) -> str:
    """The Multikey ``publicKeyMultibase`` of an Ed25519 public key (starts with 'z6Mk')."""
    public = key.public_key() if isinstance(key, ed25519.Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return multibase_encode(ED25519_MULTICODEC + raw)


def parse_ed25519_multikey(value: str) -> ed25519.Ed25519PublicKey:
    """The Ed25519 public key of a Multikey ``publicKeyMultibase``; ValueError otherwise."""
    data = multibase_decode(value)
    if not data.startswith(ED25519_MULTICODEC) or len(data) != len(ED25519_MULTICODEC) + 32:
        raise ValueError("not an Ed25519 Multikey (multicodec 0xed01 and 32 bytes)")
    return ed25519.Ed25519PublicKey.from_public_bytes(data[len(ED25519_MULTICODEC) :])


def ed25519_did_key(key: ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey) -> str:
    """The did:key identifier of an Ed25519 public key (FEP-c390 identity statements)."""
    return "did:key:" + ed25519_multikey(key)


def _sealing_cipher(secret: str) -> AESGCM:
    if not secret:
        raise ValueError("an instance secret is required to seal or open keys")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SEAL_INFO)
    return AESGCM(hkdf.derive(secret.encode("utf-8")))


def seal_private_key(private_key: PrivateKey, secret: str) -> str:
    """An ASCII token holding the private key encrypted under the instance secret."""
    plain = private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    nonce = os.urandom(NONCE_BYTES)
    sealed = _sealing_cipher(secret).encrypt(nonce, plain, SEAL_VERSION.encode("ascii"))
    return f"{SEAL_VERSION}:" + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def _unwrap(sealed: str) -> tuple[bytes, bytes]:
    version, _, payload = sealed.partition(":")
    if version != SEAL_VERSION:
        raise KeySealError(f"unknown sealed key format {version!r}")
    try:
        raw = base64.urlsafe_b64decode(payload.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError) as error:
        raise KeySealError("sealed key is not valid base64") from error
    if len(raw) <= NONCE_BYTES:
        raise KeySealError("sealed key is truncated")
    return raw[:NONCE_BYTES], raw[NONCE_BYTES:]


def open_private_key(sealed: str, secret: str) -> PrivateKey:
    """The private key inside a sealed token; KeySealError on a wrong secret or damaged token."""
    nonce, ciphertext = _unwrap(sealed)
    try:
        plain = _sealing_cipher(secret).decrypt(nonce, ciphertext, SEAL_VERSION.encode("ascii"))
    except InvalidTag as error:
        raise KeySealError("sealed key cannot be opened (wrong secret or damaged)") from error
    key = serialization.load_der_private_key(plain, password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise KeySealError("sealed key is neither RSA nor Ed25519")
    return key
