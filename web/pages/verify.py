"""The public page that checks an attestation bundle: anyone, no account, rate-limited.

A visitor uploads the JSON file (or pastes it); each summary gets the verdict
``benefed verify`` gives: valid, tampered or key unknown. Online checking fetches
the associations' current keys (at most a few signers per bundle).
"""

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from federation import attestations
from federation.attestations import BundleError, Verdict
from federation.safe_http import host_of
from instance.i18n import _
from instance.person_hours import MONTH, month_label
from instance.ratelimit import RateLimiter
from web import csrf
from web.activitypub._client import federation_client
from web.forms import FormState, checked
from web.services import services
from web.templating import render

MAX_BUNDLE_BYTES = 1_000_000
#: Pasted text longer than this is not shown again in the form.
ECHO_LIMIT = 100_000
LIMITER_KEY = "verify_limiter"
CHECKS_PER_WINDOW = 30
WINDOW_SECONDS = 600


def limiter(request: Request) -> RateLimiter:
    """The app's limit on checks per address (made on first use)."""
    extras = services(request).extras
    found = extras.get(LIMITER_KEY)
    if found is None:
        found = extras[LIMITER_KEY] = RateLimiter(CHECKS_PER_WINDOW, WINDOW_SECONDS)
    return found  # type: ignore[no-any-return]


def verdict_text(verdict: Verdict) -> str:
    """A verdict in plain words."""
    if verdict.verdict == attestations.VALID:
        return _("Valid: signed by the association and unchanged")
    if verdict.verdict == attestations.TAMPERED:
        return _("Tampered: changed after it was signed, or badly signed")
    return _("Key unknown: the key that signed it cannot be found or trusted")


def verdict_rows(verdicts: list[Verdict]) -> list[dict[str, Any]]:
    """What the page shows of each verdict."""
    return [
        {
            "verdict": verdict,
            "css": verdict.verdict.replace(" ", "-"),
            "text": verdict_text(verdict),
            "month": month_label(verdict.month) if MONTH.match(verdict.month) else verdict.month,
            "instance": host_of(verdict.summary_id) if verdict.summary_id else "",
        }
        for verdict in verdicts
    ]


def _page(
    request: Request,
    state: FormState,
    *,
    verdicts: list[Verdict] | None = None,
    online: bool = True,
    status: int = 200,
) -> Response:
    context = {
        "form": state,
        "online": online,
        "verdicts": verdict_rows(verdicts) if verdicts is not None else None,
        "all_valid": verdicts is not None and attestations.all_valid(verdicts),
        "max_kilobytes": MAX_BUNDLE_BYTES // 1000,
    }
    return render(request, "verify/verify.html", context, status=status)


async def _uploaded(form: FormData) -> bytes | None:
    upload = form.get("file")
    if isinstance(upload, UploadFile) and upload.filename:
        return await upload.read(MAX_BUNDLE_BYTES + 1)
    text = form.get("bundle")
    if isinstance(text, str) and text.strip():
        return text.encode("utf-8")
    return None


def _state(form: FormData) -> FormState:
    text = form.get("bundle")
    pasted = text if isinstance(text, str) and len(text) <= ECHO_LIMIT else ""
    return FormState(values={"bundle": pasted})


async def _check(request: Request, raw: bytes, online: bool) -> list[Verdict]:
    bundle = attestations.parse_bundle(raw)
    if not online:
        return attestations.verify_bundle(bundle)
    found = services(request)
    client = federation_client(request)
    lookup = await attestations.fetch_signers(found.db, client, found.config, bundle)
    return attestations.verify_bundle(bundle, online_fetch=lookup)


async def verify_page(request: Request) -> Response:
    """Show the form (GET) or check the bundle given (POST)."""
    if request.method != "POST":
        return await run_in_threadpool(_page, request, FormState())
    form = await request.form(max_files=1, max_fields=200, max_part_size=MAX_BUNDLE_BYTES + 1024)
    csrf.check(request, form)
    state, online = _state(form), checked(form, "online")
    address = request.client.host if request.client else "unknown"
    if limiter(request).blocked(address):
        state.errors["bundle"] = _("Too many checks from your address. Try again in a few minutes.")
        return await run_in_threadpool(_page, request, state, online=online, status=429)
    limiter(request).hit(address)
    raw = await _uploaded(form)
    if raw is None:
        state.errors["bundle"] = _("Choose the attestation file, or paste its content.")
    elif len(raw) > MAX_BUNDLE_BYTES:
        state.errors["bundle"] = _("The file is too large: at most {size} kB.").format(
            size=MAX_BUNDLE_BYTES // 1000
        )
    else:
        try:
            verdicts = await _check(request, raw, online)
        except BundleError as error:
            state.errors["bundle"] = _("This is not an attestation file ({reason}).").format(
                reason=error
            )
        else:
            return await run_in_threadpool(_page, request, state, verdicts=verdicts, online=online)
    return await run_in_threadpool(_page, request, state, online=online, status=422)


routes = [Route("/verify", verify_page, methods=["GET", "POST"])]
