"""The local domain: accounts, associations, actions, statistics and configuration.

Functions take a database session first and keyword-only arguments after; they
never import Starlette, httpx or the federation package.
"""
