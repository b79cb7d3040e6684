"""Ratios taken round by round, for figures measured in turns on a noisy machine.

A write or a page's tail is measured in several short rounds, each side in its
turn (Agora, the reference, the floor, the reference; the next round the other
way round), and each ratio is the median of the rounds' own ratios: within a
round the two sides meet the same moment's load, and one round that met a
checkpoint or another program's burst does not move the median. No server, no
I/O: bench.py calls these, and tests/test_bench_rounds.py checks them.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def per_round(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Each round's ratio; NaN for a round whose denominator is 0 or NaN (wrk gives
    no latency when every request timed out)."""
    if len(numerators) != len(denominators):
        raise ValueError(f"{len(numerators)} rounds against {len(denominators)}")
    return [
        n / d if d and not math.isnan(d) else math.nan
        for n, d in zip(numerators, denominators, strict=True)
    ]


def median(values: Sequence[float]) -> float:
    """The median of the rounds that have a value; NaN if none has."""
    found = [value for value in values if not math.isnan(value)]
    return statistics.median(found) if found else math.nan


def median_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> float:
    """The median of the per-round ratios."""
    return median(per_round(numerators, denominators))


def through_reference(
    side: Sequence[float],
    ref_in_its_turn: Sequence[float],
    floor: Sequence[float],
    ref_in_floors_turn: Sequence[float],
) -> list[float]:
    """Each round's side ÷ floor, taken through the reference measured in each one's
    turn: (side ÷ ref) ÷ (floor ÷ ref)."""
    return per_round(per_round(side, ref_in_its_turn), per_round(floor, ref_in_floors_turn))


def turns(sides: Sequence[str], rounds: int) -> list[list[str]]:
    """The order of the runs in each round: as given, then reversed every other round,
    so that no side is always the one measured first (or right after another)."""
    return [list(sides) if number % 2 == 0 else list(reversed(sides)) for number in range(rounds)]


def spread(values: Sequence[float], digits: int = 2, unit: str = "") -> str:
    """The rounds' figures and their median: '0.86 (0.84 / 0.86 / 0.93)'."""

    def show(value: float) -> str:
        return "–" if math.isnan(value) else f"{value:,.{digits}f}{unit}"

    rounds = " / ".join(show(value) for value in values)
    return f"{show(median(values))} ({rounds})" if len(values) > 1 else rounds
