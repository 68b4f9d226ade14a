"""URLs as the console may print or log them: never with credentials."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = ["display_url"]


def display_url(url: str) -> str:
    """``url`` without any ``user:password@``: what may be printed or logged."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url.rstrip("/")
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)).rstrip("/")
