"""Camera URLs without their secrets, in every response, log line and error message.

RTSP cameras take ``rtsp://user:password@host/...`` URLs (and some a ``?token=`` query), and FFmpeg
repeats the URL in its error messages, so redaction applies to whole texts as well as to URLs.
One implementation for the API, ingest and the CLI.
"""

from __future__ import annotations

import re
from typing import overload
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["redact_text", "redact_url"]

_SECRET_QUERY_KEYS = frozenset({"password", "passwd", "pass", "pwd", "token", "auth", "key", "secret"})
_REDACTED = "***"


@overload
def redact_url(url: str) -> str: ...


@overload
def redact_url(url: None) -> None: ...


def redact_url(url: str | None) -> str | None:
    """``url`` with its user:password and secret-looking query values replaced by ``***``.

    rtsp://admin:s3cret@10.0.0.5:554/stream?token=x → rtsp://***@10.0.0.5:554/stream?token=***
    """
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return _REDACTED  # unparseable: show nothing rather than a secret
    netloc = parts.netloc
    if "@" in netloc:
        host_part = f"[{host}]" if ":" in host else host
        netloc = f"{_REDACTED}@{host_part}{port}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, _REDACTED if k.lower() in _SECRET_QUERY_KEYS else v) for k, v in pairs], safe="*"
        )
    return urlunsplit(SplitResult(parts.scheme, netloc, parts.path, query, parts.fragment))


_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


@overload
def redact_text(text: str) -> str: ...


@overload
def redact_text(text: None) -> None: ...


def redact_text(text: str | None) -> str | None:
    """``text`` with every URL in it redacted: error messages from streams quote their URL."""
    if text is None:
        return None
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)) or _REDACTED, text)
