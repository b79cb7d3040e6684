"""The benchmark's rounds in turns: each ratio is the median of the rounds' own,
one wild round does not move it, and the runs take turns (tests/perf/rounds.py,
which bench.py uses for its write rows and the pages against the page floor),
and the page floor's answers (tests/perf/floor_app.py)."""

from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.perf.rounds import median_ratio, per_round, spread, through_reference, turns
from tests.support.app import on_own_loop


def test_a_ratio_is_the_median_of_the_rounds_own_and_one_wild_round_does_not_move_it() -> None:
    # The reference served 1,173 req/s in one round and 793 in another: each
    # round's ratio is taken within the round, then the median of the three.
    agora = [1000.0, 700.0, 1100.0]
    ref = [1173.0, 793.0, 1250.0]
    assert per_round(agora, ref) == pytest.approx([0.8525, 0.8827, 0.88], abs=1e-4)
    assert median_ratio(agora, ref) == pytest.approx(0.88)
    # A round that met a checkpoint moves the mean of the rounds, not their median.
    assert median_ratio([1000.0, 200.0, 1100.0], ref) == pytest.approx(1000.0 / 1173.0)


def test_a_side_against_its_floor_goes_through_the_reference_in_each_ones_turn() -> None:
    agora, ref_in_agoras_turn = [800.0, 900.0, 1000.0], [1000.0, 1000.0, 1000.0]
    floor, ref_in_floors_turn = [1000.0, 800.0, 1250.0], [1000.0, 800.0, 1000.0]
    # Round 2: the floor met a slow moment, and so did the reference in its turn.
    assert through_reference(agora, ref_in_agoras_turn, floor, ref_in_floors_turn) == (
        pytest.approx([0.8, 0.9, 0.8])
    )


def test_a_round_without_a_figure_is_left_out_of_the_median() -> None:
    # wrk gives no latency when every request of a run timed out (0 or NaN).
    ratios = per_round([10.0, 12.0, 30.0], [5.0, 0.0, math.nan])
    assert ratios[0] == 2.0 and math.isnan(ratios[1]) and math.isnan(ratios[2])
    assert median_ratio([10.0, 12.0, 30.0], [5.0, 0.0, math.nan]) == 2.0
    assert math.isnan(median_ratio([1.0], [0.0]))
    with pytest.raises(ValueError):
        per_round([1.0, 2.0], [1.0])


def test_the_runs_take_turns_the_other_way_round_every_other_round() -> None:
    sides = ["agora", "ref:agora", "floor", "ref:floor"]
    assert turns(sides, 3) == [
        sides,
        ["ref:floor", "floor", "ref:agora", "agora"],
        sides,
    ]


def test_the_spread_shows_the_median_then_every_round() -> None:
    assert spread([0.84, 0.93, 0.86]) == "0.86 (0.84 / 0.93 / 0.86)"
    assert spread([1029.4, 998.0, 1100.2], 0) == "1,029 (1,029 / 998 / 1,100)"
    assert spread([14.04, math.nan], 1, " ms") == "14.0 ms (14.0 ms / –)"
    assert spread([0.9]) == "0.90"


def test_the_page_floor_answers_each_page_with_its_own_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bench measures each page Agora serves from memory against the floor
    # sending the same bytes, and anything else against the front page's.
    (tmp_path / "front.html").write_bytes(b"<p>front</p>")
    (tmp_path / "post.html").write_bytes(b"<p>a long post</p>" * 100)
    (tmp_path / "search.html").write_bytes(b"<p>found</p>")
    pages = {"/posts/7": str(tmp_path / "post.html"), "/?q=rain": str(tmp_path / "search.html")}
    (tmp_path / "pages.json").write_text(json.dumps(pages))
    monkeypatch.setenv("FLOOR_BODY_FILE", str(tmp_path / "front.html"))
    monkeypatch.setenv("FLOOR_PAGES", str(tmp_path / "pages.json"))
    monkeypatch.delitem(sys.modules, "tests.perf.floor_app", raising=False)
    floor = importlib.import_module("tests.perf.floor_app")

    def answer(path: bytes, query: bytes = b"") -> tuple[int, bytes]:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "raw_path": path, "query_string": query}
        on_own_loop(floor.app(scope, None, send))
        length = dict(sent[0]["headers"])[b"content-length"]
        assert int(length) == len(sent[1]["body"])
        return sent[0]["status"], sent[1]["body"]

    assert answer(b"/posts/7") == (200, (tmp_path / "post.html").read_bytes())
    assert answer(b"/", b"q=rain") == (200, b"<p>found</p>")
    assert answer(b"/") == (200, b"<p>front</p>")
    assert answer(b"/users/3") == (200, b"<p>front</p>")
