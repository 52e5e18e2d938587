"""Camera URLs without their credentials, for every log line and error message.

RTSP cameras take ``rtsp://user:password@host/...`` URLs, and FFmpeg repeats the URL in its error
messages, so redaction applies to whole texts as well as to URLs.
"""

from __future__ import annotations

import re

__all__ = ["redact_text", "redact_url"]

#: ``scheme://userinfo@``: the userinfo (user, or user:password) is replaced.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")


def redact_url(url: str) -> str:
    """``url`` with any ``user:password@`` replaced by ``***@``; other URLs come back unchanged."""
    return _USERINFO.sub(r"\g<scheme>***@", url)


def redact_text(text: str) -> str:
    """Every URL in ``text`` redacted (FFmpeg error messages quote the URL they failed on)."""
    return _USERINFO.sub(r"\g<scheme>***@", text)
