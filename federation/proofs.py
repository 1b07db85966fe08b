"""FEP-8b32 object integrity proofs with the eddsa-jcs-2022 cryptosuite, as pure functions.

The signed data is ``SHA-256(JCS(proof options)) || SHA-256(JCS(document))`` (W3C
vc-di-eddsa), where the proof options are the proof without ``proofValue`` and carry
the document's ``@context``. JCS is RFC 8785 through the ``rfc8785`` package. Signed
data must be JCS-safe: no floats, integers within +-(2**53 - 1), and no JSON-LD
``@graph``, ``@included`` or ``@reverse`` keys anywhere.
"""

import hashlib
from datetime import UTC, datetime
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from federation.multibase import multibase_decode, multibase_encode

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-jcs-2022"
PROOF_PURPOSE = "assertionMethod"
FORBIDDEN_KEYS = frozenset({"@graph", "@included", "@reverse"})
MAX_SAFE_INTEGER = 2**53 - 1
SIGNATURE_BYTES = 64


class ProofError(Exception):
    """An object's integrity proof is missing, unsupported, unsafe or does not verify."""


def jcs_problem(value: Any) -> str | None:
    """Why a JSON value is unsafe to sign with JCS (a float, a huge integer, @graph...), or None."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    return f"object key {key!r} is not a string"
                if key in FORBIDDEN_KEYS:
                    return f"JSON-LD keyword {key} is not accepted"
                pending.append(child)
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, float):
            return f"float {item!r} is JCS-unsafe (use integers or strings)"
        elif isinstance(item, int) and not isinstance(item, bool):
            if abs(item) > MAX_SAFE_INTEGER:
                return f"integer {item} is beyond 2**53 - 1"
        elif item is not None and not isinstance(item, str | bool):
            return f"{type(item).__name__} is not a JSON value"
    return None


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 (JCS) bytes of a JSON value; ValueError when the value is JCS-unsafe."""
    problem = jcs_problem(value)
    if problem is not None:
        raise ValueError(f"JCS-unsafe: {problem}")
    return rfc8785.dumps(value)


def format_created(moment: datetime) -> str:
    """A proof timestamp: UTC, whole seconds, with a 'Z' (e.g. '2026-03-01T12:00:00Z')."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a timezone-aware datetime is required")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def signing_input(options: dict[str, Any], unsecured: dict[str, Any]) -> bytes:
    """The data eddsa-jcs-2022 signs: SHA-256(JCS(options)) || SHA-256(JCS(document))."""
    return (
        hashlib.sha256(canonical_json(options)).digest()
        + hashlib.sha256(canonical_json(unsecured)).digest()
    )


def sign_object(
    document: dict[str, Any],
    private_key: ed25519.Ed25519PrivateKey,
    verification_method: str,
    created: datetime,
) -> dict[str, Any]:
    """A copy of the document with an eddsa-jcs-2022 ``proof``; ValueError when it is unsafe to sign."""
    if "proof" in document:
        raise ValueError("the document already carries a proof")
    options: dict[str, Any] = {}
    if "@context" in document:
        options["@context"] = document["@context"]
    options.update(
        type=PROOF_TYPE,
        cryptosuite=CRYPTOSUITE,
        verificationMethod=verification_method,
        proofPurpose=PROOF_PURPOSE,
        created=format_created(created),
    )
    signature = private_key.sign(signing_input(options, document))
    return {**document, "proof": {**options, "proofValue": multibase_encode(signature)}}


def _the_proof(document: Any) -> dict[str, Any]:
    if not isinstance(document, dict) or "proof" not in document:
        raise ProofError("the object has no proof")
    proof = document["proof"]
    if isinstance(proof, list):
        if len(proof) != 1:
            raise ProofError("the object must carry exactly one proof")
        proof = proof[0]
    if not isinstance(proof, dict):
        raise ProofError("the proof is not an object")
    return proof


def proof_key_id(document: dict[str, Any]) -> str:
    """The verificationMethod (key id) of an object's proof, to look the key up before verifying."""
    method = _the_proof(document).get("verificationMethod")
    if not isinstance(method, str) or not method:
        raise ProofError("the proof has no verificationMethod")
    return method


def _check_shape(proof: dict[str, Any]) -> None:
    expected = {"type": PROOF_TYPE, "cryptosuite": CRYPTOSUITE, "proofPurpose": PROOF_PURPOSE}
    for name, value in expected.items():
        if proof.get(name) != value:
            raise ProofError(f"proof {name} is {proof.get(name)!r}, not {value!r}")
    if not isinstance(proof.get("proofValue"), str):
        raise ProofError("the proof has no proofValue")


def _check_expiry(proof: dict[str, Any], now: datetime | None) -> None:
    if now is None or "expires" not in proof:
        return
    try:
        expires = datetime.fromisoformat(str(proof["expires"]).replace("Z", "+00:00"))
    except ValueError as error:
        raise ProofError("proof expires is not a timestamp") from error
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    if now.tzinfo is None:
        raise ValueError("a timezone-aware datetime is required")
    if expires < now:
        raise ProofError("the proof has expired")


def _as_list(context: Any) -> list[Any]:
    return context if isinstance(context, list) else [context]


def _hashed_parts(document: dict[str, Any], proof: dict[str, Any]) -> bytes:
    unsecured = {key: value for key, value in document.items() if key != "proof"}
    options = {key: value for key, value in proof.items() if key != "proofValue"}
    if "@context" in options:
        wanted = _as_list(options["@context"])
        if _as_list(unsecured.get("@context", []))[: len(wanted)] != wanted:
            raise ProofError("the proof's @context is not a prefix of the object's @context")
        unsecured["@context"] = options["@context"]
    elif "@context" in unsecured:
        options["@context"] = unsecured["@context"]
    try:
        return signing_input(options, unsecured)
    except ValueError as error:
        raise ProofError(str(error)) from error


def _signature(proof: dict[str, Any]) -> bytes:
    try:
        signature = multibase_decode(proof["proofValue"])
    except ValueError as error:
        raise ProofError(f"proofValue is not base58btc multibase: {error}") from error
    if len(signature) != SIGNATURE_BYTES:
        raise ProofError("proofValue is not an Ed25519 signature")
    return signature


def verify_object(
    document: dict[str, Any],
    public_key: ed25519.Ed25519PublicKey,
    now: datetime | None = None,
) -> None:
    """Check an object's eddsa-jcs-2022 proof against the signer's key; ProofError says why not."""
    proof = _the_proof(document)
    _check_shape(proof)
    _check_expiry(proof, now)
    problem = jcs_problem(document)
    if problem is not None:
        raise ProofError(f"JCS-unsafe: {problem}")
    if not isinstance(public_key, ed25519.Ed25519PublicKey):
        raise ProofError("the verification key is not an Ed25519 key")
    data = _hashed_parts(document, proof)
    try:
        public_key.verify(_signature(proof), data)
    except InvalidSignature as error:
        raise ProofError(
            "the proof does not match the object (tampered, or another key)"
        ) from error
