"""Camera URLs and texts without their secrets, in every response, log line and error message.

Cameras carry credentials in many places, and each of them has been seen in a real URL:

- userinfo: ``rtsp://admin:s3cret@10.0.0.5:554/stream`` (RTSP, most cameras);
- query keys: ``?user=admin&password=…``, ``?token=…``, ``?access_token=…``, ``?api_key=…`` (HTTP
  snapshot and MJPEG endpoints, cloud relays, signed URLs with ``signature=``/``sig=``);
- path segments: ``/user=admin_password=…_channel=1_stream=0.sdp`` (Hikvision/Dahua style, pairs
  joined by ``_``), ``/user=admin&password=…`` in the path, and ``;user=…;password=…`` parameters.

FFmpeg repeats the URL in its error messages, and a CSV cell may hold a URL without its scheme
(``admin:s3cret@10.0.0.5/s1``), so redaction applies to whole texts as well as to URLs. Host, port
and the rest of the path stay readable: they are what an operator needs to find the camera.

A key is secret when, compared case-insensitively with ``_``, ``-`` and ``.`` removed, it is one of
:data:`SECRET_KEYS` or ends with one of :data:`SECRET_KEY_SUFFIXES` (``admin_password``,
``x-api-key``, ``client_secret``). A user name is not secret by itself, but it is half of a login:
``user``, ``username`` and the like are masked when the same URL or text also holds a password.

Where the pairs are joined by ``_`` the end of a value is ambiguous (a password may contain ``_``):
a value runs to the next ``_name=``, so a password that itself contains ``_name=`` shows the part
after it. Cameras that use this style do not allow ``=`` in passwords.

One implementation for the API, ingest, the CLI and the camera import.
"""

from __future__ import annotations

import re
from typing import overload
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

__all__ = ["SECRET_KEYS", "SECRET_KEY_SUFFIXES", "USER_KEYS", "is_secret_key", "redact_text", "redact_url"]

_REDACTED = "***"

SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "pw",
        "pass",
        "token",
        "accesstoken",
        "apikey",
        "key",
        "secret",
        "auth",
        "authorization",
        "signature",
        "sig",
        "credential",
        "credentials",
    }
)
"""Parameter names (normalised: lower case, without ``_``, ``-``, ``.``) whose values are secrets."""

SECRET_KEY_SUFFIXES = (
    "password",
    "passwd",
    "pwd",
    "token",
    "secret",
    "key",
    "signature",
    "credential",
    "credentials",
)
"""Endings that make a normalised parameter name secret (``adminpwd``, ``xapikey``, ``clientsecret``)."""

_PASSWORD_KEYS = frozenset({"password", "passwd", "pwd", "pw", "pass"})
_PASSWORD_SUFFIXES = ("password", "passwd", "pwd")

USER_KEYS = frozenset({"user", "username", "usr", "login", "loginname", "userid", "uid"})
"""Parameter names of a user name: masked only when a password is present too."""

# key=value inside a URL component or a text. The key starts at a boundary (not inside a word) and
# may be percent-encoded; the value stops at a separator, at whitespace or quotes (texts), or where
# the next ``_name=`` pair begins (path style joined by underscores).
_PARAM = re.compile(
    r"(?<![A-Za-z0-9%])(?P<key>[A-Za-z][A-Za-z0-9_.%-]*)="
    r"(?P<value>(?:(?!_[A-Za-z][A-Za-z0-9]*=)[^&;/?#\s'\"<>])*)"
)
# user:password@ without a scheme, as in a CSV cell or a message that dropped the scheme.
_BARE_USERINFO = re.compile(r"(?<![A-Za-z0-9._~%+-])[^\s:/@'\"<>]+:[^\s/@'\"<>]*@(?=[A-Za-z0-9\[])")
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def _normalise(key: str) -> str:
    return re.sub(r"[_.\-]", "", unquote(key).lower())


def is_secret_key(key: str) -> bool:
    """Whether a parameter named ``key`` holds a secret (see the module docstring)."""
    norm = _normalise(key)
    return norm in SECRET_KEYS or norm.endswith(SECRET_KEY_SUFFIXES)


def _is_password_key(key: str) -> bool:
    norm = _normalise(key)
    return norm in _PASSWORD_KEYS or norm.endswith(_PASSWORD_SUFFIXES)


def _has_password(text: str) -> bool:
    return any(_is_password_key(m.group("key")) and m.group("value") for m in _PARAM.finditer(text))


def _mask_params(text: str, *, mask_users: bool) -> str:
    """``text`` with the values of secret parameters (and user names, when asked) replaced."""

    def replace(m: re.Match[str]) -> str:
        key, value = m.group("key"), m.group("value")
        if not value:
            return m.group(0)
        if is_secret_key(key) or (mask_users and _normalise(key) in USER_KEYS):
            return f"{key}={_REDACTED}"
        return m.group(0)

    return _PARAM.sub(replace, text)


@overload
def redact_url(url: str) -> str: ...


@overload
def redact_url(url: None) -> None: ...


def redact_url(url: str | None) -> str | None:
    """``url`` with its userinfo and every secret-looking parameter value replaced by ``***``.

    rtsp://admin:s3cret@10.0.0.5:554/stream?token=x → rtsp://***@10.0.0.5:554/stream?token=***
    rtsp://10.0.0.5/user=admin_password=x_channel=1 → rtsp://10.0.0.5/user=***_password=***_channel=1
    A URL that cannot be parsed comes back as ``***``: better nothing than a secret.
    """
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return _REDACTED
    if not parts.netloc:
        # A path, a Windows drive, or "admin:pw@host/s" read as scheme "admin": treat it as text.
        return _redact_plain(url)
    netloc = parts.netloc
    if "@" in netloc:
        host_part = f"[{host}]" if ":" in host else host
        netloc = f"{_REDACTED}@{host_part}{port}"
    rest = (parts.path, parts.query, parts.fragment)
    mask_users = parts.password is not None or any(_has_password(p) for p in rest)
    path, query, fragment = (_mask_params(p, mask_users=mask_users) for p in rest)
    return urlunsplit(SplitResult(parts.scheme, netloc, path, query, fragment))


def _redact_plain(text: str) -> str:
    """Credentials outside URLs with a scheme: ``user:pw@host`` and ``password=…`` pairs."""
    text = _BARE_USERINFO.sub(f"{_REDACTED}@", text)
    return _mask_params(text, mask_users=_has_password(text))


@overload
def redact_text(text: str) -> str: ...


@overload
def redact_text(text: None) -> None: ...


def redact_text(text: str | None) -> str | None:
    """``text`` with every URL in it redacted, and credentials outside URLs masked too.

    Error messages from streams quote their URL; a camera CSV cell may hold anything.
    """
    if text is None:
        return None
    pieces: list[str] = []
    last = 0
    for m in _URL_IN_TEXT.finditer(text):
        pieces.append(_redact_plain(text[last : m.start()]))
        pieces.append(redact_url(m.group(0)))
        last = m.end()
    pieces.append(_redact_plain(text[last:]))
    joined = "".join(pieces)
    if _has_password(text):
        # A user name in one piece and its password in another ("user=a ... password=b").
        joined = _mask_params(joined, mask_users=True)
    return joined
