"""The grammar of Chinese licence plates (GA 36-2018), and choosing the best grammatical reading.

OCR on plates fails in predictable ways: a plate border read as a stray character before the
province, "·" separators and spaces, and look-alikes (O/0, I/1, D/0, B/8…). A plate's position
classes are strict (the second character is always a letter, serial positions never hold I or O),
so the grammar both rejects non-plates and repairs the characters the position forbids.

Readings are scored by the product of per-character probabilities over the CTC alternatives.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from recognition.types import PlateRead

__all__ = [
    "DIGITS",
    "LETTERS",
    "PROVINCES",
    "PlateFormat",
    "clean_plate_text",
    "is_valid_plate",
    "normalise_plate",
    "plate_format",
]

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
#: Letters used on plates: I and O are never issued (they read as 1 and 0).
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
DIGITS = "0123456789"

_PROV = frozenset(PROVINCES)
_LET = frozenset(LETTERS)
_DIG = frozenset(DIGITS)
_AN = _LET | _DIG
_DF = frozenset("DF")

#: Characters that are never part of a plate's text: separators, spaces, and the brackets and bars
#: a plate's border edges are read as.
_SEPARATORS = frozenset(" ·•・．.-_|:：'\"[](){}【】「」")

#: Look-alike substitutions, applied only when the position forbids the character that was read.
_AS_LETTER = {"0": "D", "O": "D", "8": "B", "2": "Z", "5": "S", "6": "G", "1": "T", "4": "A"}
_AS_DIGIT = {
    "O": "0",
    "D": "0",
    "Q": "0",
    "I": "1",
    "L": "1",
    "B": "8",
    "Z": "2",
    "S": "5",
    "G": "6",
    "A": "4",
}
_AS_ALNUM = {"O": "0", "I": "1"}
#: A substituted character keeps this share of the read character's probability: a substitution
#: is a guess, so a grammatical alternative the model itself proposed with similar weight wins.
_SUBSTITUTION_WEIGHT = 0.5
#: At most this many stray characters are dropped at either end of a read.
_MAX_STRAY = 2
_MAX_CANDIDATES = 5
_MAX_ALTERNATIVES = 3


class PlateFormat(StrEnum):
    """Plate layouts Sightline recognises."""

    STANDARD = "standard"  # 京A12345: province, letter, 5 alphanumerics
    NEW_ENERGY_SMALL = "new_energy_small"  # 京AD12345: D/F, alphanumeric, 4 digits
    NEW_ENERGY_LARGE = "new_energy_large"  # 京A12345D: 5 digits, D/F
    POLICE = "police"  # 京A1234警
    COACH = "coach"  # 京A1234学
    TRAILER = "trailer"  # 京A1234挂
    CONSULATE = "consulate"  # 沪A1234领
    HONG_KONG = "hong_kong"  # 粤Z1234港
    MACAU = "macau"  # 粤Z1234澳
    EMBASSY = "embassy"  # 使123456 or 123456使


def _suffixed(last: str) -> tuple[frozenset[str], ...]:
    return (_PROV, _LET, _AN, _AN, _AN, _AN, frozenset(last))


_TEMPLATES: dict[PlateFormat, tuple[tuple[frozenset[str], ...], ...]] = {
    PlateFormat.STANDARD: ((_PROV, _LET, _AN, _AN, _AN, _AN, _AN),),
    PlateFormat.NEW_ENERGY_SMALL: ((_PROV, _LET, _DF, _AN, _DIG, _DIG, _DIG, _DIG),),
    PlateFormat.NEW_ENERGY_LARGE: ((_PROV, _LET, _DIG, _DIG, _DIG, _DIG, _DIG, _DF),),
    PlateFormat.POLICE: (_suffixed("警"),),
    PlateFormat.COACH: (_suffixed("学"),),
    PlateFormat.TRAILER: (_suffixed("挂"),),
    PlateFormat.CONSULATE: (_suffixed("领"),),
    PlateFormat.HONG_KONG: ((frozenset("粤"), frozenset("Z"), _AN, _AN, _AN, _AN, frozenset("港")),),
    PlateFormat.MACAU: ((frozenset("粤"), frozenset("Z"), _AN, _AN, _AN, _AN, frozenset("澳")),),
    PlateFormat.EMBASSY: (
        (frozenset("使"), _DIG, _DIG, _DIG, _DIG, _DIG, _DIG),
        (_DIG, _DIG, _DIG, _DIG, _DIG, _DIG, frozenset("使")),
    ),
}
_LENGTHS = sorted({len(t) for ts in _TEMPLATES.values() for t in ts})


def clean_plate_text(text: str) -> str:
    """Upper-case and drop separators and spaces (``"京A·12345"`` → ``"京A12345"``)."""
    return "".join(c for c in text.upper() if c not in _SEPARATORS)


def _matches(text: str, template: tuple[frozenset[str], ...]) -> bool:
    return len(text) == len(template) and all(c in allowed for c, allowed in zip(text, template, strict=True))


def plate_format(text: str) -> PlateFormat | None:
    """The format of an exact plate string, or None when it is no plate (no repair is attempted)."""
    for fmt, templates in _TEMPLATES.items():
        if any(_matches(text, t) for t in templates):
            return fmt
    return None


def is_valid_plate(text: str) -> bool:
    """Whether ``text`` is exactly a plate in one of the known formats."""
    return plate_format(text) is not None


def _substitute(char: str, allowed: frozenset[str]) -> str | None:
    """The look-alike of ``char`` that the position allows, when the position forbids ``char``."""
    if char in allowed:
        return char
    if allowed <= _DIG:
        table = _AS_DIGIT
    elif allowed <= _LET:
        table = _AS_LETTER
    elif allowed <= _AN:
        table = _AS_ALNUM
    else:
        return None
    sub = table.get(char)
    return sub if sub is not None and sub in allowed else None


def _position_options(alts: Sequence[tuple[str, float]], allowed: frozenset[str]) -> list[tuple[str, float]]:
    """Characters this position may hold with their probabilities, best first."""
    best: dict[str, float] = {}
    for char, prob in alts:
        char = char.upper()
        if char in allowed:
            best[char] = max(best.get(char, 0.0), prob)
            continue
        sub = _substitute(char, allowed)
        if sub is not None:
            best[sub] = max(best.get(sub, 0.0), prob * _SUBSTITUTION_WEIGHT)
    return sorted(best.items(), key=lambda kv: -kv[1])


def _k_best(options: list[list[tuple[str, float]]], k: int) -> list[tuple[float, str, tuple[float, ...]]]:
    """The k most probable strings when positions are independent: (log-prob, text, per-char probs)."""
    beam: list[tuple[float, str, tuple[float, ...]]] = [(0.0, "", ())]
    for opts in options:
        grown = [
            (score + math.log(max(prob, 1e-12)), text + char, (*probs, prob))
            for score, text, probs in beam
            for char, prob in opts[:k]
        ]
        beam = heapq.nlargest(k, grown, key=lambda item: item[0])
        if not beam:
            return []
    return beam


@dataclass(frozen=True, slots=True)
class _Reading:
    dropped: int
    logp: float
    text: str
    probs: tuple[float, ...]
    start: int

    @property
    def rank(self) -> tuple[int, float]:
        return (self.dropped, -self.logp)


def _strip_separators(
    raw: str, alternatives: Sequence[Sequence[tuple[str, float]]]
) -> tuple[str, list[list[tuple[str, float]]]]:
    text: list[str] = []
    alts: list[list[tuple[str, float]]] = []
    for char, pos_alts in zip(raw, alternatives, strict=True):
        if char in _SEPARATORS:
            continue
        text.append(char.upper())
        kept = [(c.upper(), p) for c, p in pos_alts if c not in _SEPARATORS] or [(char.upper(), 1.0)]
        alts.append(kept)
    return "".join(text), alts


def normalise_plate(
    raw: str, per_char_alternatives: Sequence[Sequence[tuple[str, float]]] | None = None
) -> PlateRead:
    """Choose the most probable grammatical plate among the OCR alternatives.

    ``per_char_alternatives[i]`` lists (character, probability) for ``raw[i]``, best first; without
    it each character counts as certain. Separators go first; then every window that drops at most
    two stray characters at either end is matched against every plate template, repairing
    look-alikes that the position forbids. Readings that drop fewer characters win; among those the
    most probable one. When nothing is grammatical the cleaned raw text comes back with
    ``valid=False``.
    """
    if per_char_alternatives is None:
        per_char_alternatives = [[(c, 1.0)] for c in raw]
    if len(per_char_alternatives) != len(raw):
        raise ValueError(
            f"normalise_plate: {len(raw)} characters but {len(per_char_alternatives)} alternative lists"
        )
    text, alts = _strip_separators(raw, per_char_alternatives)
    n = len(text)
    readings: list[_Reading] = []
    for length in _LENGTHS:
        for start in range(0, min(_MAX_STRAY, n - length) + 1):
            dropped = n - length
            if dropped - start > _MAX_STRAY:
                continue
            window = alts[start : start + length]
            for templates in _TEMPLATES.values():
                for template in templates:
                    if len(template) != length:
                        continue
                    options = [
                        _position_options(a, allowed) for a, allowed in zip(window, template, strict=True)
                    ]
                    for logp, cand, probs in _k_best(options, _MAX_CANDIDATES):
                        readings.append(_Reading(dropped, logp, cand, probs, start))
    if not readings:
        confidences = tuple(a[0][1] for a in alts)
        return PlateRead(
            text=text,
            char_confidences=confidences,
            alternatives=tuple(tuple(a[:_MAX_ALTERNATIVES]) for a in alts),
            valid=False,
        )
    readings.sort(key=lambda r: r.rank)
    best = readings[0]
    candidates: list[str] = []
    for reading in readings:
        if reading.dropped != best.dropped:
            break
        if reading.text not in candidates:
            candidates.append(reading.text)
        if len(candidates) == _MAX_CANDIDATES:
            break
    window = alts[best.start : best.start + len(best.text)]
    alternatives = tuple(
        _with_chosen(pos_alts, char, prob)
        for pos_alts, char, prob in zip(window, best.text, best.probs, strict=True)
    )
    return PlateRead(
        text=best.text,
        char_confidences=best.probs,
        alternatives=alternatives,
        candidates=tuple(candidates),
        valid=True,
    )


def _with_chosen(
    alts: Sequence[tuple[str, float]], chosen: str, prob: float
) -> tuple[tuple[str, float], ...]:
    """Top alternatives for one position, the chosen character included with its (repaired) probability."""
    merged: dict[str, float] = {chosen: prob}
    for char, p in alts:
        if char != chosen:
            merged[char] = max(merged.get(char, 0.0), p)
    ranked = sorted(merged.items(), key=lambda kv: -kv[1])[:_MAX_ALTERNATIVES]
    if all(c != chosen for c, _ in ranked):
        ranked = [*ranked[: _MAX_ALTERNATIVES - 1], (chosen, prob)]
    return tuple(ranked)
