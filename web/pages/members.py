"""Pages: members."""

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
