"""Plate patterns such as ``渝A*23*5``: parsing, SQL prefilters and precise (optionally fuzzy) matching.

Syntax: ``*`` any run of characters (also none), ``?`` exactly one character, anything else a literal
of the plate alphabet (31 province abbreviations, A–Z, 0–9, 警学挂港澳使领临). Latin letters are
case-insensitive; spaces and ``·`` are ignored.

Fuzzy matching forgives what OCR gets wrong: look-alike characters (0/D/Q/O, 8/B, 1/I/T, 2/Z, 5/S,
6/G, and the confusions measured on our reader: 6/S, V/Y, W/H, C/L — see models/README.md), a character the
OCR offered as an alternative at that position, and one substitution at a position read with low
confidence. Scores rank plate_text exact (1.0) > stored candidate exact (0.95 − rank/100) > fuzzy
(1 − costs, at most 0.9).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from recognition.plate_grammar import PROVINCES
from sightline.errors import PatternError

__all__ = [
    "LOOKALIKES",
    "MAX_PATTERN_LENGTH",
    "PLATE_ALPHABET",
    "PROVINCES",
    "MatchKind",
    "PlateMatch",
    "PlatePattern",
    "fold_plate_text",
    "match_plate",
    "parse_pattern",
]

_SPECIALS = "警学挂港澳使领临"
_LATIN = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
PLATE_ALPHABET = frozenset(PROVINCES + _SPECIALS + _LATIN)
MAX_PATTERN_LENGTH = 12
_IGNORED = frozenset(" \t·")
_STAR, _ONE = "*", "?"

_LOOKALIKE_GROUPS = ("0DQO", "8B", "1I", "1T", "2Z", "5S", "6G", "6S", "VY", "WH", "CL")
LOOKALIKES: dict[str, frozenset[str]] = {}
for _group in _LOOKALIKE_GROUPS:
    for _c in _group:
        LOOKALIKES[_c] = LOOKALIKES.get(_c, frozenset()) | frozenset(_group) - {_c}

# Costs subtract from a score of 1. An OCR alternative is the reader's own second guess, so it costs
# less than a generic look-alike; a blind substitution costs most and is allowed once.
_ALTERNATIVE_COST = 0.10
_LOOKALIKE_COST = 0.15
_SUBSTITUTION_COST = 0.35
_FUZZY_MAX_SCORE = 0.90
_CANDIDATE_SCORE = 0.95


class MatchKind(StrEnum):
    EXACT = "exact"
    CANDIDATE = "candidate"
    FUZZY = "fuzzy"


@dataclass(frozen=True, slots=True)
class PlateMatch:
    """How a stored plate matched: the text that matched, how, and a score in (0, 1]."""

    score: float
    kind: MatchKind
    text: str


def fold_plate_text(text: str) -> str:
    """Upper-case latin letters and drop spaces and '·', as stored and as matched."""
    return "".join(c for c in text.upper() if c not in _IGNORED)


@dataclass(frozen=True, slots=True)
class PlatePattern:
    """A parsed pattern: tokens are ``*``, ``?`` or one literal plate character."""

    raw: str
    tokens: tuple[str, ...]

    @property
    def text(self) -> str:
        return "".join(self.tokens)

    def glob(self, *, lookalikes: bool = False) -> str:
        """An SQLite GLOB that every exact (``lookalikes``: every look-alike) match satisfies."""
        parts = []
        for tok in self.tokens:
            if tok in (_STAR, _ONE) or not lookalikes or tok not in LOOKALIKES:
                parts.append(tok)
            else:
                parts.append("[" + tok + "".join(sorted(LOOKALIKES[tok])) + "]")
        return "".join(parts)

    def like(self, *, lookalikes: bool = False) -> str:
        """A LIKE pattern (for databases without GLOB); look-alike positions become ``_``."""
        out = []
        for tok in self.tokens:
            if tok == _STAR:
                out.append("%")
            elif tok == _ONE or (lookalikes and tok in LOOKALIKES):
                out.append("_")
            else:
                out.append(tok)
        return "".join(out)

    def relaxed(self) -> list[PlatePattern]:
        """The pattern with each literal in turn replaced by ``?``: prefilters for one substitution."""
        out = []
        for i, tok in enumerate(self.tokens):
            if tok not in (_STAR, _ONE):
                out.append(PlatePattern(self.raw, (*self.tokens[:i], _ONE, *self.tokens[i + 1 :])))
        return out


def parse_pattern(pattern: str) -> PlatePattern:
    """Parse and validate a plate pattern; PatternError names the offending character and position."""
    if not isinstance(pattern, str) or not pattern.strip(" \t·"):
        raise PatternError("plate pattern is empty")
    tokens: list[str] = []
    for pos, ch in enumerate(pattern, start=1):
        if ch in _IGNORED:
            continue
        c = ch.upper() if ch.isascii() else ch
        if c not in PLATE_ALPHABET and c not in (_STAR, _ONE):
            raise PatternError(
                f"plate pattern {pattern!r}: character {ch!r} at position {pos} is not a plate character "
                "(provinces, A-Z, 0-9, 警学挂港澳使领临, wildcards * and ?)"
            )
        if c == _STAR and tokens and tokens[-1] == _STAR:
            continue  # '**' means the same as '*'
        tokens.append(c)
        if len(tokens) > MAX_PATTERN_LENGTH:
            raise PatternError(
                f"plate pattern {pattern!r}: too long at character {ch!r}, position {pos} "
                f"(at most {MAX_PATTERN_LENGTH} characters)"
            )
    if all(t in (_STAR, _ONE) for t in tokens):
        raise PatternError(f"plate pattern {pattern!r}: only wildcards; give at least one plate character")
    return PlatePattern(pattern, tuple(tokens))


def _cost(
    tokens: Sequence[str],
    text: str,
    confidences: Sequence[float] | None,
    alternatives: Sequence[frozenset[str]] | None,
    fuzzy: bool,
    low_confidence: float,
) -> float | None:
    """Least total cost of matching ``text`` against ``tokens``; None when it cannot match."""
    inf = float("inf")
    nt, nx = len(tokens), len(text)

    @cache
    def best(ti: int, xj: int, subs: int) -> float:
        if ti == nt:
            return 0.0 if xj == nx else inf
        tok = tokens[ti]
        if tok == _STAR:
            skip = best(ti + 1, xj, subs)
            return min(skip, best(ti, xj + 1, subs)) if xj < nx else skip
        if xj == nx:
            return inf
        if tok == _ONE or tok == text[xj]:
            return best(ti + 1, xj + 1, subs)
        if not fuzzy:
            return inf
        c = text[xj]
        if alternatives is not None and xj < len(alternatives) and tok in alternatives[xj]:
            return _ALTERNATIVE_COST + best(ti + 1, xj + 1, subs)
        if tok in LOOKALIKES and c in LOOKALIKES[tok]:
            return _LOOKALIKE_COST + best(ti + 1, xj + 1, subs)
        weak = confidences is not None and xj < len(confidences) and confidences[xj] < low_confidence
        if weak and subs == 0:
            return _SUBSTITUTION_COST + best(ti + 1, xj + 1, 1)
        return inf

    cost = best(0, 0, 0)
    return None if cost == inf else cost


def match_plate(
    pattern: PlatePattern,
    plate_text: str | None,
    *,
    candidates: Sequence[str] = (),
    alternatives: Sequence[Sequence[tuple[str, float]]] = (),
    plate_confidence: float | None = None,
    fuzzy: bool = True,
    low_confidence: float = 0.9,
) -> PlateMatch | None:
    """Match one stored plate read; the best of exact, candidate and fuzzy, or None.

    Per-position confidence comes from the best alternative at each position; without alternatives,
    the read's overall (weakest-character) confidence stands for every position.
    """
    text = fold_plate_text(plate_text) if plate_text else ""
    if text and _cost(pattern.tokens, text, None, None, False, low_confidence) is not None:
        return PlateMatch(1.0, MatchKind.EXACT, text)
    for rank, cand in enumerate(candidates):
        cand_n = fold_plate_text(cand)
        if cand_n != text and _cost(pattern.tokens, cand_n, None, None, False, low_confidence) is not None:
            return PlateMatch(_CANDIDATE_SCORE - 0.01 * min(rank, 9), MatchKind.CANDIDATE, cand_n)
    if not fuzzy or not text:
        return None
    alt_sets: list[frozenset[str]] | None = None
    confidences: list[float] | None = None
    if alternatives and len(alternatives) == len(text):
        alt_sets = [frozenset(fold_plate_text(c) for c, _ in pos) for pos in alternatives]
        confidences = [float(pos[0][1]) if pos else 0.0 for pos in alternatives]
    elif plate_confidence is not None:
        confidences = [plate_confidence] * len(text)
    best: PlateMatch | None = None
    for cand_n in [text, *(fold_plate_text(c) for c in candidates if fold_plate_text(c) != text)]:
        on_text = cand_n == text
        cost = _cost(
            pattern.tokens,
            cand_n,
            confidences if on_text else None,
            alt_sets if on_text else None,
            True,
            low_confidence,
        )
        if cost is not None:
            score = round(min(_FUZZY_MAX_SCORE, 1.0 - cost), 4)
            if score > 0 and (best is None or score > best.score):
                best = PlateMatch(score, MatchKind.FUZZY, cand_n)
    return best
