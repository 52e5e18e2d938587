"""The plate grammar: formats, stray removal, look-alike repair and choosing among CTC alternatives."""

from __future__ import annotations

import pytest

from recognition.plate_grammar import (
    PROVINCES,
    PlateFormat,
    clean_plate_text,
    is_valid_plate,
    normalise_plate,
    plate_format,
)


def test_thirty_one_provinces() -> None:
    assert len(PROVINCES) == 31
    assert len(set(PROVINCES)) == 31


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("京A12345", PlateFormat.STANDARD),
        ("皖AY339S", PlateFormat.STANDARD),
        ("沪C21F13", PlateFormat.STANDARD),
        ("皖AD11166", PlateFormat.NEW_ENERGY_SMALL),
        ("粤BF12345", PlateFormat.NEW_ENERGY_SMALL),
        ("京A12345D", PlateFormat.NEW_ENERGY_LARGE),
        ("京A1234警", PlateFormat.POLICE),
        ("川A1234学", PlateFormat.COACH),
        ("苏E1234挂", PlateFormat.TRAILER),
        ("沪A1234领", PlateFormat.CONSULATE),
        ("粤Z1234港", PlateFormat.HONG_KONG),
        ("粤Z1234澳", PlateFormat.MACAU),
        ("使123456", PlateFormat.EMBASSY),
        # Invalid: no province, I/O in the serial, letter position holding a digit, wrong lengths,
        # new-energy D/F rule broken, 港 outside 粤Z, lower case and separators (clean first).
        ("A12345", None),
        ("京A1234O", None),
        ("京AI2345", None),
        ("京112345", None),
        ("京A123456", None),
        ("京A1234", None),
        ("京AX12345", None),
        ("京AD1234X", None),
        ("京A1234港", None),
        ("京a12345", None),
        ("京A·12345", None),
        ("", None),
    ],
)
def test_plate_format(text: str, expected: PlateFormat | None) -> None:
    assert plate_format(text) == expected
    assert is_valid_plate(text) == (expected is not None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("京A·12345", "京A12345"), (" 京a 12345 ", "京A12345"), ("皖A-D1116·6", "皖AD11166")],
)
def test_clean_plate_text(raw: str, expected: str) -> None:
    assert clean_plate_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "text", "valid"),
    [
        ("京A12345", "京A12345", True),
        # Strays: a border read before the province, separators, spaces, one after the plate.
        ("J川A5G7X9", "川A5G7X9", True),
        ("1皖A·12345", "皖A12345", True),
        ("皖A 12345", "皖A12345", True),
        ("皖AD11166", "皖AD11166", True),  # eight characters are not cut to a standard plate
        ("皖A123451", "皖A12345", True),
        # Look-alikes repaired only where the position forbids what was read.
        ("皖AY33O5", "皖AY3305", True),
        ("皖AYI335", "皖AY1335", True),
        ("皖0Y3395", "皖DY3395", True),
        ("皖8Y3395", "皖BY3395", True),
        ("皖2Y3395", "皖ZY3395", True),
        ("皖5Y3395", "皖SY3395", True),
        ("皖6Y3395", "皖GY3395", True),
        ("皖AD1116O", "皖AD11160", True),  # digit position of a new-energy plate
        ("京A1234警", "京A1234警", True),
        ("J京A1234学", "京A1234学", True),
        ("苏E·1234挂", "苏E1234挂", True),
        # Nothing grammatical: the cleaned read comes back, marked invalid.
        ("A0C333", "A0C333", False),
        ("合肥城泊", "合肥城泊", False),
        ("", "", False),
    ],
)
def test_normalise_without_alternatives(raw: str, text: str, valid: bool) -> None:
    read = normalise_plate(raw)
    assert (read.text, read.valid) == (text, valid)
    if valid:
        assert read.candidates[0] == text
        assert all(is_valid_plate(c) for c in read.candidates)


def test_alternatives_choose_grammatical_reading() -> None:
    """A province misread as a non-province is replaced by the best province alternative."""
    raw = "榆A12345"
    alts = [[("榆", 0.6), ("渝", 0.35), ("偷", 0.05)]] + [[(c, 0.9), ("8", 0.05)] for c in "A12345"]
    read = normalise_plate(raw, alts)
    assert read.text == "渝A12345"
    assert read.char_confidences[0] == pytest.approx(0.35)
    assert read.confidence == pytest.approx(0.35)
    assert read.alternatives[0][0] == ("榆", 0.6)
    assert ("渝", 0.35) in read.alternatives[0]
    assert all(len(a) <= 3 for a in read.alternatives)


def test_candidates_ranked_by_probability() -> None:
    """Uncertain serial characters give several grammatical plates, best first, at most five."""
    alts = [[("皖", 0.99)], [("A", 0.99)]] + [[("0", 0.5), ("D", 0.4), ("Q", 0.1)] for _ in range(5)]
    read = normalise_plate("皖A00000", alts)
    assert read.text == "皖A00000"
    assert len(read.candidates) == 5
    assert read.candidates[0] == "皖A00000"
    assert len(set(read.candidates)) == 5
    assert all(c.count("D") == 1 for c in read.candidates[1:])


def test_substitution_loses_to_a_strong_proposed_alternative() -> None:
    """'0' in the letter position: the model's own 'Q' alternative beats the look-alike guess 'D'
    only when it is stronger than half the read's weight."""
    strong = [[("皖", 0.99)], [("0", 0.6), ("Q", 0.4)]] + [[(c, 0.99)] for c in "12345"]
    weak = [[("皖", 0.99)], [("0", 0.9), ("Q", 0.1)]] + [[(c, 0.99)] for c in "12345"]
    assert normalise_plate("皖012345", strong).text == "皖Q12345"
    assert normalise_plate("皖012345", weak).text == "皖D12345"


@pytest.mark.parametrize(
    ("raw", "alternatives", "error"),
    [
        ("京A12345", [[("京", 1.0)]], ValueError),
        ("京A", [[("京", 1.0)], [("A", 1.0)], [("1", 1.0)]], ValueError),
    ],
)
def test_normalise_rejects_mismatched_alternatives(
    raw: str, alternatives: list[list[tuple[str, float]]], error: type[Exception]
) -> None:
    with pytest.raises(error):
        normalise_plate(raw, alternatives)
