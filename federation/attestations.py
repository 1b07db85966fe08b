"""Attestations: a JSON bundle of a person's signed hours summaries, and its verification.

The bundle carries each summary exactly as its issuer sent it (proof included)
and the association keys that signed them, as cached from the issuers' actor
documents (revoked keys too: a proof made before a key was revoked stays good).
Anyone can check a bundle offline with those embedded keys, or online against
the keys the associations publish today. Each summary gets a verdict: valid,
tampered (the proof does not match the object) or key unknown.
"""

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlmodel import Session, col, select

from federation import keys, proofs, remote_actors, urls
from federation.actor_documents import parse_assertion_methods, same_origin, stored_document
from federation.remote_actors import RemoteActorError
from instance.config import Config
from instance.person_hours import MonthRange, received_summaries
from schema.db import Database
from schema.tables import ReceivedSummary, RemoteActor, User

VALID = "valid"
TAMPERED = "tampered"
KEY_UNKNOWN = "key unknown"
VERDICTS = (VALID, TAMPERED, KEY_UNKNOWN)
SUMMARY_TYPE = "HoursSummary"
#: A bundle holding more summaries than this is refused (about 40 years of 10 associations).
MAX_SUMMARIES = 5000
#: At most this many distinct signers are fetched to check a bundle online.
MAX_SIGNERS = 50

#: Answers an actor URI with its current actor document; raises LookupError when it cannot.
OnlineFetch = Callable[[str], Mapping[str, Any]]


class BundleError(ValueError):
    """The data is not an attestation bundle."""


@dataclass(frozen=True)
class Verdict:
    """What checking one summary of a bundle found."""

    summary_id: str
    association: str
    month: str
    minutes: int | None
    verdict: str
    detail: str = ""
    key_id: str = ""

    @property
    def valid(self) -> bool:
        """True when the summary's proof holds."""
        return self.verdict == VALID


def iso(moment: datetime) -> str:
    """A UTC timestamp with a 'Z', to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parsed(row: ReceivedSummary) -> dict[str, Any] | None:
    try:
        found = json.loads(row.body)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def _key_id(document: Mapping[str, Any]) -> str:
    try:
        return proofs.proof_key_id(dict(document))
    except proofs.ProofError:
        return ""


def verification_methods(session: Session, documents: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The cached keys that signed these summaries, revoked ones included, by key id."""
    wanted = {_key_id(document) for document in documents} - {""}
    issuers = {str(document.get("attributedTo")) for document in documents}
    if not wanted:
        return []
    actors = session.exec(select(RemoteActor).where(col(RemoteActor.uri).in_(sorted(issuers))))
    found: dict[str, dict[str, str]] = {}
    for actor in actors:
        methods = stored_document(actor).get("assertionMethod", [])
        for method in parse_assertion_methods(actor.uri, methods):
            if method["id"] in wanted:
                found[method["id"]] = method
    return [found[key_id] for key_id in sorted(found)]


def subject_of(config: Config, user: User) -> dict[str, Any]:
    """Who the attestation is about: their name, handle and actor here."""
    return {
        "id": urls.actor_uri(config, "user", user.username) if user.federation_enabled else None,
        "name": user.display_name or user.username,
        "handle": f"{user.username}@{config.domain}",
    }


def bundle_text(
    session: Session, *, config: Config, user: User, months: MonthRange, issued: datetime
) -> str:
    """The attestation bundle as JSON text, each summary spliced in exactly as received."""
    bodies, documents = [], []
    for row in received_summaries(session, user=user, months=months):
        document = _parsed(row)
        if document is not None:
            bodies.append(row.body.strip())
            documents.append(document)
    head = {
        "subject": subject_of(config, user),
        "issued": iso(issued),
        "period": {"from": months.first, "to": months.last},
        "verificationMethods": verification_methods(session, documents),
    }
    encoded = [f"{json.dumps(k)}:{json.dumps(v, ensure_ascii=False)}" for k, v in head.items()]
    return "{" + ",".join(encoded) + ',"summaries":[' + ",".join(bodies) + "]}"


# Checking a bundle


def read_bundle(data: Any) -> list[Any]:
    """The summaries of a parsed bundle; BundleError when it is not one."""
    if not isinstance(data, dict):
        raise BundleError("the file is not a JSON object")
    summaries = data.get("summaries")
    if not isinstance(summaries, list):
        raise BundleError("the file has no list of summaries")
    if len(summaries) > MAX_SUMMARIES:
        raise BundleError(f"the file holds more than {MAX_SUMMARIES} summaries")
    methods = data.get("verificationMethods", [])
    if not isinstance(methods, list):
        raise BundleError("verificationMethods is not a list")
    return summaries


def parse_bundle(raw: bytes | str) -> dict[str, Any]:
    """A bundle from JSON text; BundleError when it is not valid JSON or not a bundle."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise BundleError(f"the file is not valid JSON ({error})") from None
    read_bundle(data)
    return data  # type: ignore[no-any-return]


def signers(bundle: Mapping[str, Any]) -> list[str]:
    """The distinct associations (actor URIs) whose summaries the bundle holds."""
    found: list[str] = []
    for summary in read_bundle(bundle):
        issuer = summary.get("attributedTo") if isinstance(summary, dict) else None
        if isinstance(issuer, str) and issuer.startswith(("http://", "https://")):
            if issuer not in found:
                found.append(issuer)
    return found


def _timestamp(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class _KeyUnknown(Exception):
    """The summary's key cannot be trusted or found."""


def _embedded_methods(bundle: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for method in bundle.get("verificationMethods", []):
        if isinstance(method, dict) and isinstance(method.get("id"), str):
            found.setdefault(method["id"], method)
    return found


def _offline_method(methods: Mapping[str, Any], key_id: str, issuer: str) -> Mapping[str, Any]:
    method = methods.get(key_id)
    if method is None:
        raise _KeyUnknown("the bundle does not hold the key that signed this summary")
    if method.get("controller") != issuer:
        raise _KeyUnknown("the key does not belong to the association named in the summary")
    return method


def _online_method(fetch: OnlineFetch, key_id: str, issuer: str) -> Mapping[str, Any]:
    try:
        document = fetch(issuer)
    except LookupError as error:
        raise _KeyUnknown(f"the association's keys could not be fetched: {error}") from None
    for method in parse_assertion_methods(issuer, document.get("assertionMethod")):
        if method["id"] == key_id:
            return method
    raise _KeyUnknown("the association does not publish the key that signed this summary")


def _public_key(method: Mapping[str, Any], proof: Mapping[str, Any]) -> Any:
    try:
        key = keys.parse_ed25519_multikey(str(method.get("publicKeyMultibase")))
    except ValueError:
        raise _KeyUnknown("the key is not an Ed25519 key") from None
    if "revoked" in method:
        revoked, created = _timestamp(method["revoked"]), _timestamp(proof.get("created"))
        if revoked is None or created is None or created > revoked:
            raise _KeyUnknown(f"the key was revoked on {method['revoked']}, before this proof")
    return key


def _the_proof(summary: Mapping[str, Any]) -> Mapping[str, Any]:
    proof = summary.get("proof")
    if isinstance(proof, list) and len(proof) == 1:
        proof = proof[0]
    return proof if isinstance(proof, dict) else {}


def _facts(summary: Any) -> tuple[str, str, str, int | None]:
    if not isinstance(summary, dict):
        return "", "", "", None
    minutes = summary.get("minutes")
    return (
        str(summary.get("id") or "")[:2048],
        str(summary.get("name") or summary.get("attributedTo") or "")[:255],
        str(summary.get("month") or "")[:7],
        minutes if isinstance(minutes, int) and not isinstance(minutes, bool) else None,
    )


def check_summary(
    summary: Any, methods: Mapping[str, Any], online_fetch: OnlineFetch | None = None
) -> Verdict:
    """The verdict on one summary, with the bundle's keys or (online) the issuer's current ones."""
    summary_id, association, month, minutes = _facts(summary)
    facts = (summary_id, association, month, minutes)
    if not isinstance(summary, dict) or summary.get("type") != SUMMARY_TYPE:
        return Verdict(*facts, TAMPERED, "this is not an hours summary")
    issuer, key_id = summary.get("attributedTo"), _key_id(summary)
    if not key_id:
        return Verdict(*facts, TAMPERED, "the summary carries no proof")
    if not isinstance(issuer, str) or not same_origin(issuer, key_id):
        return Verdict(*facts, KEY_UNKNOWN, "the key is not on the association's server", key_id)
    try:
        if online_fetch is None:
            method = _offline_method(methods, key_id, issuer)
        else:
            method = _online_method(online_fetch, key_id, issuer)
        public_key = _public_key(method, _the_proof(summary))
    except _KeyUnknown as error:
        return Verdict(*facts, KEY_UNKNOWN, str(error), key_id)
    try:
        proofs.verify_object(summary, public_key)
    except proofs.ProofError as error:
        return Verdict(*facts, TAMPERED, str(error), key_id)
    return Verdict(*facts, VALID, "", key_id)


def verify_bundle(bundle: Any, *, online_fetch: OnlineFetch | None = None) -> list[Verdict]:
    """A verdict per summary: offline with the keys the bundle embeds, or online via online_fetch.

    ``online_fetch(actor_uri)`` answers the association's current actor document
    (see ``fetch_signers``) or raises LookupError. Raises BundleError when the data
    is not a bundle.
    """
    summaries = read_bundle(bundle)
    methods = _embedded_methods(bundle)
    return [check_summary(summary, methods, online_fetch) for summary in summaries]


async def fetch_signers(
    db: Database, client: httpx.AsyncClient, config: Config, bundle: Mapping[str, Any]
) -> OnlineFetch:
    """Fetch (signed GET) the current actor document of each signer; a lookup for verify_bundle."""
    documents: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    for uri in signers(bundle)[:MAX_SIGNERS]:
        try:
            documents[uri] = await remote_actors.fetch_object(db, client, config, uri)
        except (RemoteActorError, httpx.InvalidURL, ValueError) as error:
            errors[uri] = str(error)

    def lookup(uri: str) -> Mapping[str, Any]:
        if uri in documents:
            return documents[uri]
        raise LookupError(errors.get(uri, "too many associations in one bundle"))

    return lookup


def all_valid(verdicts: list[Verdict]) -> bool:
    """True when every summary is valid."""
    return all(verdict.valid for verdict in verdicts)
