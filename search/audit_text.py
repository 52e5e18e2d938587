"""What audit text may contain, checked in one place, and how it is shown in logs and terminals.

The case reference, the reason and the actor come from users (API form fields, CLI arguments, a
login name) and end up in three places: the audit table, the server log and terminals. Each rule
closes a hole we can name:

- **Lengths** (case_ref ≤ 64, reason ≤ 1000, actor ≤ 64 characters): a case reference or a user
  name is an identifier, not a document; a reason is a sentence or a short paragraph. Bounds keep a
  client from filling the audit (and every log line that names a case) with megabytes.
- **No control characters** in any of them (tab, CR and LF allowed in a reason only, which may be a
  paragraph typed into a form, where browsers send CR LF): a case_ref such as
  ``"C-1\\n2026-01-01 INFO fake line"`` would otherwise forge a line in a plain-text log, and an
  ANSI escape would rewrite a terminal that lists the audit. Unicode line and paragraph separators
  count as control characters here: some log viewers break lines on them.

Invalid text is an :class:`~sightline.errors.InputError` raised before anything is written.
:func:`printable` is the second line of defence, for every user-derived value a log line
interpolates (including characters the rules allow, such as a reason's newline or a bidirectional
override in a case reference): it escapes anything not printable, repr-style, so one log call is one
log line whatever the input.
"""

from __future__ import annotations

import unicodedata

from sightline.errors import InputError

__all__ = [
    "ACTOR_MAX",
    "CASE_REF_MAX",
    "REASON_MAX",
    "check_actor",
    "check_audit_text",
    "printable",
]

CASE_REF_MAX = 64
REASON_MAX = 1000
ACTOR_MAX = 64

_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})
"""Control characters (C0, DEL, C1 such as NEL U+0085) and the Unicode line/paragraph separators."""

_REASON_ALLOWED = frozenset("\t\r\n")

_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _check(name: str, value: object, limit: int, *, required: bool, allowed: frozenset[str]) -> None:
    if not isinstance(value, str):
        raise InputError(f"{name} must be text, got {type(value).__name__}")
    if required and not value.strip():
        raise InputError(f"{name} is required and must be non-empty")
    if len(value) > limit:
        raise InputError(f"{name} is {len(value)} characters long; at most {limit} are allowed")
    for position, ch in enumerate(value):
        if ch not in allowed and unicodedata.category(ch) in _FORBIDDEN_CATEGORIES:
            raise InputError(
                f"{name} contains the control character {printable(ch)} at position {position}; "
                "control characters are not allowed"
            )


def check_actor(actor: object) -> None:
    """InputError unless ``actor`` is non-empty, at most ACTOR_MAX characters, without control characters."""
    _check("actor", actor, ACTOR_MAX, required=True, allowed=frozenset())


def check_audit_text(*, case_ref: object, reason: object, actor: object, required: bool = True) -> None:
    """InputError unless the three audit text fields are within their limits (see the module docstring).

    ``required`` makes case_ref and reason non-empty, as every search needs; events outside a case
    (a login, a user change) pass ``required=False``. The actor is always required.
    """
    _check("case_ref", case_ref, CASE_REF_MAX, required=required, allowed=frozenset())
    _check("reason", reason, REASON_MAX, required=required, allowed=_REASON_ALLOWED)
    check_actor(actor)


def printable(text: str) -> str:
    """``text`` with every non-printable character (and the backslash) escaped, repr-style.

    Printable characters of any script stay as they are (``渝A12345`` is shown as such); ``"\\n"``
    becomes the two characters ``\\n``, U+202E becomes ``\\u202e``. Escaping the backslash keeps the
    result unambiguous: ``\\n`` in the output always means a newline in the input.
    """
    out: list[str] = []
    for ch in text:
        if ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        else:
            code = ord(ch)
            out.append(
                f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
            )
    return "".join(out)
