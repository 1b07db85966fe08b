"""The Starlette application, its pages, API, templates and command line."""
