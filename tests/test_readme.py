"""Text that stays true: the README says what the command line takes and how to
run the tests, the benchmark runs live in one document it links, and the code
cites no document outside the repository."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from webapp.__main__ import parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
RESULTS = ROOT / "tests" / "perf" / "RESULTS.md"


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end]


def options() -> dict[str, list[str]]:
    """Each command and the options it takes, from the parser itself."""
    commands = next(
        action
        for action in parser()._actions
        if isinstance(action, argparse._SubParsersAction)  # argparse keeps no public list
    )
    return {
        name: [flag for action in command._actions for flag in action.option_strings]
        for name, command in commands.choices.items()
    }


@pytest.mark.parametrize("command", ["serve", "migrate", "seed"])
def test_the_command_line_table_names_every_option(command: str) -> None:
    table = section("The command line")
    row = next(
        line for line in table.splitlines() if line.startswith(f"| `python -m webapp {command}")
    )
    for flag in options()[command]:
        if flag not in ("-h", "--help"):
            assert flag in row, f"{command} {flag}"


def test_the_readme_says_how_long_the_tests_take_and_how_to_run_a_part() -> None:
    start = section("Getting started")
    assert "about 5 minutes" in start
    assert 'python -m pytest -m "not browser"' in start
    assert "-k " in start and " -x" in start


def test_the_benchmark_runs_are_in_one_document_the_readme_links() -> None:
    assert RESULTS.exists()
    assert "tests/perf/RESULTS.md" in section("Speed")
    results = RESULTS.read_text()
    # The tables of the runs are there, not in the README.
    for table_head in ("| scenario | Agora req/s |", "| run | next request", "| | PostgreSQL |"):
        assert table_head in results
        assert table_head not in README


# What would cite a document the repository does not hold: the product's
# specification, or a numbered issue of the tracker.
CITATION = re.compile(r"\bSPEC\b|\b[Ii]ssue \d+")


def cited(path: Path) -> list[str]:
    text = path.read_text(errors="replace")
    return [
        f"{path.relative_to(ROOT)}: {line.strip()}"
        for line in text.splitlines()
        if CITATION.search(line)
    ]


def test_the_code_cites_no_document_outside_the_repository() -> None:
    files = [
        *(ROOT / "webapp").rglob("*.py"),
        *(ROOT / "templates").rglob("*.html"),
        *(ROOT / "static").glob("*.js"),
        *(ROOT / "static").glob("*.css"),
        *(ROOT / "tests").rglob("*.py"),
        *(ROOT / "tests" / "perf").glob("*.md"),
        ROOT / "README.md",
    ]
    found = [line for path in files if path != Path(__file__) for line in cited(path)]
    assert found == []
