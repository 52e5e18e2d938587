"""One plate reading per track, voted from every read of the plate while it was in view.

A single frame's OCR confuses look-alikes (D/0, G/6, S/5) or loses a character; across a track the
same plate is read many times with independent errors, so a per-position vote weighted by the
reader's character probabilities repairs isolated bad reads. Only reads of the most common length
and format take part: a read that dropped or gained a character would shift every position.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

from recognition.plate_grammar import is_valid_plate, plate_format
from recognition.types import PlateRead

__all__ = ["edit_distance", "vote_plate"]

_MAX_ALTERNATIVES = 3
_MAX_CANDIDATES = 5


def _format_key(read: PlateRead) -> tuple[int, str]:
    fmt = plate_format(read.text)
    return (len(read.text), fmt.value if fmt is not None else "")


def _position_votes(read: PlateRead, i: int) -> list[tuple[str, float]]:
    """The (character, probability) votes one read gives position i: its alternatives when present."""
    if read.alternatives:
        votes = list(read.alternatives[i])
        if all(c != read.text[i] for c, _ in votes):
            votes.append((read.text[i], read.char_confidences[i]))
        return votes
    return [(read.text[i], read.char_confidences[i])]


def vote_plate(reads: Sequence[PlateRead]) -> PlateRead | None:
    """The track's plate: per-position weighted vote among reads of the most common length/format.

    Each character's confidence is the mean probability the group's reads gave the winner (a read
    that did not propose it counts 0), so disagreement lowers the confidence. Alternatives merge the
    group's per-position votes; candidates list the voted text, then the individual readings and
    their own candidates by support. None when there are no reads.
    """
    if not reads:
        return None
    groups: dict[tuple[int, str], list[PlateRead]] = defaultdict(list)
    for read in reads:
        if read.text:
            groups[_format_key(read)].append(read)
    if not groups:
        return None
    # Most reads wins; ties go to grammatical formats, then to the more confident group.
    key = max(
        groups,
        key=lambda k: (len(groups[k]), k[1] != "", sum(sum(r.char_confidences) for r in groups[k])),
    )
    group = groups[key]
    n = len(group)
    length = key[0]
    chars: list[str] = []
    confidences: list[float] = []
    alternatives: list[tuple[tuple[str, float], ...]] = []
    for i in range(length):
        weight: dict[str, float] = defaultdict(float)
        for read in group:
            for char, prob in _position_votes(read, i):
                weight[char] += prob
        ranked = sorted(weight.items(), key=lambda kv: (-kv[1], kv[0]))
        chars.append(ranked[0][0])
        confidences.append(min(1.0, ranked[0][1] / n))
        alternatives.append(tuple((c, min(1.0, w / n)) for c, w in ranked[:_MAX_ALTERNATIVES]))
    text = "".join(chars)

    support: Counter[str] = Counter()
    for read in reads:
        support[read.text] += 2
        for cand in read.candidates:
            support[cand] += 1
    candidates = [text] + [c for c, _ in support.most_common() if c != text]
    return PlateRead(
        text=text,
        char_confidences=tuple(confidences),
        alternatives=tuple(alternatives),
        candidates=tuple(candidates[:_MAX_CANDIDATES]),
        valid=is_valid_plate(text),
    )


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: how many characters one read must change to become the other."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]
