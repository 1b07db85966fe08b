"""Every route is reached by its own paths, whatever the order of the route table.

web/routes.py matches the busiest modules first; a route placed earlier must never
catch the paths of another one (e.g. `/associations/{slug}` before
`/associations/new`).
"""

import re

from starlette.routing import Match, Route

from web.routes import build_routes


def sample_path(pattern: str) -> str:
    """A path the pattern matches: every parameter filled with a word or a number."""
    return re.sub(r"\{([^}:]+)(:int)?\}", lambda m: "7" if m.group(2) else "x7", pattern)


def test_each_route_is_the_first_to_match_its_own_paths() -> None:
    routes = [route for route in build_routes() if isinstance(route, Route)]
    assert len(routes) > 150
    for route in routes:
        path = sample_path(route.path)
        for method in sorted(route.methods or {"GET"}):
            scope = {"type": "http", "path": path, "method": method, "root_path": ""}
            first = next(r for r in routes if r.matches(scope)[0] == Match.FULL)
            assert first is route, f"{method} {path} reaches {first.path}, not {route.path}"
