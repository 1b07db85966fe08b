"""API: auth."""

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
