"""Plate patterns: parsing table (valid and invalid with the expected error), exact and fuzzy matching."""

from __future__ import annotations

import pytest

from search.plate_pattern import MatchKind, match_plate, parse_pattern
from sightline.errors import PatternError


@pytest.mark.parametrize(
    ("pattern", "tokens", "error"),
    [
        ("渝A*23*5", "渝A*23*5", None),
        ("渝a·12 345", "渝A12345", None),
        ("京A?234*", "京A?234*", None),
        ("**粤B***", "*粤B*", None),
        ("粤B1234警", "粤B1234警", None),
        ("", None, "empty"),
        (" · ", None, "empty"),
        ("***", None, "only wildcards"),
        ("??*", None, "only wildcards"),
        ("渝A#234", None, r"'#' at position 3"),
        ("渝Aé234", None, r"'é' at position 3"),
        ("北A12345", None, r"'北' at position 1"),
        ("渝A1234567890X", None, r"too long at character 'X', position 13"),
    ],
)
def test_parse_table(pattern: str, tokens: str | None, error: str | None) -> None:
    if error is None:
        assert parse_pattern(pattern).text == tokens
    else:
        with pytest.raises(PatternError, match=error):
            parse_pattern(pattern)


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("渝A*23*5", "渝A12345", True),
        ("渝A*23*5", "渝A23995", True),
        ("渝A*23*5", "渝A12346", False),
        ("渝A?2345", "渝A12345", True),
        ("渝A?2345", "渝A112345", False),
        ("*345", "渝A12345", True),
        ("川*", "渝A12345", False),
    ],
)
def test_exact_wildcards(pattern: str, text: str, matches: bool) -> None:
    m = match_plate(parse_pattern(pattern), text, fuzzy=False)
    assert (m is not None) == matches
    if m is not None:
        assert m.kind is MatchKind.EXACT and m.score == 1.0


def test_candidates_match_below_text() -> None:
    m = match_plate(parse_pattern("渝A1Z345"), "渝A12345", candidates=["渝A12345", "渝A1Z345"], fuzzy=False)
    assert m is not None and m.kind is MatchKind.CANDIDATE and 0.9 < m.score < 1.0


@pytest.mark.parametrize(
    ("pattern", "text"),
    [("渝AD2345", "渝A02345"), ("渝A0234B", "渝AQ2348"), ("渝A1Z5S6", "渝AI2S5G"), ("粤B*O8", "粤B12D8")],
)
def test_lookalikes_match_fuzzy_only(pattern: str, text: str) -> None:
    p = parse_pattern(pattern)
    assert match_plate(p, text, fuzzy=False) is None
    m = match_plate(p, text, fuzzy=True)
    assert m is not None and m.kind is MatchKind.FUZZY and m.score < 0.95


def test_substitution_only_at_low_confidence_and_only_once() -> None:
    p = parse_pattern("渝A12345")
    confident = [[(c, 0.99)] for c in "渝A12349"]
    weak_last = [*confident[:-1], [("9", 0.4), ("7", 0.3)]]
    assert match_plate(p, "渝A12349", alternatives=confident) is None
    m = match_plate(p, "渝A12349", alternatives=weak_last)
    assert m is not None and m.kind is MatchKind.FUZZY
    # The OCR's own alternative is cheaper than a blind substitution.
    alt = match_plate(p, "渝A12349", alternatives=[*confident[:-1], [("9", 0.5), ("5", 0.4)]])
    assert alt is not None and alt.score > m.score
    # Two wrong characters: one substitution is not enough.
    weak_two = [*confident[:-2], [("7", 0.4)], [("9", 0.4)]]
    assert match_plate(p, "渝A12379", alternatives=weak_two) is None
    # Without per-position data the weakest-character confidence stands for all positions.
    assert match_plate(p, "渝A12349", plate_confidence=0.5) is not None
    assert match_plate(p, "渝A12349", plate_confidence=0.95) is None


def test_scores_rank_exact_over_lookalike() -> None:
    p = parse_pattern("渝A0*")
    exact = match_plate(p, "渝A0123")
    look = match_plate(p, "渝AD123")
    assert exact is not None and look is not None and exact.score > look.score


def test_sql_prefilters() -> None:
    p = parse_pattern("渝A0*5")
    assert p.glob() == "渝A0*5"
    assert p.glob(lookalikes=True) == "渝A[0DOQ]*[5S]"
    assert p.like() == "渝A0%5"
    assert p.like(lookalikes=True) == "渝A_%_"
    assert [r.text for r in p.relaxed()] == ["?A0*5", "渝?0*5", "渝A?*5", "渝A0*?"]
