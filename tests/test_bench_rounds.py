"""The benchmark's rounds in turns: each ratio is the median of the rounds' own,
one wild round does not move it, and the runs take turns (tests/perf/rounds.py,
which bench.py uses for its write rows, the pages against the page floor, the
random reads, /healthz and growth), and the page floor's answers
(tests/perf/floor_app.py)."""

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


def perf_bench(monkeypatch: pytest.MonkeyPatch) -> Any:
    """tests/perf/bench.py, imported as it imports its neighbours."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent / "perf"))
    return importlib.import_module("bench")


def some_targets(bench: Any) -> Any:
    return bench.Targets(
        "rain", 0.3, "quince", 0.01, 7, 3, [7], 50,
        post_ids=[5, 6, 7], user_ids=[2, 3], vocabulary=["rain", "walk"],
    )  # fmt: skip


def test_the_reads_that_flipped_are_measured_in_rounds_and_judged_by_their_median(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # /healthz and the random reads (with the 10 random words) run in rounds in
    # turns, as the writes do; `--only reads` measures only them and growth,
    # and their targets are judged without the rows of a whole run.
    bench = perf_bench(monkeypatch)
    items = [s for s in bench.scenarios(some_targets(bench)) if s.in_rounds and not s.writes]
    assert [s.name for s in items] == [
        "/healthz",
        bench.TEN_WORDS,
        *(name for name, _, _ in bench.RANDOM_READS),
    ]

    def wrk(rps: float, p99: float) -> Any:
        return bench.WrkResult(rps=rps, p50=1.0, p99=p99, requests=1, errors=0, output="")

    for s in items:  # the second round met another program's burst on Agora's side
        s.agora = [wrk(2000, 10), wrk(500, 90), wrk(1900, 11)]
        s.ref = [wrk(1000, 20), wrk(1000, 20), wrk(1000, 20)]
    extras = {"page_floor": {}, "growth": 1.05, "growth_label": "growth"}
    verdicts = bench.targets_met(items, extras)
    assert "PASS  /posts/{random id} ÷ ref: 1.90 (target ≥ 1.5)" in verdicts
    assert "PASS  /healthz: Agora p99 ÷ ref p99: 0.55 (target ≤ 1.0)" in verdicts
    assert "PASS  growth: 1.05 (target ≥ 0.9)" in verdicts
    assert len(verdicts) == 2 * len(items) - 1 + 1  # /healthz has no req/s target


def test_a_whole_run_is_judged_on_every_row_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # The reads of a whole run are told from the rows of `--only` by `/ logged in`,
    # which only a whole run measures; each target is judged once.
    bench = perf_bench(monkeypatch)
    items = bench.scenarios(some_targets(bench)) + bench.write_scenarios(postgres=True)
    items.append(bench.Scenario("mixed", "/", "/", mixed=True))
    floors = {
        name: bench.Scenario(name, "/", "/", in_rounds=True) for name in ("like", "crowded", "post")
    }
    for s in [*items, *floors.values()]:
        runs = 3 if s.in_rounds else 1
        s.agora = [bench.WrkResult(2000.0, 1.0, 10.0, 1, 0, "") for _ in range(runs)]
        s.ref = [bench.WrkResult(1000.0, 1.0, 20.0, 1, 0, "") for _ in range(runs)]
    extras = {
        "page_floor": {},
        "lines": [],
        "mixed_errors": 0,
        "growth": 1.0,
        "growth_label": "growth",
        "login_ratio": 1.0,
        "agora_rss": [90.0],
        "like_floor": floors["like"],
        "post_floor": floors["post"],
    }
    verdicts = bench.targets_met(items, extras)
    labels = [v.split("  ", 1)[1].rsplit(": ", 1)[0] for v in verdicts]
    assert len(labels) == len(set(labels))
    for name, _, _ in bench.RANDOM_READS:
        assert f"{name} ÷ ref" in labels and f"{name}: Agora p99 ÷ ref p99" in labels
    assert "/ anonymous ÷ ref" in labels and "/healthz: Agora p99 ÷ ref p99" in labels
    assert "growth" in labels and "mixed ÷ ref" in labels
