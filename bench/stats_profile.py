"""CPU per statistics request, in process: the page (whole period, partial months) and the API.

Seeds an instance like bench.actions (one association, 200 volunteers, 12
categories, 5 projects, 3 levels, 100,000 actions by default), builds the real
application and drives it with plain ASGI calls, one request after another:
the manager's `/associations/{slug}/stats` over the whole period of the actions
and over "partial months" (from 400 to 45 days before the last day), and
`/api/v1/associations/{slug}/summary?group_by=category` over the whole period
(Bearer token). CPU time is the process's (time.process_time). The requests run
in rounds, the kinds taking turns, and each figure is the cheapest round's: on a
shared machine the other rounds mostly measure the neighbours.

Run: `python -m bench.stats_profile [--requests 500] [--actions 100000] [--profile html|partial|api]`
"""

from datetime import timedelta

from sqlmodel import func, select

from bench import inprocess
from bench.inprocess import Request
from bench.record_profile import Bench
from bench.seed_actions import SESSION_COOKIE
from instance.periods import month_end
from schema.tables import Action

ROUNDS = 5
LABELS = {
    "hello": "bare Starlette hello",
    "html": "statistics page (whole period)",
    "partial": "statistics page (partial months)",
    "api": "summary API (by category)",
}


def requests_of(bench: Bench) -> dict[str, Request]:
    """The measured requests, by name: path and headers."""
    with bench.db.read() as session:
        first, last = session.exec(select(func.min(Action.date), func.max(Action.date))).one()
    start, end = first.replace(day=1), month_end(last)
    edges = end - timedelta(days=400), end - timedelta(days=45)
    cookie = {"cookie": f"{SESSION_COOKIE}={bench.cookie}"}
    token = {"authorization": f"Bearer {bench.token}"}
    stats = f"/associations/{bench.slug}/stats"
    return {
        "html": (f"{stats}?from={start}&to={end}", cookie),
        "partial": (f"{stats}?from={edges[0]}&to={edges[1]}", cookie),
        "api": (
            f"/api/v1/associations/{bench.slug}/summary?from={start}&to={end}&group_by=category",
            token,
        ),
    }


def main() -> None:
    """Print the CPU per request of each kind beside the bare hello."""
    inprocess.main(
        __doc__.splitlines()[0], LABELS, requests_of, default_requests=500, rounds=ROUNDS
    )


if __name__ == "__main__":
    main()
