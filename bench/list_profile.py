"""CPU per page of the actions list, in process: HTML, API and a trivial page for the frame.

Seeds an instance like bench.actions (one association, 200 volunteers, 12
categories, 5 projects, 3 levels, 100,000 actions by default), builds the real
application and drives it with plain ASGI calls, one request after another:
the manager's first page of `/associations/{slug}/actions` (session cookie),
`/api/v1/associations/{slug}/actions` (Bearer token), and `/about/terms`
signed in (the page frame and almost nothing else). CPU time is the process's
(time.process_time, so the thread pool's work counts too). The requests run in
rounds, the kinds taking turns, and each figure is the cheapest round's: on a
shared machine the other rounds mostly measure the neighbours.

Run: `python -m bench.list_profile [--requests 1000] [--actions 100000] [--profile html|api|page]`
"""

from bench import inprocess
from bench.inprocess import Request
from bench.record_profile import Bench
from bench.seed_actions import SESSION_COOKIE

ROUNDS = 10
LABELS = {
    "hello": "bare Starlette hello",
    "html": "actions list (HTML)",
    "api": "actions list (API)",
    "page": "/about/terms (frame)",
}


def requests_of(bench: Bench) -> dict[str, Request]:
    """The measured requests, by name: path and headers."""
    cookie = {"cookie": f"{SESSION_COOKIE}={bench.cookie}"}
    token = {"authorization": f"Bearer {bench.token}"}
    return {
        "html": (f"/associations/{bench.slug}/actions", cookie),
        "api": (f"/api/v1/associations/{bench.slug}/actions", token),
        "page": ("/about/terms", cookie),
    }


def main() -> None:
    """Print the CPU per request of each kind beside the bare hello."""
    inprocess.main(
        __doc__.splitlines()[0], LABELS, requests_of, default_requests=1000, rounds=ROUNDS
    )


if __name__ == "__main__":
    main()
